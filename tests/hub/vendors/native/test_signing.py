import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hub.api import schema
from hub.gateway.canonical import TillCommand
from hub.vendors.native import signing
from hub.vendors.native.adapter import NativeAdapter

from .helpers import (
    KEYS,
    NONCE,
    RESPONSE_VECTOR,
    SECRET,
    TIMESTAMP,
    VECTOR_BODY,
    VECTOR_HEADER,
    VECTOR_SIGNATURE,
    request,
)

DOC = Path(__file__).resolve().parents[4] / "docs" / "native-api.md"
REQUEST = {"method": "POST", "path": "/api/v1/till/earn", "timestamp": TIMESTAMP, "nonce": NONCE, "body": VECTOR_BODY}


def test_request_signature_test_vector():
    assert signing.request_signature(SECRET, **REQUEST) == VECTOR_SIGNATURE


def test_the_vector_by_the_rule_written_out_independently():
    message = b"POST\n/api/v1/till/earn\n1764055801\n" + NONCE.encode() + b"\n" + VECTOR_BODY + b"\n"
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    assert base64.b64encode(digest).decode() == VECTOR_SIGNATURE


def test_response_signature_test_vector():
    v = RESPONSE_VECTOR
    assert signing.response_signature(SECRET, timestamp=v["timestamp"], nonce=v["nonce"], body=v["body"]) == v["signature"]


def test_build_request_reproduces_the_vector():
    command = TillCommand(op="earn", store_code="S001", terminal_code="P03", operator="1001",
                          request_no="HUB20261125000123", member="M8KZ3Q7T", amount_fen=12850,
                          business_time=datetime(2026, 11, 25, 15, 30, 1, tzinfo=timezone(timedelta(hours=8))))
    spec = NativeAdapter().build_request(command, keys=KEYS, nonce=NONCE,
                                         timestamp=datetime.fromtimestamp(1764055801, UTC))
    assert (spec.method, spec.path, spec.body) == ("POST", "/api/v1/till/earn", VECTOR_BODY)
    assert spec.headers == {"Authorization": VECTOR_HEADER}


def test_render_reproduces_the_response_vector():
    adapter = NativeAdapter(clock=lambda: 1764055802.7, nonce_factory=lambda: "0f9e8d7c6b5a49382716")
    call = adapter.parse(request("POST", "/earn", VECTOR_BODY), op="earn")
    response = adapter.render(call, {"request_no": "HUB20261125000123", "points_earned": 128,
                                     "points_balance": 100128, "internal": "not for tills"}, KEYS)
    assert response.content == RESPONSE_VECTOR["body"]
    assert response["Hub-Signature"] == RESPONSE_VECTOR["signature"]


@pytest.mark.parametrize("where", ["doc", "openapi"])
def test_the_published_vector_is_the_pinned_one(where):
    text = DOC.read_text(encoding="utf-8") if where == "doc" else schema.vector_text()
    for value in (VECTOR_BODY.decode(), VECTOR_SIGNATURE, VECTOR_HEADER, RESPONSE_VECTOR["body"].decode(),
                  RESPONSE_VECTOR["signature"], SECRET, TIMESTAMP):
        assert value in text, value


@pytest.mark.parametrize(
    "field, value",
    [("method", "GET"), ("path", "/api/v1/till/redeem"), ("path", "/api/v1/till/earn?a=1"),
     ("timestamp", "1764055802"), ("nonce", NONCE.upper()), ("body", VECTOR_BODY + b" ")],
)
def test_every_part_of_the_request_is_signed(field, value):
    assert signing.request_signature(SECRET, **{**REQUEST, field: value}) != VECTOR_SIGNATURE


def test_every_part_of_the_response_is_signed():
    v = RESPONSE_VECTOR
    for changed in ({"timestamp": "1764055803"}, {"nonce": "0f9e8d7c6b5a49382717"}, {"body": v["body"] + b" "}):
        args = {"timestamp": v["timestamp"], "nonce": v["nonce"], "body": v["body"], **changed}
        assert signing.response_signature(SECRET, **args) != v["signature"]


def test_same_is_exact():
    assert signing.same(VECTOR_SIGNATURE, VECTOR_SIGNATURE)
    assert not signing.same(VECTOR_SIGNATURE, VECTOR_SIGNATURE[:-2] + "A=")
    assert not signing.same(VECTOR_SIGNATURE, "签名")


@pytest.mark.parametrize("order", list(itertools.permutations(signing.AUTH_ITEMS)))
def test_authorization_items_in_any_order(order):
    value = "HUB-HMAC-SHA256 " + ",".join(
        f'{name}="{ {"app_key": "hub_test_app", "timestamp": TIMESTAMP, "nonce": NONCE, "signature": "s"}[name]}"'
        for name in order)
    assert signing.parse_authorization(value) == {"app_key": "hub_test_app", "timestamp": TIMESTAMP,
                                                  "nonce": NONCE, "signature": "s"}


@pytest.mark.parametrize(
    "value",
    [
        'KEMAI-HMAC-SHA256 app_key="a",timestamp="1",nonce="n",signature="s"',
        'hub-hmac-sha256 app_key="a",timestamp="1",nonce="n",signature="s"',
        "HUB-HMAC-SHA256",
        'HUB-HMAC-SHA256 app_key="a",app_key="b",timestamp="1",nonce="n",signature="s"',
        'HUB-HMAC-SHA256 app_key="a",timestamp="1",nonce="n",signature="s",extra="x"',
        'HUB-HMAC-SHA256 app_key=a,timestamp="1",nonce="n",signature="s"',
        'HUB-HMAC-SHA256 app_key="a";timestamp="1"',
        'HUB-HMAC-SHA256 app_key="a",,signature="s"',
    ],
)
def test_malformed_authorization_is_not_ours(value):
    assert signing.parse_authorization(value) is None
