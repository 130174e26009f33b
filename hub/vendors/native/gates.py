"""The scenic-spot gate API (``/api/v1/gate/``, docs/rights.md "Gate protocol"): the native API's
signing scheme and envelope, answered by the one gateway service (hub.gateway.service.handle:
signature, timestamp, nonce, call record, rate limit) with the scenic spot's own native
credential; the services are rights.gates. Translation only, no database.

    POST verify                 {gate_id, request_no, code, people}
    GET  keys                   the public keys of offline tickets, by kid
    GET  revocations?since=…    vouchers refunded or deactivated since (RFC 3339)
    POST scans                  {gate_id, scans: [{scan_no, ticket, people, scanned_at}]}

Not a registered till dialect (the contract suites do not run till operations against it); it
shares the native adapter's code and its credentials (vendor ``native``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from urllib.parse import parse_qs

from django.http import HttpRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from hub.errors import DomainError, ParamError
from hub.gateway.base import MAX_BODY_BYTES
from hub.gateway.canonical import RESULT_FIELDS, TillCommand
from hub.gateway.jsonio import loads_object
from hub.vendors.native import endpoints
from hub.vendors.native.adapter import NativeAdapter
from hub.vendors.native.fields import Fields

MAX_SCANS = 500
SCANS_MAX_BODY_BYTES = 512 * 1024
SCAN_FIELDS = ("scan_no", "ticket", "people", "scanned_at")


@dataclass(frozen=True)
class GateEndpoint:
    op: str
    method: str
    route: str
    fields: tuple[str, ...]

    def path(self, request_no: str = "") -> str:
        return self.route


ENDPOINTS = {ep.op: ep for ep in (
    GateEndpoint("gate_verify", "POST", "verify", ("gate_id", "request_no", "code", "people")),
    GateEndpoint("gate_keys", "GET", "keys", ()),
    GateEndpoint("gate_revocations", "GET", "revocations", ()),
    GateEndpoint("gate_scans", "POST", "scans", ("gate_id", "scans")),
)}


def _scan(item, i: int) -> dict:
    """One scan read strictly; a bad one becomes {"scan_no", "error"} and is refused alone."""
    where = f"scans[{i}]."
    scan_no = item.get("scan_no") if isinstance(item, dict) and isinstance(item.get("scan_no"), str) else ""
    try:
        f = Fields(item, allowed=SCAN_FIELDS, where=where)
        return {"scan_no": f.code("scan_no"), "ticket": f.text("ticket", max_len=1024),
                "people": f.integer("people", minimum=1, maximum=99), "scanned_at": f.time("scanned_at")}
    except DomainError as error:
        return {"scan_no": scan_no[:64], "error": error}


class GateAdapter(NativeAdapter):
    mount = "api/v1/gate/"
    ops = frozenset(ENDPOINTS)
    max_body_bytes = SCANS_MAX_BODY_BYTES

    def __init__(self, *, prefix: str = "/" + mount, **kwargs):
        super().__init__(prefix=prefix, **kwargs)

    def get_urls(self, view) -> list:
        return [path(ep.route, view, {"op": ep.op}, name=f"gate-{ep.route}") for ep in ENDPOINTS.values()]

    def endpoint_of(self, op: str):
        return ENDPOINTS.get(op)

    def body_limit(self, op: str) -> int:
        return SCANS_MAX_BODY_BYTES if op == "gate_scans" else MAX_BODY_BYTES

    def parse_command(self, request: HttpRequest, op: str, body: bytes, path_no: str) -> TillCommand:
        query = request.META.get("QUERY_STRING", "")
        if ENDPOINTS[op].method == "GET":
            if body:
                raise ParamError("GET 请求不应有请求体")
            if op == "gate_revocations" and query:
                params = parse_qs(query, keep_blank_values=True, strict_parsing=False)
                if set(params) != {"since"} or len(params["since"]) != 1:
                    raise ParamError("不支持的查询参数（仅 since）")
                since = Fields({"since": params["since"][0]}, allowed=("since",)).time("since")
                return TillCommand(op=op, extra={"since": since})
            if query:
                raise ParamError("不支持查询参数")
            return TillCommand(op=op, extra={"since": None})
        if query:
            raise ParamError("不支持查询参数")
        f = Fields(loads_object(body), allowed=ENDPOINTS[op].fields)
        gate_id = f.code("gate_id", max_len=32)
        if op == "gate_verify":
            return TillCommand(op=op, request_no=f.code("request_no"), extra={
                "gate_id": gate_id, "code": f.text("code", max_len=1024),
                "people": f.integer("people", minimum=1, maximum=99, required=False) or 1})
        scans = f.data.get("scans")
        if not isinstance(scans, list) or not 1 <= len(scans) <= MAX_SCANS:
            raise ParamError(f"参数格式错误：scans（1 至 {MAX_SCANS} 条）")
        return TillCommand(op=op, extra={"gate_id": gate_id, "scans": [_scan(item, i) for i, item in enumerate(scans)]})

    def render_data(self, op: str, result: dict) -> dict:
        return {name: endpoints._jsonable(name, result[name]) for name in RESULT_FIELDS[op]
                if result.get(name) is not None}

    def build_fields(self, command: TillCommand, *, sent_at) -> dict | None:
        if ENDPOINTS[command.op].method == "GET":
            return None
        if command.op == "gate_verify":
            return {"gate_id": command.extra["gate_id"], "request_no": command.request_no,
                    "code": command.extra["code"], "people": command.extra.get("people", 1)}
        return {"gate_id": command.extra["gate_id"], "scans": command.extra["scans"]}


@cache
def adapter() -> GateAdapter:
    return GateAdapter()


def urlpatterns() -> list:
    from hub.gateway.registry import gateway_view

    return adapter().get_urls(csrf_exempt(partial(gateway_view, adapter=adapter())))
