"""Regression tests of the gateway security review (issue 9), finding by finding."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from django.utils import timezone

from hub.errors import ParamError, RateLimited
from hub.gateway.base import parse_int, yuan_to_fen
from hub.gateway.canonical import BATCH_OP
from hub.models import Merchant, Terminal
from members.codes import issue_member_code, ref_for
from members.selectors import find_member
from points.models import Operation, Posting
from tests.hub.gateway.conftest import test_database_url, unique

ROOT = Path(__file__).resolve().parents[3]


def ledger_rows() -> tuple[int, int]:
    return Operation.objects.count(), Posting.objects.count()


def post(till, spec, body=None, path=None):
    return till.client.generic(spec.method, path or spec.path, data=spec.body if body is None else body,
                               content_type=spec.content_type,
                               **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()})


# ---- 1. batch items count against the rate limit; weak credentials in a batch are capped ----------

def _batch(till, items):
    return till.command(BATCH_OP, extra={"items": items})


def test_batch_items_count_against_the_rate_limit(sandbox, settings):
    settings.GATEWAY_RATE_LIMIT_PER_MINUTE = 5
    till = sandbox["native"]
    ref = ref_for(member=find_member(mobile="13800000002"), merchant=Merchant.objects.get(code=till.merchant_code))
    items = [till.command("earn", request_no=unique("B"), member=ref, amount_fen=100,
                          business_time=timezone.now()) for _ in range(6)]
    before = ledger_rows()
    _, response = till.send_raw(_batch(till, items))
    read = till.read(response)
    assert not read.ok and read.code == "RATE_LIMITED", read
    assert ledger_rows() == before


def test_weak_credential_items_in_a_batch_are_capped(sandbox, settings):
    settings.GATEWAY_BATCH_MAX_WEAK_ITEMS = 2
    till = sandbox["native"]
    items = [till.command("earn", request_no=unique("B"), member=f"1380000000{n}", amount_fen=0,
                          business_time=timezone.now()) for n in (1, 2, 3)]
    before = ledger_rows()
    _, response = till.send_raw(_batch(till, items))
    read = till.read(response)
    assert not read.ok and read.code == "PARAM_ERROR", read
    assert ledger_rows() == before


# ---- 2. Fangxiang replay protection --------------------------------------------------------------

def _respell(signature: str) -> str:
    """Another Base64 spelling of the same bytes: flip the unused low bits of the last data char."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = signature.rstrip("=")
    pad = len(signature) - len(body)
    unused = {1: 2, 2: 4}[pad]
    value = alphabet.index(body[-1]) ^ ((1 << unused) - 1)
    other = body[:-1] + alphabet[value] + "=" * pad
    assert base64.b64decode(other) == base64.b64decode(signature) and other != signature
    return other


def test_fangxiang_refuses_a_non_canonical_signature(sandbox):
    till = sandbox["fangxiang"]
    spec, first = till.send_raw(till.command("earn", request_no=unique("F"), member="13800000001", amount_fen=1000))
    assert till.read(first).ok
    params = dict(parse_qsl(spec.body.decode()))
    params["sign"] = _respell(params["sign"])
    before = ledger_rows()
    again = post(till, spec, body=urlencode(params).encode())
    read = till.read(again)
    assert not read.ok and read.code == "SIGN_ERROR", read
    assert ledger_rows() == before


def test_fangxiang_identical_retry_in_the_same_second_gets_the_first_answer(sandbox):
    till = sandbox["fangxiang"]
    spec, first = till.send_raw(till.command("earn", request_no=unique("F"), member="13800000001", amount_fen=1000))
    again = post(till, spec)
    a, b = till.read(first), till.read(again)
    assert a.ok and b.ok and a.data == b.data, (a, b)


def test_fangxiang_member_code_shown_twice_in_one_second_is_expired(sandbox):
    till = sandbox["fangxiang"]
    code, _ = issue_member_code(member=find_member(mobile="13800000004"))
    spec, first = till.send_raw(till.command("identify", member=code))
    assert till.read(first).ok
    second = till.read(post(till, spec))
    assert not second.ok and second.code == "MEMBER_CODE_EXPIRED", second


# ---- 4. Zhibaiwei: one method's body is not another's; malformed Unicode is a PARAM_ERROR --------

def test_zhibaiwei_sale_body_sent_to_cancel_is_refused(sandbox):
    till = sandbox["zhibaiwei"]
    sale = till.command("earn", request_no=unique("Z"), member="13800000001", amount_fen=1000)
    spec = till.adapter.build_request(sale, keys=till.keys, nonce="c4nCe1xx", timestamp=timezone.now())
    hijacked = till.read(post(till, spec, path=spec.path.rsplit("/", 1)[0] + "/VipSheetCancel"))
    assert not hijacked.ok and hijacked.code == "PARAM_ERROR", hijacked
    assert not Operation.objects.filter(request_no=sale.request_no).exists()
    assert till.send("earn", request_no=sale.request_no, member="13800000001", amount_fen=1000).ok


@pytest.mark.parametrize("where", ["outer", "inner"])
def test_zhibaiwei_lone_surrogate_is_a_param_error(sandbox, where, caplog):
    till = sandbox["zhibaiwei"]
    spec = till.adapter.build_request(till.command("identify", member="13800000001"), keys=till.keys,
                                      nonce="surr0gat", timestamp=timezone.now())
    text = spec.body.decode()
    if where == "outer":  # the escape decodes to U+D800 inside the ParmJson string itself
        body = text.replace('\\"Code\\":\\"13800000001\\"', '\\"Code\\":\\"\\ud800\\"')
    else:  # ParmJson carries the escape, decoded when ParmJson is read
        body = text.replace('\\"Code\\":\\"13800000001\\"', '\\"Code\\":\\"\\\\ud800\\"')
    assert body != text
    read = till.read(post(till, spec, body=body.encode()))
    assert not read.ok and read.code == "PARAM_ERROR", read
    assert "Traceback" not in caplog.text and "unexpected error" not in caplog.text


# ---- 6. limits are shared by every worker process --------------------------------------------------

WORKER = """
import django, sys
django.setup()
from hub.gateway.throttle import count_failed_guess
from hub.models import Terminal
terminal = Terminal.objects.get(pk=int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    count_failed_guess(terminal, terminal.store.merchant_id)
"""


@pytest.mark.django_db(transaction=True)
def test_guess_throttle_is_shared_by_two_worker_processes(settings):
    from tests.hub.factories import MerchantFactory, StoreFactory, TerminalFactory

    settings.GATEWAY_CODE_FAILURES_PER_10MIN = 20
    merchant = MerchantFactory()
    terminal = TerminalFactory(store=StoreFactory(merchant=merchant))
    env = dict(os.environ, DATABASE_URL=test_database_url(), DJANGO_SETTINGS_MODULE="hub.settings",
               LOG_LEVEL="WARNING")
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(terminal.pk), "10"], cwd=ROOT, env=env)
               for _ in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    from hub.gateway.throttle import throttle_guess

    with pytest.raises(RateLimited):  # 2 workers × 10 failures = the limit of 20, wherever counted
        throttle_guess(Terminal.objects.get(pk=terminal.pk), merchant.pk)


@pytest.mark.django_db(transaction=True)
def test_counter_increments_are_atomic_across_connections():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from hub.gateway import throttle

    def work(_):
        try:
            return [throttle.hit("atomic-test", window=60) for _ in range(25)]
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        seen = sorted(n for part in pool.map(work, range(4)) for n in part)
    assert seen == list(range(1, 101))  # every increment counted once, no two saw the same total
    assert throttle.count("atomic-test") == 100


@pytest.mark.django_db(transaction=True)
def test_a_rotation_committed_by_another_connection_reaches_a_worker_holding_the_old_copy(sandbox):
    """The worker's copy is checked against the committed row's version in the admitting statement."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from django.db import connection

    from hub.credentials import rotate_credential
    from hub.models import Credential

    till = sandbox["kemai"]
    assert till.send("identify", member="13800000001").ok  # this worker now holds the credential

    def rotate():
        try:
            return rotate_credential(credential=Credential.objects.get(app_key=till.keys.app_key),
                                     overlap=timedelta(0))
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        new_secret = pool.submit(rotate).result()
    old = till.read(till.send_raw(till.command("identify", member="13800000001"))[1])
    assert not old.ok and old.code.endswith("SIGN_ERROR")
    till.keys = replace(till.keys, secrets=(new_secret,), secret=new_secret)
    assert till.send("identify", member="13800000001").ok


# ---- 9. smaller ones --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1٢٨.٥٠", "１２８.50", "12٨"])
def test_amounts_take_ascii_digits_only(text):
    with pytest.raises(ParamError):
        yuan_to_fen(text, field_name="SheetAmt")
    with pytest.raises(ParamError):
        parse_int(text.split(".")[0], field_name="total_fee")


def test_non_ascii_digits_refused_at_the_till(sandbox):
    till = sandbox["zhibaiwei"]
    sale = till.command("earn", request_no=unique("Z"), member="13800000001", amount_fen=12850)
    spec = till.adapter.build_request(sale, keys=till.keys, nonce="d1g1tsxx", timestamp=timezone.now())
    assert "128.50" in spec.body.decode()
    # re-sign the body with Arabic-Indic digits in the amount, as a till could send it
    from hub.gateway.jsonio import dumps_compact, loads_object
    from hub.vendors.zhibaiwei import signing

    body = loads_object(spec.body)
    body["ParmJson"] = body["ParmJson"].replace('"128.50"', '"1٢٨.٥٠"')
    body["KEY"] = signing.make_key(nonce=body["Nonce"], app_key=body["AppKey"], app_secret=till.keys.secret,
                                   date_time=body["DateTime"], parm_json=body["ParmJson"])
    read = till.read(post(till, spec, body=dumps_compact(body).encode()))
    assert not read.ok and read.code == "PARAM_ERROR", read
    assert not Operation.objects.filter(request_no=sale.request_no).exists()


def test_sixun_business_refusal_is_not_a_bad_message(sandbox):
    till = sandbox["sixun"]
    from hub.vendors.sixun import xmlcodec

    _, response = till.send_raw(till.command("redeem", request_no=unique("P"), member="13800000002", points=100))
    fields = xmlcodec.read_fields(*reversed(xmlcodec.split_prolog(response.content)))
    assert fields["return_code"] == "SUCCESS", fields  # the message was fine
    assert fields["result_code"] == "FAIL" and fields["err_code"] == "NO_AUTH", fields


def test_docs_name_only_addresses_and_files_that_exist():
    import re

    from django.urls import Resolver404, resolve

    from hub.gateway import registry

    mounts = {"/" + registry.mount(adapter) for adapter in registry.adapters().values()}
    text = (ROOT / "docs" / "native-api.md").read_text()
    for name in re.findall(r"`(hub/[\w/]+\.py)`", text):
        assert (ROOT / name).exists(), name
    for address in re.findall(r"`(?:POST |GET )?(/(?:api|gateway)/[^`\s]*)`", text):
        if address in mounts:
            continue
        concrete = re.sub(r"\{[^}]+\}|<[^>]+>|…", "X1", address)
        try:
            resolve(concrete)
        except Resolver404:
            pytest.fail(f"docs/native-api.md names {address}, which the hub does not serve")


@pytest.mark.django_db
def test_the_read_only_audit_role_cannot_start_the_ledger_check(client):
    """Finding 9: 审计 may look at the ledger-check runs, not start the job (it writes a run)."""
    from django.contrib.auth.models import Group
    from django.urls import NoReverseMatch, reverse

    from hub.clearing.models import LedgerCheckRun
    from tests.members.factories import UserFactory

    meta = LedgerCheckRun._meta
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_run")
    except NoReverseMatch:
        url = reverse("admin:hub_ledgercheckrun_run")
    for role, allowed in (("审计", False), ("运营", True)):
        user = UserFactory()
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        if role == "审计":  # it sees the runs
            assert client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")).status_code == 200
        answer = client.post(url)
        assert (answer.status_code == 302) is allowed, (role, answer.status_code)
        assert (answer.status_code == 403) is not allowed, (role, answer.status_code)


# ---- 7. nonces for their window, call records for their retention -----------------------------------

@pytest.mark.django_db
def test_prune_keeps_the_nonce_window_and_the_call_retention(settings):
    from django.db import connection
    from django_celery_beat.models import PeriodicTask

    from hub.gateway.retention import prune
    from hub.models import TillCall, TillNonce

    settings.GATEWAY_CALL_RETENTION_DAYS = 30
    now = timezone.now()
    TillNonce.objects.bulk_create([TillNonce(credential_id=1, nonce="old", seen_at=now - timedelta(minutes=16)),
                                   TillNonce(credential_id=1, nonce="new", seen_at=now - timedelta(minutes=14))])
    TillCall.objects.bulk_create([TillCall(vendor="kemai", code="SUCCESS", received_at=now - timedelta(days=31)),
                                  TillCall(vendor="kemai", code="SUCCESS", received_at=now - timedelta(days=29))])
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO hub_gateway_counter (key, value, expires_at) VALUES ('gone', 1, now() - interval '1 s')")
    assert prune(now=now) == {"nonces": 1, "calls": 1, "counters": 1}
    assert list(TillNonce.objects.values_list("nonce", flat=True)) == ["new"]
    assert TillCall.objects.get().received_at == now - timedelta(days=29)
    assert PeriodicTask.objects.get(task="hub.prune_gateway").enabled  # scheduled daily
