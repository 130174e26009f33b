"""build_request -> URL routing -> parse gives back the command, correctly signed, for every method."""

import json
import types
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory
from django.urls import include, path, resolve

from hub.gateway.base import CredentialKeys
from hub.gateway.canonical import DayEndTotals, TillCommand
from hub.vendors.zhibaiwei.adapter import ZhibaiweiAdapter
from hub.vendors.zhibaiwei.methods import METHODS

from .helpers import APP_KEY, KEYS, SECRET, VECTOR_KEY, VECTOR_PARM_JSON

SH = ZoneInfo("Asia/Shanghai")
adapter = ZhibaiweiAdapter()
WHERE = {"store_code": "01", "terminal_code": "03"}
SENT = datetime(2026, 11, 25, 7, 30, 1, tzinfo=UTC)

COMMANDS = [
    TillCommand(op="identify", operator="1001", member="960123456789012345", **WHERE),
    TillCommand(op="earn", operator="1001", request_no="S1", member="M1", amount_fen=12850,
                business_time=datetime(2026, 11, 25, 15, 0, tzinfo=SH), memo="含中文备注", **WHERE),
    TillCommand(op="redeem", operator="1001", request_no="P1", member="M1", points=500, amount_fen=500, **WHERE),
    TillCommand(op="redeem", request_no="P2", member="M1", points=1, **WHERE),
    TillCommand(op="refund", operator="1001", request_no="R1", original_request_no="S1", amount_fen=1,
                points=7, **WHERE),
    TillCommand(op="refund", operator="1001", request_no="R2", original_request_no="S1", amount_fen=0, **WHERE),
    TillCommand(op="reverse", original_request_no="S1", **WHERE),
    TillCommand(op="query", original_request_no="S1"),
    TillCommand(op="day_end", biz_date=date(2026, 11, 24), totals=DayEndTotals(5, 640, 2, 900, 1, 64), **WHERE),
]

urlconf = types.ModuleType("zhibaiwei_test_urls")


def _view(request, **kwargs):
    return adapter.parse(request, **kwargs)


urlconf.urlpatterns = [path("gateway/zhibaiwei/", include(adapter.get_urls(_view)))]


def _send(spec):
    request = RequestFactory().generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                       headers=spec.headers)
    match = resolve(spec.path, urlconf=urlconf)
    return match.func(request, **match.kwargs)


def test_every_method_is_covered():
    assert {c.op for c in COMMANDS} == set(METHODS.values())


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.op)
def test_build_then_parse_gives_the_command_back(command):
    spec = adapter.build_request(command, keys=KEYS, nonce="Zx81Qa0b", timestamp=SENT)
    assert spec.method == "POST"
    parsed = _send(spec)
    assert parsed.command == command
    assert parsed.nonce == "Zx81Qa0b"
    assert parsed.timestamp == SENT
    assert parsed.verify(KEYS) == SECRET
    assert parsed.verify(CredentialKeys(app_key=APP_KEY, secrets=("wrong",))) is None


def test_build_request_reproduces_the_contract_vector():
    command = TillCommand(op="earn", operator="1001", request_no="XY0120261125000123", member="960000000000000000",
                          amount_fen=12850, business_time=datetime(2026, 11, 25, 15, 30, 1, tzinfo=SH), **WHERE)
    spec = adapter.build_request(command, keys=KEYS, nonce="a1B2c3D4", timestamp=datetime(2026, 11, 25, 15, 30, 1,
                                                                                           tzinfo=SH))
    body = json.loads(spec.body)
    assert spec.path == "/gateway/zhibaiwei/VipSaleSheet"
    assert body == {"AppKey": APP_KEY, "DateTime": "20261125153001", "Nonce": "a1B2c3D4",
                    "ParmJson": VECTOR_PARM_JSON, "KEY": VECTOR_KEY}


def test_earn_without_business_time_is_stamped_with_the_send_time():
    spec = adapter.build_request(TillCommand(op="earn", request_no="S1", member="M1", amount_fen=1, **WHERE),
                                 keys=KEYS, nonce="Zx81Qa0b", timestamp=SENT)
    assert _send(spec).command.business_time == SENT


def test_a_nonce_of_another_shape_maps_to_one_stable_zhibaiwei_nonce():
    command = COMMANDS[0]
    first = adapter.build_request(command, keys=KEYS, nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS", timestamp=SENT)
    again = adapter.build_request(command, keys=KEYS, nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS", timestamp=SENT)
    other = adapter.build_request(command, keys=KEYS, nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VT", timestamp=SENT)
    parsed = _send(first)
    assert len(parsed.nonce) == 8 and parsed.nonce.isalnum()
    assert parsed.verify(KEYS) == SECRET
    assert first.body == again.body
    assert json.loads(other.body)["Nonce"] != parsed.nonce


def test_build_request_signs_with_the_current_secret():
    keys = CredentialKeys(app_key=APP_KEY, secrets=("new-secret", SECRET))
    parsed = _send(adapter.build_request(COMMANDS[0], keys=keys, nonce="Zx81Qa0b", timestamp=SENT))
    assert parsed.verify(keys) == "new-secret"


def test_operations_zhibaiwei_lacks_cannot_be_built():
    with pytest.raises(ValueError):
        adapter.build_request(TillCommand(op="freeze"), keys=KEYS, nonce="Zx81Qa0b", timestamp=SENT)


def test_naive_timestamp_is_refused():
    with pytest.raises(ValueError):
        adapter.build_request(COMMANDS[0], keys=KEYS, nonce="Zx81Qa0b", timestamp=datetime(2026, 11, 25))
