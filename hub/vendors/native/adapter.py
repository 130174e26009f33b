"""The hub's native till API (docs/native-api.md): translation only, no database.

Mounted at ``/api/v1/till/`` (``mount``); JSON bodies in snake_case mirroring TillCommand, money
in integer fen, points integers. The ``Authorization`` header carries an HMAC-SHA256 over
method, path with query, timestamp, nonce and the exact body; answers are
``{"code","message","data"}`` with the HTTP status of ``hub.errors.CODES`` and, when the request
was authenticated, signed with ``Hub-Timestamp``/``Hub-Nonce``/``Hub-Signature``.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.http import HttpRequest
from django.urls import path

from hub.errors import ParamError
from hub.gateway.base import (
    MAX_BODY_BYTES,
    Sandbox,
    TillHelpers,
)
from hub.gateway.canonical import TillCommand
from hub.gateway.hmac_json import CONTENT_TYPE, HmacJsonAdapter  # noqa: F401 - CONTENT_TYPE re-exported
from hub.gateway.jsonio import loads_object
from hub.vendors.native import batch, endpoints, signing

BATCH_MAX_BODY_BYTES = 512 * 1024  # 1,000 items of up to ~500 bytes each

_AUTH_FORMATS = {
    "app_key": re.compile(r"^[A-Za-z0-9_.\-]{1,64}$"),
    "timestamp": re.compile(r"^[0-9]{1,10}$"),
    "nonce": re.compile(r"^[A-Za-z0-9_\-]{8,64}$"),
    "signature": re.compile(r"^[A-Za-z0-9+/]{43}=$"),
}


class NativeAdapter(HmacJsonAdapter):
    code = "native"
    name = "清算中心原生接口"
    auth_scheme = "secret"
    ops = frozenset(endpoints.ENDPOINTS)  # the canonical operations and "batch"
    mount = "api/v1/till/"  # the public address, where the registry mounts it (not gateway/native/)
    max_body_bytes = BATCH_MAX_BODY_BYTES  # the largest body any endpoint takes; each checks its own
    merchant_field = None
    nonce_repeat = "refuse"
    sandbox = Sandbox("SBX_HUB", "沙箱·原生接口测试商户", "S001", "P03", "hub_test_app", "hub-test-secret-0001")
    helpers = TillHelpers(member_field="member_ref")

    signing = signing
    auth_formats = _AUTH_FORMATS
    app_key_item, nonce_item = "app_key", "nonce"
    malformed_header = ("签名头格式错误：Authorization（应为 HUB-HMAC-SHA256 app_key=\"…\",timestamp=\"…\","
                        "nonce=\"…\",signature=\"…\"）")
    success_message = "成功"
    nonce_chars = 32

    def __init__(self, *, prefix: str = "/" + mount, **kwargs):
        super().__init__(prefix=prefix, **kwargs)

    def get_urls(self, view) -> list:
        from hub.api.views import endpoint_view

        return [path(ep.route, endpoint_view(ep.op).as_view(gateway=view), {"op": ep.op}, name=f"native-{ep.slug}")
                for ep in endpoints.ENDPOINTS.values()]

    def endpoint_of(self, op: str):
        return endpoints.ENDPOINTS.get(op)

    def body_limit(self, op: str) -> int:
        return BATCH_MAX_BODY_BYTES if op == "batch" else MAX_BODY_BYTES

    def parse_command(self, request: HttpRequest, op: str, body: bytes, path_no: str) -> TillCommand:
        if request.META.get("QUERY_STRING", ""):
            raise ParamError("不支持查询参数")
        if endpoints.ENDPOINTS[op].method == "GET":
            if body:
                raise ParamError("GET 请求不应有请求体")
            return endpoints.parse_body(op, {}, path_no)
        if op == "batch":
            return batch.parse_batch(loads_object(body))
        # confirm, unfreeze and reverse name their request in the path: an empty body is "{}".
        data = {} if op in endpoints.PATH_OPS and not body else loads_object(body)
        return endpoints.parse_body(op, data, path_no)

    def render_data(self, op: str, result: dict) -> dict:
        return render_data(op, result)

    def build_fields(self, command: TillCommand, *, sent_at: datetime) -> dict | None:
        if command.op == "batch":
            return {"store_code": command.store_code, "terminal_code": command.terminal_code,
                    "items": batch.build_items(command.extra["items"])}
        return endpoints.build_body(command)

    def header_items(self, *, app_key: str, nonce: str, timestamp: str, signature: str) -> dict:
        return {"app_key": app_key, "timestamp": timestamp, "nonce": nonce, "signature": signature}


def render_data(op: str, result: dict) -> dict:
    if op == "batch":
        return {"items": [{"request_no": item["request_no"], "code": item["code"], "message": item["message"],
                           "data": endpoints.render_data(item["op"], item["data"]) if item["code"] == "SUCCESS"
                           else item["data"]}
                          for item in result["items"]]}
    return endpoints.render_data(op, result)
