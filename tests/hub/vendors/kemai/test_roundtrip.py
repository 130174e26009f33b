"""build_request -> URL routing -> parse gives back the command, correctly signed, for every endpoint."""

import json
import types
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.test import RequestFactory
from django.urls import include, path, resolve

from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import OPS, DayEndTotals, TillCommand
from hub.vendors.kemai.adapter import KemaiAdapter

from .helpers import APP_ID, KEYS, NONCE, SECRET, VECTOR_BODY, VECTOR_SIGNATURE

adapter = KemaiAdapter()
BJ = timezone(timedelta(hours=8))
WHERE = {"store_code": "S001", "terminal_code": "P03"}
SENT = datetime(2026, 11, 25, 7, 30, 1, tzinfo=UTC)

COMMANDS = [
    TillCommand(op="identify", member="960123456789012345", **WHERE),
    TillCommand(op="earn", operator="1001", request_no="K1", member="M1", amount_fen=12850,
                business_time=datetime(2026, 11, 25, 15, 0, tzinfo=BJ), **WHERE),
    TillCommand(op="redeem", operator="1001", request_no="K2", member="M1", points=500, **WHERE),
    TillCommand(op="freeze", request_no="K3", member="M1", points=800, **WHERE),
    TillCommand(op="confirm", original_request_no="K3"),
    TillCommand(op="unfreeze", original_request_no="K3"),
    TillCommand(op="refund", request_no="R1", original_request_no="K1", amount_fen=6425, points=250),
    TillCommand(op="refund", request_no="R2", original_request_no="K1", amount_fen=1),
    TillCommand(op="reverse", original_request_no="K1"),
    TillCommand(op="query", original_request_no="K1"),
    TillCommand(op="query", original_request_no="订单 1:+"),  # percent-encoded into the path
    TillCommand(op="day_end", biz_date=date(2026, 11, 24), totals=DayEndTotals(5, 640, 2, 900, 1, 64), **WHERE),
]

urlconf = types.ModuleType("kemai_test_urls")


def _view(request, **kwargs):
    return adapter.parse(request, **kwargs)


urlconf.urlpatterns = [path("gateway/kemai/", include(adapter.get_urls(_view)))]


def _send(spec):
    request = RequestFactory().generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                       headers=spec.headers)
    match = resolve(request.path_info, urlconf=urlconf)
    return match.func(request, **match.kwargs)


def test_every_operation_is_covered():
    assert {c.op for c in COMMANDS} == set(OPS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.op}-{c.request_no or c.original_request_no}")
def test_build_then_parse_gives_the_command_back(command):
    spec = adapter.build_request(command, keys=KEYS, nonce="n0nce-1234", timestamp=SENT)
    assert spec.method == ("GET" if command.op == "query" else "POST")
    parsed = _send(spec)
    assert parsed.command == command
    assert parsed.app_key == APP_ID
    assert parsed.nonce == "n0nce-1234"
    assert parsed.timestamp == SENT
    assert parsed.verify(KEYS) == SECRET
    assert parsed.verify(CredentialKeys(app_key=APP_ID, secrets=("wrong",))) is None


@pytest.mark.parametrize(
    "command, expected_path, expected_body",
    [
        (TillCommand(op="confirm", original_request_no="K3"), "/gateway/kemai/v1/points/freeze/K3/confirm", b"{}"),
        (TillCommand(op="unfreeze", original_request_no="K3"), "/gateway/kemai/v1/points/freeze/K3/unfreeze", b"{}"),
        (TillCommand(op="reverse", original_request_no="K1"), "/gateway/kemai/v1/trades/K1/reverse", b"{}"),
        (TillCommand(op="query", original_request_no="K1"), "/gateway/kemai/v1/trades/K1", b""),
    ],
)
def test_path_endpoints_carry_the_number_in_the_path(command, expected_path, expected_body):
    spec = adapter.build_request(command, keys=KEYS, nonce=NONCE, timestamp=SENT)
    assert (spec.path, spec.body) == (expected_path, expected_body)


def test_build_request_reproduces_the_contract_vector():
    command = TillCommand(op="earn", operator="1001", request_no="KM20261125000123", member="M8KZ3Q7T",
                          amount_fen=12850, business_time=datetime(2026, 11, 25, 15, 30, 1, tzinfo=BJ), **WHERE)
    spec = adapter.build_request(command, keys=KEYS, nonce=NONCE, timestamp=datetime.fromtimestamp(1764055801, UTC))
    assert spec.path == "/gateway/kemai/v1/points/earn"
    assert spec.body == VECTOR_BODY
    assert spec.headers == {"Authorization": (
        f'KEMAI-HMAC-SHA256 appid="km_test_app",nonce_str="{NONCE}",timestamp="1764055801",'
        f'signature="{VECTOR_SIGNATURE}"')}


def test_earn_without_business_time_is_stamped_with_the_send_time():
    spec = adapter.build_request(TillCommand(op="earn", request_no="K1", member="M1", amount_fen=1, **WHERE),
                                 keys=KEYS, nonce=NONCE, timestamp=SENT)
    assert json.loads(spec.body)["trade_time"] == "2026-11-25T15:30:01+08:00"
    assert _send(spec).command.business_time == SENT


def test_a_mounting_prefix_is_part_of_the_signed_path():
    mounted = KemaiAdapter(prefix="/hub/gateway/kemai/")
    spec = mounted.build_request(TillCommand(op="query", original_request_no="K1"), keys=KEYS, nonce=NONCE,
                                 timestamp=SENT)
    assert spec.path == "/hub/gateway/kemai/v1/trades/K1"
    request = RequestFactory().generic("GET", spec.path, headers=spec.headers)
    assert mounted.parse(request, op="query", out_trade_no="K1").verify(KEYS) == SECRET


def test_url_names_are_distinct():
    names = [pattern.name for pattern in adapter.get_urls(_view)]
    assert len(names) == len(set(names)) == len(OPS)


def test_the_raw_request_target_is_what_is_verified_when_the_server_gives_it():
    spec = adapter.build_request(TillCommand(op="query", original_request_no="K:1"), keys=KEYS, nonce=NONCE,
                                 timestamp=SENT)
    request = RequestFactory().generic("GET", "/gateway/kemai/v1/trades/K%3A1", headers=spec.headers)
    # Without RAW_URI, Django's reconstruction normalises the encoding of the path.
    assert adapter.parse(request, op="query", out_trade_no="K:1").verify(KEYS) == SECRET
    request.META["RAW_URI"] = "/gateway/kemai/v1/trades/K%3A1"
    assert adapter.parse(request, op="query", out_trade_no="K:1").verify(KEYS) is None  # signed "K:1"
    request.META["RAW_URI"] = spec.path
    assert adapter.parse(request, op="query", out_trade_no="K:1").verify(KEYS) == SECRET
