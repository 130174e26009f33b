"""Two members: every endpoint that names an id refuses the other member's ids as not found, and
no answer of any endpoint carries a full mobile, an ID number, an openid or a token (the export
carries only the member's own)."""

from __future__ import annotations

import re

from members.selectors import find_member
from rights.models import Right, Voucher
from tests.members.miniprogram.tills import Till

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# a resident ID number: region, birth date, sequence, check digit (member and display codes start 96/97)
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[1-6]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                       r"(?![0-9A-Za-z])")


def _everything(user, other_ids: dict) -> None:
    """Call every endpoint of the contract once (reads and writes)."""
    user.get("consent")
    user.get("me")
    user.get("me/consents")
    user.post("me/consents", {"merchant_code": "DEMO_FOOD", "scope": "marketing", "granted": True, "version": "v1",
                              "request_no": "ISO-C"})
    user.get("me/memberships")
    user.get("me/balances")
    user.get("me/transactions")
    user.get("me/transactions", limit=1)
    user.post("me/member-code")
    user.get("rights")
    user.get(f"rights/{other_ids['right']}")
    user.get("me/vouchers")
    user.post("me/conversions/quote", {"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 100})


def test_two_members_see_only_their_own(api):
    alice = api().member("alice", "13800000001")
    bob = api().member("bob", "13800000002")
    # what bob owns: a link, a member code, a voucher, a quote, a transaction
    link = bob.post("me/memberships", {"merchant_code": "SBX_KM", "card_no": "13800000002", "proof": "mobile_match",
                                       "request_no": "L1"}).data
    code = bob.post("me/member-code").data
    Till().identify_and_earn(code["code"], 5000)
    voucher = Voucher.objects.filter(member=find_member(mobile="13800000002")).first()
    quote = bob.post("me/conversions/quote", {"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 100}).data
    bob_txn = bob.get("me/transactions").data["items"][0]["id"]
    right = Right.objects.get(code="SBX_M50_10")

    for method, path, body in (
        ("DELETE", f"me/memberships/{link['id']}", None),
        ("GET", f"me/member-code/{code['code_id']}", None),
        ("POST", f"me/vouchers/{voucher.pk}/display", {}),
    ):
        answer = alice.call(method, path, body)
        assert (answer.status, answer.code) == (404, "NOT_FOUND"), (path, answer)
    stolen = alice.post("me/conversions", {"quote_id": quote["quote_id"], "request_no": "Q1"})
    assert (stolen.status, stolen.code) == (422, "QUOTE_EXPIRED")
    # a cursor naming bob's transaction pages through alice's own history only
    mine = alice.get("me/transactions", cursor=bob_txn).data["items"]
    alice_all = {i["id"] for i in alice.get("me/transactions").data["items"]}
    bob_all = {i["id"] for i in bob.get("me/transactions").data["items"]}
    assert {i["id"] for i in mine} <= alice_all and not {i["id"] for i in mine} & bob_all
    assert all(v["id"] != voucher.pk for v in alice.get("me/vouchers").data["items"])
    assert link["id"] not in [m["id"] for m in alice.get("me/memberships").data["items"]]
    # bob's things are untouched
    assert bob.get("me/memberships").data["items"][0]["id"] == link["id"]
    assert bob.get(f"me/member-code/{code['code_id']}").data["used"] is True
    assert bob.post(f"me/vouchers/{voucher.pk}/display").status == 200
    assert bob.post("me/conversions", {"quote_id": quote["quote_id"], "request_no": "Q1"}).status == 200

    _everything(alice, {"right": right.pk})
    _everything(bob, {"right": right.pk})
    claimed = alice.post(f"rights/{right.pk}/claim", {"request_no": "ISO-R"}).data["voucher"]
    alice.post(f"me/vouchers/{claimed['id']}/display")
    assert bob.post(f"me/vouchers/{claimed['id']}/display").code == "NOT_FOUND"
    alice_export = alice.get("me/export")
    bob.post("auth/logout-all")

    tokens = [u.token for u in api.made if u.token]
    for user in api.made:
        for method, path, answer in user.seen:
            text = answer.raw
            if path == "me/export":
                continue
            assert not MOBILE.search(text), (method, path, text[:400])
            assert not ID_NUMBER.search(text), (method, path, text[:400])
            assert "o-test-" not in text, (method, path)
            if path != "auth/wechat/login":
                assert not any(token in text for token in tokens), (method, path)
            else:
                assert sum(token in text for token in tokens) <= 1
    export = alice_export.raw
    assert "13800000001" in export and "360102198503150024" in export
    assert "13800000002" not in export and "o-test-" not in export and not any(t in export for t in tokens)
