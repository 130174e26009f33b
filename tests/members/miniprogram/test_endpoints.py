"""The member's endpoints: exact answers, refusals, idempotency, and nothing changed by a refusal."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from hub.models import Merchant
from members.models import Consent, Member, VendorMemberLink
from members.selectors import find_member
from points import selectors as points_selectors
from points.models import LedgerTransaction, Operation, Program
from rights.models import Right, Voucher
from tests.members.miniprogram.tills import Till


def postal(mobile: str) -> int:
    return points_selectors.balances(find_member(mobile=mobile), Program.objects.get(code="POSTAL"))["available"]


def test_balances_and_history_after_a_till_earn(api):
    user = api().member("a", "13800000001")
    start = user.get("me/balances").data["items"]
    assert [b["program"]["code"] for b in start] == ["POSTAL"]
    assert start[0]["available"] == 100_000 and start[0]["value_fen"] == 100_000
    assert start[0]["expiring"] and start[0]["expiring"][0]["points"] == 100_000
    code = user.post("me/member-code").data
    assert code["code"].startswith("96") and len(code["code"]) == 18
    assert code["qr_png_base64"].startswith("iVBORw0KGgo")  # PNG
    Till().identify_and_earn(code["code"], 12850)
    status = user.get(f"me/member-code/{code['code_id']}").data
    assert status["used"] is True and status["merchant_name"] == Merchant.objects.get(code="SBX_HUB").name
    history = user.get("me/transactions").data
    assert history["items"][0]["type"] == "earn" and history["items"][0]["points"] == 128
    assert history["items"][0]["balance_after"] == 100_128
    assert history["items"][0]["store_name"] == "沙箱测试门店"
    assert history["items"][1]["type"] == "grant" and history["items"][1]["points"] == 100_000
    assert history["next_cursor"] is None


def test_history_pages_by_keyset_and_filters_by_type(api):
    user = api().member("b", "13800000002")
    till = Till()
    for amount in (1000, 2000, 3000, 4000):
        till.identify_and_earn(user.post("me/member-code").data["code"], amount)
    seen, cursor = [], None
    while True:
        page = user.get("me/transactions", limit=2, **({"cursor": cursor} if cursor else {})).data
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i["points"] for i in seen] == [40, 30, 20, 10, 100_000]
    assert [i["balance_after"] for i in seen] == [100_100, 100_060, 100_030, 100_010, 100_000]
    assert len({i["id"] for i in seen}) == 5
    only = user.get("me/transactions", type="grant").data["items"]
    assert [i["type"] for i in only] == ["grant"]
    for bad in ({"limit": 51}, {"limit": "x"}, {"cursor": "!!"}, {"type": "steal"}, {"from": "yesterday"}):
        answer = user.get("me/transactions", **bad)
        assert (answer.status, answer.code) == (400, "PARAM_ERROR"), bad


def test_memberships_link_with_proof_and_unlink_keeping_history(api):
    user = api().member("c", "13800000003")
    bad = user.post("me/memberships", {"merchant_code": "SBX_KM", "card_no": "13800000009", "proof": "mobile_match",
                                       "request_no": "L0"})
    assert (bad.status, bad.code) == (422, "LINK_PROOF_INVALID")
    link = user.post("me/memberships", {"merchant_code": "SBX_KM", "card_no": "13800000003", "proof": "mobile_match",
                                        "request_no": "L1"})
    assert link.status == 200, link
    assert link.data["card_no_masked"] != "13800000003" and link.data["verified_by"] == "mobile_match"
    assert user.get("me/memberships").data["items"] == [link.data]
    replay = user.post("me/memberships", {"merchant_code": "SBX_KM", "card_no": "13800000003",
                                          "proof": "mobile_match", "request_no": "L1"})
    assert replay.data == link.data
    reused = user.post("me/memberships", {"merchant_code": "SBX_ZBW", "card_no": "13800000003",
                                          "proof": "mobile_match", "request_no": "L1"})
    assert reused.code == "IDEMPOTENCY_KEY_REUSED"
    assert Consent.objects.filter(member__mobile_index__isnull=False, merchant__code="SBX_KM",
                                  version="v1").exists() or Consent.objects.filter(merchant__code="SBX_KM").exists()
    assert user.delete(f"me/memberships/{link.data['id']}").status == 200
    assert user.get("me/memberships").data["items"] == []
    assert user.delete(f"me/memberships/{link.data['id']}").code == "NOT_FOUND"
    row = VendorMemberLink.objects.get(pk=link.data["id"])
    assert row.unlinked_at is not None and row.unlink_reason == "会员在小程序解绑"


def test_a_card_linked_to_another_member_is_a_link_conflict(api):
    member = find_member(mobile="13800000004")
    other = find_member(mobile="13800000005")
    from members.services import link_member
    link_member(member=other, merchant=Merchant.objects.get(code="SBX_ZBW"), external_id="13800000004",
                method="operator")
    user = api().member("d", "13800000004")
    answer = user.post("me/memberships", {"merchant_code": "SBX_ZBW", "card_no": "13800000004",
                                          "proof": "mobile_match", "request_no": "L9"})
    assert (answer.status, answer.code) == (409, "MEMBER_LINK_CONFLICT")
    assert not VendorMemberLink.objects.filter(member=member, merchant__code="SBX_ZBW").exists()


def test_consents_with_version(api):
    user = api().member("e", "13800000001")
    given = user.post("me/consents", {"merchant_code": "DEMO_FOOD", "scope": "marketing", "granted": True,
                                      "version": "v1", "request_no": "C1"})
    assert given.status == 200
    row = [c for c in given.data["items"] if c["scope"] == "marketing"]
    assert row and row[0]["merchant_code"] == "DEMO_FOOD" and row[0]["version"] == "v1"
    assert user.post("me/consents", {"merchant_code": "DEMO_FOOD", "scope": "marketing", "granted": True,
                                     "version": "v0", "request_no": "C2"}).code == "PARAM_ERROR"
    withdrawn = user.post("me/consents", {"merchant_code": "DEMO_FOOD", "scope": "recognition", "granted": False,
                                          "version": "v1", "request_no": "C3"})
    assert withdrawn.status == 200
    member = find_member(mobile="13800000001")
    assert not VendorMemberLink.objects.filter(member=member, merchant__code="DEMO_FOOD", unlinked_at__isnull=True).exists()
    assert user.get("me/consents").data["items"] == withdrawn.data["items"]


def test_rights_catalogue_claim_and_display(api):
    user = api().member("f", "13800000003")  # 金卡
    rights = user.get("rights").data["items"]
    by_code = {r["code"]: r for r in rights}
    assert "SBX_R95" not in by_code  # a tier discount is not claimed (it shows in me.tier_benefits)
    assert by_code["SBX_M50_10"]["eligible"] is True and by_code["SBX_M50_10"]["stock"] == "plenty"
    assert by_code["SBX_TICKET"]["member_left"] == 4  # five per member, the demo gave one
    assert "会员九五折" in str(user.get("me").data["tier_benefits"])
    right_id = by_code["SBX_M50_10"]["id"]
    detail = user.get(f"rights/{right_id}").data
    assert detail["rules"] and detail["stacking"] and "邮政" in detail["funding"] and detail["stores"]
    assert user.get("rights/999999999").code == "NOT_FOUND"
    claimed = user.post(f"rights/{right_id}/claim", {"request_no": "R1"})
    assert claimed.status == 200 and claimed.data["voucher"]["state"] == "available"
    assert user.post(f"rights/{right_id}/claim", {"request_no": "R1"}).data == claimed.data
    voucher_id = claimed.data["voucher"]["id"]
    listed = user.get("me/vouchers", state="available").data["items"]
    assert voucher_id in [v["id"] for v in listed]
    shown = user.post(f"me/vouchers/{voucher_id}/display").data
    assert shown["code"].startswith("97") and len(shown["code"]) == 18 and shown["qr_png_base64"]
    assert "offline_ticket" not in shown
    Till().write_off(shown["code"])
    used = user.get("me/vouchers", state="used").data["items"]
    assert [v["id"] for v in used] == [voucher_id] and used[0]["used_place"].startswith(
        Merchant.objects.get(code="SBX_HUB").name)
    again = user.post(f"me/vouchers/{voucher_id}/display")
    assert (again.status, again.code) == (422, "VOUCHER_USED")


def test_claim_refusals_are_first_answers(api):
    user = api().member("g", "13800000001")
    ticket = Right.objects.get(code="SBX_TICKET")
    for n in range(4):
        assert user.post(f"rights/{ticket.pk}/claim", {"request_no": f"T{n}"}).status == 200
    refused = user.post(f"rights/{ticket.pk}/claim", {"request_no": "T9"})
    assert (refused.status, refused.code) == (422, "QUOTA_EXHAUSTED")
    assert user.post(f"rights/{ticket.pk}/claim", {"request_no": "T9"}).code == "QUOTA_EXHAUSTED"
    assert Voucher.objects.filter(right=ticket, member=find_member(mobile="13800000001")).count() == 5
    item = {r["code"]: r for r in user.get("rights").data["items"]}["SBX_TICKET"]
    assert item["member_left"] == 0 and item["eligible"] is False and item["ineligible_reason"]


def test_offline_ticket_asked_where_none_can_be_issued_is_refused(api):
    user = api().member("h", "13800000002")
    ticket = Voucher.objects.filter(member=find_member(mobile="13800000002"), right__code="SBX_TICKET").first()
    answer = user.post(f"me/vouchers/{ticket.pk}/display", {"offline_ticket": True})
    try:
        import rights.tickets  # noqa: F401
    except ImportError:
        assert (answer.status, answer.code) == (422, "RIGHT_NOT_APPLICABLE")
    else:
        assert answer.status == 200 and answer.data["offline_ticket"].startswith("LBQ2.")


def test_conversion_quote_then_convert(api):
    user = api().member("i", "13800000005")
    quote = user.post("me/conversions/quote", {"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 1000})
    assert quote.status == 200, quote
    assert quote.data["receive_points"] == 1000 and quote.data["rate"]["from_points"] == 100
    done = user.post("me/conversions", {"quote_id": quote.data["quote_id"], "request_no": "CV1"})
    assert done.status == 200, done
    assert done.data["points"] == 1000 and done.data["points_gained"] == 1000
    assert {b["program"]["code"]: b["available"] for b in done.data["balances"]} == {"POSTAL": 99_000, "GWPOINTS": 1000}
    assert user.post("me/conversions", {"quote_id": quote.data["quote_id"], "request_no": "CV1"}).data == done.data
    assert user.post("me/conversions", {"quote_id": quote.data["quote_id"], "request_no": "CV2"}).code == "QUOTE_EXPIRED"
    assert Operation.objects.filter(kind="convert", member=find_member(mobile="13800000005")).count() == 1
    types = [i["type"] for i in user.get("me/transactions").data["items"][:2]]
    assert types == ["convert", "convert"]
    for bad, code in (({"points": 150}, "RIGHT_NOT_APPLICABLE"), ({"points": 10**8}, "POINTS_INSUFFICIENT"),
                      ({"to_program": "NOPE"}, "NOT_FOUND"), ({"points": 1.5}, "PARAM_ERROR")):
        body = {"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 1000, **bad}
        assert user.post("me/conversions/quote", body).code == code, bad
    assert postal("13800000005") == 99_000


def test_an_expired_quote_converts_nothing(api):
    user = api().member("j", "13800000004")
    quote = user.post("me/conversions/quote", {"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 500})
    cache.delete(f"mp-quote:{quote.data['quote_id']}")
    answer = user.post("me/conversions", {"quote_id": quote.data["quote_id"], "request_no": "CV1"})
    assert (answer.status, answer.code) == (422, "QUOTE_EXPIRED")
    assert postal("13800000004") == 100_000


def test_export_holds_everything_unmasked_for_the_member_only(api):
    user = api().member("k", "13800000001")
    data = user.get("me/export").data
    assert data["member"]["mobile"] == "13800000001" and data["member"]["id_number"] == "360102198503150024"
    assert data["member"]["name"] == "张明"
    assert data["identities"][0]["channel"] == "wechat" and "o-test-k" not in str(data)
    assert data["sessions"] and user.token not in str(data)
    assert data["transactions"] and data["vouchers"] and data["memberships"][0]["card_no"]


def test_close_account_keeps_the_ledger(api):
    user = api().member("l", "13800000001")
    member = find_member(mobile="13800000001")
    txns = LedgerTransaction.objects.filter(postings__account__member=member).distinct().count()
    assert user.post("me/close", {"request_no": "X1", "confirm": False}).code == "PARAM_ERROR"
    assert user.post("me/close", {"request_no": "X1", "confirm": True}).status == 200
    member.refresh_from_db()
    assert member.status == Member.Status.CLOSED
    assert not VendorMemberLink.objects.filter(member=member, unlinked_at__isnull=True).exists()
    assert not Consent.objects.filter(member=member, withdrawn_at__isnull=True).exists()
    assert VendorMemberLink.objects.filter(member=member).exists() and Consent.objects.filter(member=member).exists()
    assert LedgerTransaction.objects.filter(postings__account__member=member).distinct().count() == txns


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "me/consents", {"scope": "x"}), ("POST", "me/memberships", []), ("POST", "rights/1/claim", {}),
    ("POST", "me/conversions", {"quote_id": 5, "request_no": "a"}), ("POST", "me/close", "not json"),
    ("GET", "nowhere", None), ("POST", "me/member-code/1", {}), ("PUT", "me", {}),
])
def test_bad_requests_get_the_envelope_never_html(api, method, path, body):
    user = api().member("m", "13800000002")
    raw = b"{not json" if body == "not json" else None
    answer = user.call(method, path, body, raw_body=raw)
    assert 400 <= answer.status < 500, answer
    assert answer.body["code"] in ("PARAM_ERROR", "NOT_FOUND", "RIGHT_NOT_APPLICABLE") and answer.body["message"]


def test_control_characters_are_a_param_error_not_a_database_error(api):
    """Found by schemathesis: a NUL in a text field reached PostgreSQL."""
    user = api().member("n", "13800000003")
    answer = user.post("me/memberships", {"merchant_code": "SBX\u0000KM", "card_no": "13800000003",
                                          "proof": "mobile_match", "request_no": "L1"})
    assert (answer.status, answer.code) == (400, "PARAM_ERROR")
    assert user.post("auth/phone", {"phone_code": "phone:1380000000\u0000", "consent_version": "v1"}).code == "PARAM_ERROR"
