"""A whole member day, black box over real HTTP against a live server: fake-WeChat login → bind
phone → balances → member code → a till identifies with it and earns (the native dialect, signed,
over HTTP) → the earn is in the history and the code shows used → rights → claim → display the
voucher → the till writes it off → the voucher shows used → convert points → export → logout,
then the token is refused."""

from __future__ import annotations

from tests.members.miniprogram.tills import Till


def test_a_member_day(live_api):
    me = live_api()
    login = me.post("auth/wechat/login", {"js_code": "test:day-member"})
    assert login.status == 200 and login.data["need_phone"] is True
    me.token = login.data["token"]
    assert me.get("me").code == "MEMBER_NOT_BOUND"
    consent = me.get("consent").data
    bound = me.post("auth/phone", {"phone_code": "phone:13800000003", "consent_version": consent["version"]})
    assert bound.status == 200 and bound.data["member"]["mobile_masked"] == "138****0003"

    balances = me.get("me/balances").data["items"]
    start = {b["program"]["code"]: b["available"] for b in balances}
    assert start == {"POSTAL": 100_000}

    code = me.post("me/member-code").data
    assert me.get(f"me/member-code/{code['code_id']}").data["used"] is False
    till = Till(base_url=live_api.url)
    earned = till.identify_and_earn(code["code"], 12850)
    points = 12850 * 120 // 10000  # 1 point per 元, 金卡 earns 120 %, rounded down
    assert earned["points_earned"] == points
    history = me.get("me/transactions").data["items"]
    assert history[0]["type"] == "earn" and history[0]["points"] == points
    assert history[0]["balance_after"] == 100_000 + points
    used = me.get(f"me/member-code/{code['code_id']}").data
    assert used["used"] is True and used["used_at"] and used["merchant_name"]

    rights = {r["code"]: r for r in me.get("rights").data["items"]}
    coupon = rights["SBX_M50_10"]
    assert coupon["eligible"] is True
    assert me.get(f"rights/{coupon['id']}").data["rules"]
    claimed = me.post(f"rights/{coupon['id']}/claim", {"request_no": "DAY-CLAIM-1"})
    assert claimed.status == 200, claimed
    voucher = claimed.data["voucher"]
    shown = me.post(f"me/vouchers/{voucher['id']}/display").data
    written_off = till.write_off(shown["code"])  # the sale with the voucher earns points too
    points += written_off["points_earned"]
    mine = {v["id"]: v for v in me.get("me/vouchers", state="used").data["items"]}
    assert mine[voucher["id"]]["state"] == "used" and mine[voucher["id"]]["used_at"]

    quote = me.post("me/conversions/quote", {"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 2000})
    converted = me.post("me/conversions", {"quote_id": quote.data["quote_id"], "request_no": "DAY-CV-1"})
    assert converted.status == 200, converted
    after = {b["program"]["code"]: b["available"] for b in me.get("me/balances").data["items"]}
    assert after == {"POSTAL": 100_000 + points - 2000, "GWPOINTS": 2000}

    export = me.get("me/export")
    assert export.status == 200 and export.data["member"]["mobile"] == "13800000003"
    kinds = {t["type"] for t in export.data["transactions"]}
    assert {"earn", "grant", "convert"} <= kinds

    assert me.post("auth/logout").status == 200
    refused = me.get("me")
    assert (refused.status, refused.code) == (401, "NO_AUTH")
    assert refused.headers.get("WWW-Authenticate", "").startswith("Bearer")
