"""The contract every registered adapter must keep; a new vendor gets these tests for free (the
suite runs over the registry, the test-only toy dialect included, and asks each adapter what it
needs to know: its sandbox, its merchant field, whether it has nonces of its own).

Each hostile or broken request gets the dialect's clear error, writes nothing to the ledger and
is never a 500."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from hub.gateway import registry
from hub.models import Merchant
from members.codes import issue_member_code, ref_for
from members.selectors import find_member
from points.models import Operation, Posting
from tests.hub.gateway.conftest import FIXTURES, unique

ADAPTERS = sorted(registry.adapters())


def ledger_rows() -> tuple[int, int]:
    return Operation.objects.count(), Posting.objects.count()


def refused(till, response, code: str) -> None:
    assert response.status_code < 500, response.content
    read = till.read(response)
    assert not read.ok and read.code.endswith(code), (code, read)


def wrong_keys(till):
    if till.keys.private_key_pem:
        other = (FIXTURES / "hub_test_private.pem").read_text()
        return replace(till.keys, private_key_pem=other)
    return replace(till.keys, secrets=("not-the-secret",), secret="not-the-secret")


@pytest.fixture(params=ADAPTERS)
def till(request, sandbox):
    return sandbox[request.param]


def earn_command(till, **overrides):
    fields = {"request_no": unique("C"), "member": "13800000001", "amount_fen": 1000, **overrides}
    return till.command("earn", **fields)


def test_bad_signature(till):
    before = ledger_rows()
    _, response = till.send_raw(earn_command(till), keys=wrong_keys(till))
    refused(till, response, "SIGN_ERROR")
    assert ledger_rows() == before


def test_unknown_app_key(till):
    before = ledger_rows()
    keys = replace(till.keys, app_key="unknown_app_key")
    _, response = till.send_raw(earn_command(till), keys=keys)
    refused(till, response, "SIGN_ERROR")
    assert ledger_rows() == before


def _other_dialects_key(till, sandbox) -> str:
    other = next(t for code, t in sandbox.items() if code != till.code)
    return other.keys.app_key


def test_refusals_before_the_signature_say_nothing_of_what_exists(till, sandbox, caplog):
    """Unknown key, revoked key, another dialect's key and a bad signature: one answer."""
    from hub.credentials import revoke_credential
    from hub.models import Credential

    answers = []
    _, response = till.send_raw(earn_command(till), keys=wrong_keys(till))
    answers.append(till.read(response))
    _, response = till.send_raw(earn_command(till), keys=replace(till.keys, app_key="unknown_app_key"))
    answers.append(till.read(response))
    _, response = till.send_raw(earn_command(till), keys=replace(till.keys, app_key=_other_dialects_key(till, sandbox)))
    answers.append(till.read(response))
    revoke_credential(credential=Credential.objects.get(app_key=till.keys.app_key))
    _, response = till.send_raw(earn_command(till))
    answers.append(till.read(response))
    assert {(a.ok, a.code, a.message) for a in answers} == {(answers[0].ok, answers[0].code, answers[0].message)}
    assert answers[0].code.endswith("SIGN_ERROR")
    assert "吊销" in caplog.text or "revoked" in caplog.text.lower()  # the reason is in the log


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_outside_window(till, skew):
    before = ledger_rows()
    _, response = till.send_raw(earn_command(till), timestamp=timezone.now() + timedelta(seconds=skew))
    refused(till, response, "TIMESTAMP_EXPIRED")
    assert ledger_rows() == before


def resend(till, spec):
    return till.client.generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                               **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()})


def test_reused_nonce(till):
    command = earn_command(till)
    spec, first = till.send_raw(command, nonce="n0nce123")
    assert till.read(first).ok
    before = ledger_rows()
    again = resend(till, spec)
    if till.derives_nonce:  # no nonce of its own: the same bytes again are the request's retry
        assert till.read(again).ok and till.read(again).data == till.read(first).data
    else:
        refused(till, again, "NONCE_REUSED")
    assert ledger_rows() == before


def test_a_nonce_is_single_use_for_15_minutes_not_forever(till):
    from django.db import connection

    if till.derives_nonce:
        pytest.skip("the dialect sends no nonce")
    _, first = till.send_raw(earn_command(till), nonce="w1ndow00")
    assert till.read(first).ok
    _, soon = till.send_raw(earn_command(till), nonce="w1ndow00")
    refused(till, soon, "NONCE_REUSED")
    with connection.cursor() as cursor:  # 15 minutes later
        cursor.execute("UPDATE hub_till_nonce SET seen_at = seen_at - interval '15 minutes 1 second'")
    _, later = till.send_raw(earn_command(till), nonce="w1ndow00")
    assert till.read(later).ok, till.read(later)


def test_replays_do_not_eat_the_rate_limit(till, settings):
    settings.GATEWAY_RATE_LIMIT_PER_MINUTE = 3
    spec, first = till.send_raw(earn_command(till), nonce="r3play00")
    assert till.read(first).ok
    for _ in range(5):
        resend(till, spec)  # 5 replays of one captured request
    read = till.send("identify", member="13800000001")
    assert read.ok, read  # the merchant's tills are still served


def test_rotation_and_revocation_are_immediate(till):
    from hub.credentials import revoke_credential, rotate_credential
    from hub.models import Credential

    if not till.keys.secrets:
        pytest.skip("no shared secret to rotate")
    assert till.send("identify", member="13800000001").ok  # the credential is now cached by the worker
    credential = Credential.objects.get(app_key=till.keys.app_key)
    new_secret = rotate_credential(credential=credential, overlap=timedelta(0))
    _, old = till.send_raw(till.command("identify", member="13800000001"))
    refused(till, old, "SIGN_ERROR")
    till.keys = replace(till.keys, secrets=(new_secret,), secret=new_secret)
    assert till.send("identify", member="13800000001").ok
    revoke_credential(credential=credential)
    _, revoked = till.send_raw(till.command("identify", member="13800000001"))
    refused(till, revoked, "SIGN_ERROR")


def test_a_change_of_the_credential_row_by_hand_is_seen_on_the_next_call(till):
    """No service function told the workers (an UPDATE in psql, a restore): the row's version did."""
    from django.db import connection

    from hub.models import TillCall, TillNonce

    assert till.send("identify", member="13800000001").ok  # the credential is now cached by the worker
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hub_credential SET status = 'revoked', revoked_at = now() WHERE app_key = %s", [till.keys.app_key])
    before, nonces, calls = ledger_rows(), TillNonce.objects.count(), TillCall.objects.count()
    _, response = till.send_raw(earn_command(till))
    refused(till, response, "SIGN_ERROR")
    assert ledger_rows() == before and TillNonce.objects.count() == nonces  # the nonce not even spent
    assert TillCall.objects.count() == calls + 1  # the refusal recorded, once
    assert TillCall.objects.latest("id").code == "SIGN_ERROR"
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hub_credential SET status = 'active', revoked_at = NULL WHERE app_key = %s", [till.keys.app_key])
    assert till.send("identify", member="13800000001").ok  # and back, as promptly


def test_idempotent_replay_returns_the_first_answer(till):
    # A retry is the same sale: the same business time (some dialects default it to the send time).
    command = earn_command(till, business_time=timezone.now().replace(microsecond=0))
    _, first = till.send_raw(command)
    _, second = till.send_raw(command, timestamp=timezone.now() + timedelta(seconds=1))
    a, b = till.read(first), till.read(second)
    assert a.ok and b.ok and a.data == b.data
    assert Operation.objects.filter(request_no=command.request_no).count() == 1


def test_same_number_other_content(till):
    command = earn_command(till)
    till.send_raw(command)
    before = ledger_rows()
    _, response = till.send_raw(replace(command, amount_fen=2000), timestamp=timezone.now() + timedelta(seconds=1))
    refused(till, response, "IDEMPOTENCY_KEY_REUSED")
    assert ledger_rows() == before


def test_store_of_another_merchant(till):
    before = ledger_rows()
    other_store = "01" if till.store != "01" else "S001"
    _, response = till.send_raw(replace(earn_command(till), store_code=other_store))
    refused(till, response, "NO_AUTH")
    _, response = till.send_raw(replace(earn_command(till), terminal_code="P99"))
    refused(till, response, "NO_AUTH")
    assert ledger_rows() == before


def test_code_used_twice_is_expired(till):
    code, _ = issue_member_code(member=find_member(mobile="13800000004"))
    assert till.send("identify", member=code).ok
    second = till.send("identify", member=code)
    assert not second.ok and second.code.endswith("MEMBER_CODE_EXPIRED")
    unknown = till.send("identify", member="960000000000000000")
    assert not unknown.ok and unknown.code.endswith("MEMBER_CODE_EXPIRED")


def test_unknown_member(till):
    before = ledger_rows()
    read = till.send("earn", request_no=unique("C"), member="13911112222", amount_fen=100)
    assert not read.ok and read.code.endswith("MEMBER_NOT_FOUND")
    assert ledger_rows() == before


def test_business_refusal_mapped(till):
    before_ops = Operation.objects.count()
    code, _ = issue_member_code(member=find_member(mobile="13800000005"))
    read = till.send("redeem", request_no=unique("P"), member=code, points=10**9)
    assert not read.ok and read.code.endswith("POINTS_INSUFFICIENT"), read
    assert Operation.objects.count() == before_ops + 1  # the refusal is recorded for replays
    assert Operation.objects.latest("id").status == "refused"


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00garbage", b"{" * 10, "中文".encode("gbk") * 10])
def test_malformed_bodies(till, body):
    before = ledger_rows()
    spec = till.adapter.build_request(earn_command(till), keys=till.keys, nonce="abcd1234", timestamp=timezone.now())
    response = till.client.generic(spec.method, spec.path, data=body, content_type=spec.content_type)
    assert response.status_code < 500, response.content
    assert not till.read(response).ok
    assert ledger_rows() == before


def test_body_over_64_kib(till):
    before = ledger_rows()
    spec = till.adapter.build_request(earn_command(till), keys=till.keys, nonce="abcd1234", timestamp=timezone.now())
    response = till.client.generic(spec.method, spec.path, data=spec.body + b" " * (65 * 1024),
                                   content_type=spec.content_type)
    assert response.status_code < 500
    assert not till.read(response).ok
    assert ledger_rows() == before


@pytest.mark.parametrize("amount", [-100, 10**13])
def test_negative_or_absurd_amounts(till, amount):
    before = ledger_rows()
    try:
        spec = till.adapter.build_request(earn_command(till, amount_fen=amount), keys=till.keys, nonce="abcd1234",
                                          timestamp=timezone.now())
    except Exception:  # noqa: BLE001 - the dialect cannot even express it: nothing to send
        return
    response = till.client.generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                   **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()})
    refused(till, response, "PARAM_ERROR")
    assert ledger_rows() == before


def test_every_call_is_recorded(till):
    from hub.models import TillCall

    before = TillCall.objects.count()
    till.send("identify", member="13800000001")
    call = TillCall.objects.latest("id")
    assert TillCall.objects.count() == before + 1 and call.op == "identify" and call.code == "SUCCESS"


def test_sandbox_credentials_refused_without_debug(till, settings):
    settings.DEBUG = False
    before = ledger_rows()
    _, response = till.send_raw(earn_command(till))
    refused(till, response, "SIGN_ERROR")
    assert ledger_rows() == before


def test_fixtures_are_the_projects_own():
    assert Path(FIXTURES).is_dir() and "shared" not in str(FIXTURES)


def test_guessing_member_codes_is_throttled_per_terminal(till, settings):
    settings.GATEWAY_CODE_FAILURES_PER_10MIN = 3
    for guess in ("960000000000000001", "960000000000000002", "960000000000000003"):
        read = till.send("identify", member=guess)
        assert not read.ok and read.code.endswith("MEMBER_CODE_EXPIRED"), read
    read = till.send("identify", member="960000000000000004")
    assert not read.ok and read.code.endswith("RATE_LIMITED"), read
    # a mobile is a guess too (misses count alike), so it is throttled with the codes ...
    assert till.send("identify", member="13800000001").code.endswith("RATE_LIMITED")
    # ... while naming a member the till already knows still works
    ref = ref_for(member=find_member(mobile="13800000001"), merchant=Merchant.objects.get(code=till.merchant_code))
    assert till.send("identify", member=ref).ok


def test_merchant_code_must_match_the_credential(till, sandbox):
    if not till.adapter.merchant_field:
        pytest.skip("the dialect does not name the merchant")
    other = next(t.merchant_code for code, t in sandbox.items() if code != till.code)
    before = ledger_rows()
    command = till.command("earn", request_no=unique("C"), member="13800000001", amount_fen=1000,
                           extra={"merchant_code": other})
    _, response = till.send_raw(command)
    refused(till, response, "NO_AUTH")
    assert ledger_rows() == before


def test_retry_with_a_used_member_code_replays_the_first_answer(till):
    code, _ = issue_member_code(member=find_member(mobile="13800000003"))
    command = earn_command(till, member=code, business_time=timezone.now().replace(microsecond=0))
    _, first = till.send_raw(command)
    _, again = till.send_raw(command, timestamp=timezone.now() + timedelta(seconds=1))
    a, b = till.read(first), till.read(again)
    assert a.ok and b.ok and a.data == b.data, (a, b)
    assert Operation.objects.filter(request_no=command.request_no).count() == 1


# ---- contract v1.1: the rights codes in every dialect's envelope ------------------------------

def _v11_rows():
    from tests.hub.gateway import v11

    return v11.snapshot()


def test_v11_codes_in_the_dialects_envelope(till):
    """VOUCHER_NOT_FOUND, VOUCHER_USED, VOUCHER_EXPIRED, RIGHT_NOT_APPLICABLE, QUOTA_EXHAUSTED and
    a malformed rights_used: each a clear refusal in the dialect's own envelope, never a 500,
    nothing written."""
    from tests.hub.gateway import v11

    member_ref = till.send("identify", member=v11.GOLD).data[till.member_field]
    used = v11.fresh_voucher()
    assert till.send("earn", request_no=unique("C"), member=member_ref, amount_fen=9000,
                     rights_used=v11.uses((v11.ref(used, till), 1000))).ok
    old = v11.fresh_voucher(now=timezone.now() - timedelta(days=40))
    tight = v11.make_right(till, budget_fen=100, rate_bp=9500)
    cases = [
        ("VOUCHER_NOT_FOUND", ((f"VR{'A' * 26}", 1000),), 9000),
        ("VOUCHER_USED", ((v11.ref(used, till), 1000),), 9000),
        ("VOUCHER_EXPIRED", ((v11.ref(old, till), 1000),), 9000),
        ("RIGHT_NOT_APPLICABLE", (("SBX_R95", 501),), 9499),
        ("QUOTA_EXHAUSTED", ((tight.code, 500),), 9500),
    ]
    for code, pairs, amount in cases:
        before = _v11_rows()
        _, response = till.send_raw(earn_command(till, member=member_ref, amount_fen=amount,
                                                 rights_used=v11.uses(*pairs)))
        refused(till, response, code)
        assert _v11_rows() == before, code
    before = _v11_rows()
    refused(till, till.send_raw(till.command("identify", member="970000000000000001"))[1], "VOUCHER_NOT_FOUND")
    assert _v11_rows() == before


def test_v11_malformed_rights_used_is_a_param_error(till):
    from hub.gateway.canonical import RightUse
    from tests.hub.gateway import v11

    member_ref = till.send("identify", member=v11.GOLD).data[till.member_field]
    before = _v11_rows()
    for bad in ((RightUse("SBX_R95", 10**13),), tuple(RightUse(f"C{n}", 1) for n in range(9)),
                (RightUse("SBX_R95", 1), RightUse("SBX_R95", 1))):
        try:
            command = earn_command(till, member=member_ref, rights_used=bad)
            _, response = till.send_raw(command)
        except Exception:  # noqa: BLE001 - the dialect cannot even express it: nothing to send
            continue
        refused(till, response, "PARAM_ERROR")
    assert _v11_rows() == before
