"""Regression tests for the till operations through the gateway (native dialect, over HTTP):
the request number is looked up first, replays answer the stored first answer, business time is
bounded, the fingerprint covers what changes the result, and who may redeem depends on how this
call named the member (issue 8 findings 7-10, 12; issue 9 finding 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.models import Merchant
from members import services as member_services
from members.codes import MemberCode, issue_member_code
from members.models import Member
from members.selectors import find_member
from points import selectors
from points.common import clear_caches
from points.models import Agreement, Operation, Program
from tests.hub.gateway.conftest import unique


@pytest.fixture
def till(sandbox):
    return sandbox["native"]


def agreement(till) -> Agreement:
    return Agreement.objects.get(merchant__code=till.merchant_code, is_default=True)


def change_agreement(till, **terms) -> None:
    Agreement.objects.filter(pk=agreement(till).pk).update(**terms)
    clear_caches()


def available(mobile: str) -> int:
    return selectors.balances(find_member(mobile=mobile), Program.objects.get(code="POSTAL"))["available"]


def fresh_code(mobile: str) -> str:
    return issue_member_code(member=find_member(mobile=mobile))[0]


def again(till, op: str, **fields):
    """The same request sent a second time (a new nonce and timestamp, the same content)."""
    return till.send(op, **fields)


def code_of(read) -> str:
    return read.code.rsplit(".", 1)[-1]


# ---- finding 7: a replay answers first, whatever the rules say today -----------------------------

def test_replayed_earn_answers_first_after_the_agreement_stopped_awarding(till):
    fields = {"request_no": unique("E"), "member": "13800000001", "amount_fen": 1000}
    first = till.send("earn", **fields)
    assert first.ok, first
    change_agreement(till, can_award=False)
    retry = again(till, "earn", **fields)
    assert retry.ok and retry.data == first.data, retry
    assert not till.send("earn", request_no=unique("E"), member="13800000001", amount_fen=1000).ok


def test_replayed_redeem_answers_first_after_the_phone_exception_and_point_value_changed(till):
    change_agreement(till, phone_may_redeem=True)
    fields = {"request_no": unique("P"), "member": "13800000002", "points": 100, "amount_fen": 100}
    first = till.send("redeem", **fields)
    assert first.ok, first
    change_agreement(till, phone_may_redeem=False, can_accept=False)
    Program.objects.filter(code="POSTAL").update(value_fen=50)  # the stated amount no longer matches
    clear_caches()
    retry = again(till, "redeem", **fields)
    assert retry.ok and retry.data == first.data, retry


# ---- finding 8: an original retried after its reverse is ORDER_REVERSED --------------------------

def test_retry_of_a_reversed_earn_answers_order_reversed(till):
    fields = {"request_no": unique("E"), "member": "13800000001", "amount_fen": 5000}
    start = available("13800000001")
    assert till.send("earn", **fields).ok
    assert till.send("reverse", original_request_no=fields["request_no"]).ok
    retry = again(till, "earn", **fields)
    assert not retry.ok and code_of(retry) == "ORDER_REVERSED", retry
    assert available("13800000001") == start


# ---- finding 9: confirm / unfreeze replays are the stored first answer ---------------------------

def test_replayed_confirm_answers_the_first_confirmation(till):
    hold = unique("F")
    assert till.send("freeze", request_no=hold, member=fresh_code("13800000003"), points=300).ok
    first = till.send("confirm", original_request_no=hold)
    assert first.ok, first
    assert till.send("earn", request_no=unique("E"), member="13800000003", amount_fen=10000).ok  # balance moves
    retry = again(till, "confirm", original_request_no=hold)
    assert retry.ok and retry.data == first.data, (first, retry)


def test_replayed_unfreeze_answers_the_first_release(till):
    hold = unique("F")
    assert till.send("freeze", request_no=hold, member=fresh_code("13800000003"), points=300).ok
    first = till.send("unfreeze", original_request_no=hold)
    assert first.ok, first
    assert till.send("earn", request_no=unique("E"), member="13800000003", amount_fen=10000).ok
    retry = again(till, "unfreeze", original_request_no=hold)
    assert retry.ok and retry.data == first.data, (first, retry)


# ---- finding 10: business time is bounded; campaigns run by the hub's receive time ---------------

@pytest.mark.parametrize("offset", [timedelta(days=365), timedelta(minutes=10), -timedelta(days=8)])
def test_business_time_outside_the_bounds_is_refused(till, offset):
    before = Operation.objects.count()
    read = till.send("earn", request_no=unique("E"), member="13800000001", amount_fen=1000,
                     business_time=timezone.now() + offset)
    assert not read.ok and code_of(read) == "PARAM_ERROR", read
    assert Operation.objects.count() == before


def test_business_time_before_year_one_in_utc_is_param_error_not_500(till, monkeypatch):
    from hub.vendors.native import endpoints

    monkeypatch.setattr(endpoints, "rfc3339", lambda moment: "0001-01-01T00:00:00+14:00")
    read = till.send("earn", request_no=unique("E"), member="13800000001", amount_fen=1000,
                     business_time=timezone.now())
    assert not read.ok and code_of(read) == "PARAM_ERROR", read


def test_a_sale_backdated_into_an_ended_campaign_earns_as_today(till):
    now = timezone.now()
    agreement(till).campaigns.create(name="五倍", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1),
                                     multiplier_pct=500)
    clear_caches()
    read = till.send("earn", request_no=unique("E"), member="13800000001", amount_fen=10000,
                     business_time=now - timedelta(days=1, hours=12))
    assert read.ok and read.data["points_earned"] == 100, read  # 1 point per yuan, not 5


# ---- finding 12: the fingerprint covers the sale amount and the business time --------------------

def test_same_number_with_another_sale_amount_is_idempotency_key_reused(till):
    number = unique("P")
    code = fresh_code("13800000004")
    first = till.send("redeem", request_no=number, member=code, points=100, extra={"sale_amount_fen": 100000})
    assert first.ok, first
    other = till.send("redeem", request_no=number, member=code, points=100, extra={"sale_amount_fen": 100})
    assert not other.ok and code_of(other) == "IDEMPOTENCY_KEY_REUSED", other


def test_same_number_with_another_business_time_is_idempotency_key_reused(till):
    number, when = unique("E"), timezone.now().replace(microsecond=0)
    assert till.send("earn", request_no=number, member="13800000001", amount_fen=1000,
                     business_time=when - timedelta(hours=1)).ok
    other = till.send("earn", request_no=number, member="13800000001", amount_fen=1000,
                      business_time=when - timedelta(hours=2))
    assert not other.ok and code_of(other) == "IDEMPOTENCY_KEY_REUSED", other


# ---- suspected: a refund of a tombstoned original ----------------------------------------------

def test_refund_naming_a_tombstoned_original_is_order_reversed(till):
    gone = unique("GONE")
    assert till.send("reverse", original_request_no=gone).data["action"] == "tombstone"
    read = till.send("refund", request_no=unique("R"), original_request_no=gone, amount_fen=100)
    assert not read.ok and code_of(read) == "ORDER_REVERSED", read


# ---- who may redeem: how this call named the member --------------------------------------------

def test_a_ref_from_a_mobile_identify_cannot_redeem_after_the_member_showed_a_code(till):
    start = available("13800000005")
    shown = till.send("identify", member=fresh_code("13800000005"))  # the member at the till
    assert shown.ok, shown
    by_phone = till.send("identify", member="13800000005")  # a cashier who knows the number
    assert by_phone.ok, by_phone
    refused = till.send("redeem", request_no=unique("P"), member=by_phone.data["member_ref"], points=100)
    assert not refused.ok and code_of(refused) == "NO_AUTH", refused
    assert available("13800000005") == start
    paid = till.send("redeem", request_no=unique("P"), member=shown.data["member_ref"], points=100)
    assert paid.ok, paid  # the ref the code identify returned is strong at this till


# ---- issue 9 finding 1: mobile lookups need permission and consent; misses are guesses ----------

def test_mobile_lookup_needs_the_agreements_permission(till):
    change_agreement(till, allow_mobile_lookup=False)
    read = till.send("identify", member="13800000001")
    assert not read.ok and code_of(read) == "NO_AUTH", read
    earn = till.send("earn", request_no=unique("E"), member="13800000001", amount_fen=1000)
    assert not earn.ok and code_of(earn) == "NO_AUTH", earn


def test_mobile_lookup_needs_the_members_consent_for_this_merchant(till):
    member, merchant = find_member(mobile="13800000002"), Merchant.objects.get(code=till.merchant_code)
    member_services.grant_consent(member=member, merchant=merchant, source="counter")
    member_services.withdraw_consent(member=member, merchant=merchant)
    read = till.send("identify", member="13800000002")
    assert not read.ok and code_of(read) == "MEMBER_NOT_FOUND", read


def test_mobile_misses_count_as_guesses(till, settings):
    settings.GATEWAY_CODE_FAILURES_PER_10MIN = 3
    for mobile in ("13911110001", "13911110002", "13911110003"):
        read = till.send("identify", member=mobile)
        assert not read.ok and code_of(read) == "MEMBER_NOT_FOUND", read
    read = till.send("identify", member="13800000001")
    assert not read.ok and code_of(read) == "RATE_LIMITED", read


# ---- issue 15 finding 22: a frozen member's code is not used up ---------------------------------

def test_a_code_of_a_member_frozen_since_is_refused_and_not_used_up(till):
    member = find_member(mobile="13800000004")
    code, _ = issue_member_code(member=member)
    member_services.update_member(member=member, status=Member.Status.FROZEN)
    read = till.send("identify", member=code)
    assert not read.ok and code_of(read) == "MEMBER_NOT_FOUND", read
    assert MemberCode.objects.get(member=member, used_at__isnull=True)


# ---- the fingerprint is a keyed HMAC over the resolved member, not the credential as sent --------

def test_stored_fingerprint_is_keyed_and_cannot_be_brute_forced_to_the_mobile(till, settings):
    import hashlib
    import json

    number = unique("E")
    assert till.send("earn", request_no=number, member="13800000001", amount_fen=1000).ok
    stored = Operation.objects.get(request_no=number).fingerprint
    assert "13800000001" not in stored

    def unkeyed(**fields) -> str:  # what the hub stored before: SHA-256 of the request's JSON
        body = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    old_form = unkeyed(kind="earn", member="13800000001", amount_fen=1000, points=None, original="",
                       store=till.store, terminal=till.terminal)
    assert stored != old_form
    # guessing the content is useless without the key: another key, another fingerprint
    settings.FINGERPRINT_KEY = "another-fingerprint-key-for-this-test-0001"
    other = unique("E")
    assert till.send("earn", request_no=other, member="13800000001", amount_fen=1000).ok
    assert Operation.objects.get(request_no=other).fingerprint != stored


def test_replays_cannot_test_mobiles_against_a_known_request_number(till, settings):
    settings.GATEWAY_CODE_FAILURES_PER_10MIN = 3
    number = unique("E")
    assert till.send("earn", request_no=number, member=fresh_code("13800000001"), amount_fen=1000).ok
    for guess in ("13911110001", "13911110002", "13911110003"):
        read = till.send("earn", request_no=number, member=guess, amount_fen=1000)
        assert code_of(read) == "IDEMPOTENCY_KEY_REUSED", read
    read = till.send("earn", request_no=number, member="13800000001", amount_fen=1000)
    assert code_of(read) == "RATE_LIMITED", read


def test_the_reverse_window_runs_from_the_hubs_receive_time(till):
    number = unique("E")
    sold = till.send("earn", request_no=number, member="13800000001", amount_fen=1000,
                     business_time=timezone.now() - timedelta(days=3))  # queued offline, uploaded now
    assert sold.ok, sold
    reversed_ = till.send("reverse", original_request_no=number)
    assert reversed_.ok and reversed_.data["action"] == "reverse", reversed_
