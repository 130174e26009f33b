"""Shared pieces of the till services: agreements, fingerprints, the operation row, replays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime

from django.conf import settings

from hub.db import Lookup, load_prepared, lookup_prepared
from hub.errors import DomainError, IdempotencyKeyReused, NoAuth, OrderReversed, ParamError
from points import rules
from points.models import Agreement, Campaign, Operation, Program

MAX_POINTS = 10**10
RETRIES = 20  # guarded writes: each conflict means another request on the same original committed first
MAX_FEN = 10**12
LATER_ANSWERS = "later_answers"  # in an operation's result: the first answers of confirm / unfreeze
_AGREEMENT_TTL = 30.0  # seconds an agreement stays cached in a worker process
_agreements: dict[tuple, tuple[float, Agreement, list]] = {}


def clear_caches() -> None:
    _agreements.clear()
    _programs.clear()


def agreement_for(merchant, program=None, *, now: datetime | None = None) -> tuple[Agreement, list[Campaign]]:
    """The merchant's active agreement for ``program`` (its default program when None), with the
    campaigns that may apply, cached briefly per process (till hot path)."""
    key = (merchant.pk, program.pk if program is not None else None)
    cached = _agreements.get(key)
    mono = time.monotonic()
    if cached and mono - cached[0] < _AGREEMENT_TTL:
        return cached[1], cached[2]
    qs = Agreement.objects.select_related("program", "program__issuer").filter(merchant=merchant, active=True)
    agreement = qs.filter(program=program).first() if program is not None else qs.filter(is_default=True).first()
    if agreement is None:
        raise NoAuth("商户未签署该积分计划的受理协议")
    campaigns = list(agreement.campaigns.all())
    _agreements[key] = (mono, agreement, campaigns)
    return agreement, campaigns


_programs: dict[int, tuple[float, Program]] = {}


def program_by_id(pk: int) -> Program:
    """A program, cached briefly per process like agreements."""
    cached = _programs.get(pk)
    mono = time.monotonic()
    if cached and mono - cached[0] < _AGREEMENT_TTL:
        return cached[1]
    program = Program.objects.select_related("issuer").get(pk=pk)
    _programs[pk] = (mono, program)
    return program


def check_points(points, *, name: str = "积分") -> int:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0 or points > MAX_POINTS:
        raise ParamError(f"{name}必须为正整数")
    return points


def check_fen(amount, *, name: str = "金额", allow_zero: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0 or amount > MAX_FEN or (amount == 0 and not allow_zero):
        raise ParamError(f"{name}必须为{'非负' if allow_zero else '正'}整数（分）")
    return amount


def canonical_content(kind: str, **fields) -> bytes:
    """The bytes a fingerprint signs: the operation and its fields, as sorted compact JSON."""
    return json.dumps({"kind": kind, **fields}, sort_keys=True, default=str, separators=(",", ":")).encode()


def _hmac(key: str, content: bytes) -> str:
    digest = hmac.new(key.encode(), content, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()  # 43 characters: never a legacy hex digest


def fingerprint(kind: str, **fields) -> str:
    """A keyed digest (HMAC-SHA256 with ``settings.FINGERPRINT_KEY``) of what a
    request asks for; the same request number must come with the same one. Keyed, so that the
    stored value cannot be brute-forced back to its content (fields name members by id anyway)."""
    return _hmac(settings.FINGERPRINT_KEY, canonical_content(kind, **fields))


def _site(store, terminal) -> dict:
    return {"store": getattr(store, "pk", None), "terminal": getattr(terminal, "pk", None)}


def earn_fingerprint(*, member_id, amount_fen: int, business_time: datetime | None, store, terminal) -> str:
    """What makes two earns with one number the same request (single or in a batch alike)."""
    return fingerprint("earn", member=member_id, amount_fen=amount_fen,
                       business_time=business_time.isoformat() if business_time is not None else None,
                       **_site(store, terminal))


def spend_fingerprint(kind: str, *, member_id, points: int, stated_amount_fen: int | None,
                      sale_amount_fen: int | None, store, terminal) -> str:
    """The same for redeem and freeze: the sale amount decides the redemption limit."""
    return fingerprint(kind, member=member_id, points=points, amount_fen=stated_amount_fen, sale=sale_amount_fen,
                       **_site(store, terminal))


def op_row(*, merchant, store, terminal, member, program, request_no: str, kind: str, status: str,
           fp: str, now: datetime, points: int = 0, amount_fen: int = 0, original_id: int | None = None,
           hold_expires_at: datetime | None = None, business_time: datetime | None = None) -> dict:
    if not request_no or len(request_no) > 64:
        raise ParamError("请求单号不能为空且不超过 64 个字符")
    return {
        "merchant_id": merchant.pk,
        "request_no": request_no,
        "kind": kind,
        "status": status,
        "fingerprint": fp,
        "store_id": store.pk if store is not None else None,
        "terminal_id": terminal.pk if terminal is not None else None,
        "member_id": member.pk if member is not None else None,
        "program_id": program.pk if program is not None else None,
        "original_id": original_id,
        "points": points,
        "amount_fen": amount_fen,
        "hold_expires_at": hold_expires_at.isoformat() if hold_expires_at else None,
        "business_time": (business_time or now).isoformat(),
        "business_date": rules.business_date(business_time or now).isoformat(),
    }


def raise_recorded(code: str, result: dict | None) -> None:
    message = (result or {}).get("message")
    raise DomainError(message, code=code)


def first_answer(result: dict | None) -> dict | None:
    """The answer stored for the request itself (without later steps' answers)."""
    if isinstance(result, dict) and LATER_ANSWERS in result:
        return {k: v for k, v in result.items() if k != LATER_ANSWERS}
    return result


def outcome(res: dict, *, fp: str, kind: str) -> dict:
    """Turn points_apply's answer into the result, replaying or refusing as recorded: a tombstone
    or a reversed request answers ORDER_REVERSED, other content IDEMPOTENCY_KEY_REUSED, a
    recorded refusal itself, a success its first answer."""
    if res.get("replay"):
        if res["kind"] == Operation.Kind.TOMBSTONE:
            raise OrderReversed("该交易已冲正，原交易不再受理")
        if res["fingerprint"] != fp or res["kind"] != kind:
            raise IdempotencyKeyReused()
        if res["status"] == Operation.Status.REFUSED:
            raise_recorded(res["error_code"], res["result"])
        if res["status"] == Operation.Status.REVERSED:
            raise OrderReversed("该交易已冲正")
        return first_answer(res["result"])
    if res.get("error_code"):
        raise DomainError(code=res["error_code"])
    return res["result"]


def replay(op: Operation, *, fp: str, kind: str) -> dict:
    """The first answer of a request number the hub has seen (or its refusal), as points_apply
    would give it; content other than the first time's is IDEMPOTENCY_KEY_REUSED."""
    return outcome({"replay": True, "op_id": op.pk, "kind": op.kind, "status": op.status,
                    "fingerprint": op.fingerprint, "error_code": op.error_code, "result": op.result}, fp=fp, kind=kind)


def existing_operation(merchant, request_no: str, *, for_update: bool = False) -> Operation | None:
    """The operation of this merchant's request number, if the hub has seen it: every write of
    the till asks first, so it is one prepared statement (the ORM's filter().first() cost about
    3 ms per write to build, profiled by bench/till_http.py --profile)."""
    where = _BY_NUMBER + (" FOR UPDATE" if for_update else "")
    found = load_prepared(Operation, where, [getattr(merchant, "pk", merchant), request_no])
    return found[0] if found else None


_BY_NUMBER = "WHERE merchant_id = %s AND request_no = %s"


def operation_lookup(merchant_id: int, request_no: str) -> Lookup:
    """The statement ``existing_operation`` (without a lock) sends, for the gateway to read ahead
    (``hub.db.read_ahead``)."""
    return lookup_prepared(Operation, _BY_NUMBER, [merchant_id, request_no])
