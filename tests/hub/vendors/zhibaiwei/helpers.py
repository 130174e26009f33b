"""Zhibaiwei requests built by hand (independently of build_request) from the contract's test data."""

from __future__ import annotations

import json

from django.test import RequestFactory

from hub.gateway.base import CredentialKeys
from hub.vendors.zhibaiwei import signing

APP_KEY = "zbw_test_app"
SECRET = "zbw-test-secret-0001"
DATE_TIME = "20261125153001"
NONCE = "a1B2c3D4"
KEYS = CredentialKeys(app_key=APP_KEY, secrets=(SECRET,))

# The contract's test vector, byte for byte.
VECTOR_PARM_JSON = (
    '{"BranchJg":"01","OperID":"1001","PosID":"03","SheetNo":"XY0120261125000123",'
    '"VipNo":"960000000000000000","SheetAmt":"128.50","sDateTime":"2026-11-25 15:30:01","Memo":""}'
)
VECTOR_KEY = "a1B22B4C41BB199320F2DC3A82D57E8A8899c3D4"

SITE = {"BranchJg": "01", "OperID": "1001", "PosID": "03"}


def signed_body(parm_json: str, *, secret: str = SECRET, **overrides) -> dict:
    """The envelope for ``parm_json``, KEY computed over the contract's test values; ``overrides``
    then replace any field (KEY included) as sent."""
    key = signing.make_key(nonce=NONCE, app_key=APP_KEY, app_secret=secret, date_time=DATE_TIME,
                           parm_json=parm_json)
    body = {"AppKey": APP_KEY, "DateTime": DATE_TIME, "Nonce": NONCE, "ParmJson": parm_json, "KEY": key}
    body.update(overrides)
    return body


def post(method: str, body, *, http_method: str = "POST"):
    """A request to gateway/zhibaiwei/<method>; ``body`` may be a dict, str or raw bytes."""
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return RequestFactory().generic(http_method, f"/gateway/zhibaiwei/{method}", data=body,
                                    content_type="application/json; charset=utf-8")


def call(method: str, params, **overrides):
    """A correctly signed request for ``params`` (a dict, or a ParmJson string sent as is)."""
    parm_json = params if isinstance(params, str) else json.dumps(params, ensure_ascii=False)
    return post(method, signed_body(parm_json, **overrides))
