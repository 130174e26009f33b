"""Fangxiang requests written by hand (independently of build_request) from the contract's test data."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from django.test import RequestFactory

from hub.gateway.base import CredentialKeys
from hub.vendors.fangxiang import signing

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "fangxiang"
VENDOR_PRIVATE = (FIXTURES / "fangxiang_test_vendor_private.pem").read_text()
VENDOR_PUBLIC = (FIXTURES / "fangxiang_test_vendor_public.pem").read_text()
HUB_PRIVATE = (FIXTURES / "hub_test_private.pem").read_text()
HUB_PUBLIC = (FIXTURES / "hub_test_public.pem").read_text()

APP_ID = "fx_test_app"
KEYS = CredentialKeys(app_key=APP_ID, public_key_pem=VENDOR_PUBLIC, private_key_pem=VENDOR_PRIVATE)

# The contract's test vector, byte for byte.
VECTOR_BIZ = ('{"out_trade_no":"FX20261125000123","store_id":"S001","terminal_id":"P03",'
              '"member_code":"960000000000000000","total_amount":"128.50"}')
VECTOR_PARAMS = {
    "app_id": APP_ID,
    "method": "fx.point.earn",
    "format": "JSON",
    "charset": "utf-8",
    "sign_type": "RSA2",
    "timestamp": "2026-11-25 15:30:01",
    "version": "1.0",
    "biz_content": VECTOR_BIZ,
}
VECTOR_STRING = (
    "app_id=fx_test_app&biz_content=" + VECTOR_BIZ
    + "&charset=utf-8&format=JSON&method=fx.point.earn&sign_type=RSA2&timestamp=2026-11-25 15:30:01&version=1.0"
)
VECTOR_SIGN = (
    "DGDbffpmaTRFLvL7xzL4vH8qaGUJWYpYsg+M+EylF0E/lbdwtDYXuoqozBV9S2g/GPQaS5GmI3dIGDv3TXdv5AiRQ3wTzj6i3gxqXrrSAwya"
    "WAkaN+AbJTyISw8aAvTmriPfGVp7bvAEGAhcLPzqckx6sNcZ32F1VS//n7qdSMd86emT5JGUvkxwI949Nx2PTm4bJ3uQJQ+4rJhqvCR7FGIB"
    "LDMX6wZLcE7m8mFE5B6AJUZg6oPc0kxdhIB9XqVAyZljgVbEtfU2xU7gQpF2w/B64SYOU7ePijp8ESNkRqw0MQsGpBngVtsgkMz9xNixwYdD"
    "faGqmsHG0Ax7Bh3A2g=="
)


def params_for(api_method: str, biz, /, **overrides) -> dict:
    """Signed parameters for ``biz`` (a dict, or a biz_content string sent as is). ``overrides``
    replace or (with None) remove parameters before signing; ``sign`` itself is overridden after."""
    biz_content = biz if isinstance(biz, str) else json.dumps(biz, ensure_ascii=False)
    params = {**VECTOR_PARAMS, "method": api_method, "biz_content": biz_content}
    sign = overrides.pop("sign", "computed")
    for name, value in overrides.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    params["sign"] = signing.rsa_sign(signing.sign_string(params), VENDOR_PRIVATE)
    if sign is None:
        del params["sign"]
    elif sign != "computed":
        params["sign"] = sign
    return params


def post(body, *, content_type: str = "application/x-www-form-urlencoded; charset=utf-8", method: str = "POST"):
    if isinstance(body, dict):
        body = urlencode(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return RequestFactory().generic(method, "/gateway/fangxiang/gateway.do", data=body, content_type=content_type)
