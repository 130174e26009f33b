def test_sign_in_and_browse(api):
    user = api().member("alice", "13800000001")
    for path in ("me", "me/balances", "me/transactions", "rights", "me/vouchers", "me/consents", "me/memberships"):
        answer = user.get(path)
        assert answer.status == 200, (path, answer)
    code = user.post("me/member-code")
    assert code.status == 200, code
    status = user.get(f"me/member-code/{code.data['code_id']}")
    assert status.status == 200 and status.data["used"] is False, status
