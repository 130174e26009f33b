"""Scenic-spot gates (景区核销): online verify, offline tickets' keys and revocations, the upload
of offline scans, and the exceptions operations resolve.

A scenic spot is a merchant with gates (``Gate``: a code, the ``gate_id``, and a terminal whose
store is the entrance) and its own native credential; the gate API (``/api/v1/gate/``, the native
signing scheme, hub.vendors.native.gates) names the merchant by that credential, never by a field.

- ``verify``: a gate online scans a display code (``97…``), an offline ticket (``LBQ2.…``) or a
  voucher reference and asks whether to admit ``people``: the write-off is
  ``rights.redemption.redeem`` (the one home of a use) at the gate's terminal; the answer says
  admitted (right, people, valid day) or why not (``reason``: not_found, used — with when and at
  which gate — expired, not_yet_valid, wrong_site, deactivated, refund_in_progress,
  too_many_people, not_a_ticket, code_expired, quota, not_applicable). Idempotent per spot ×
  request number: a retry gets the first answer, details included, never "used".
- ``upload_scans``: an offline gate's scans, each with its scan number and the gate's scan time;
  each lands as a write-off dated at that time, or — the voucher already used at another gate,
  online or at a till, revoked, a bad ticket — as a ``GateException`` for operations, never a
  lost scan. Idempotent per scan.
- ``revocations``: the spot's vouchers deactivated or with a refund in progress since a time (by
  the reference the tickets carry); ``keys``: the published public keys (rights.tickets).
- ``hold_for_refund`` / ``end_refund_hold``: a refund of the voucher in progress (gates refuse it).
- ``resolve_exception``: operations close an exception with a resolution and a note.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from hub.errors import (
    DomainError,
    IdempotencyKeyReused,
    NoAuth,
    ParamError,
)
from rights import redemption, references, tickets, vouchers
from rights.models import (
    DisplayCode,
    Gate,
    GateCheck,
    GateException,
    Redemption,
    Right,
    Voucher,
    VoucherEvent,
    VoucherHold,
)
from rights.states import State, fingerprint
from rights.validity import TZ as SHANGHAI
from rights.validity import local_date

MAX_PEOPLE = 99
MAX_SCANS = 500
REVOCATION_OVERLAP = timedelta(minutes=5)  # late commits: the list repeats the last minutes of the previous one
Outcome = GateCheck.Outcome


def _check_request_no(value, name: str = "request_no") -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ParamError(f"参数格式错误：{name}（1 至 64 个字符）")
    return value


def _check_people(people) -> int:
    if isinstance(people, bool) or not isinstance(people, int) or not 1 <= people <= MAX_PEOPLE:
        raise ParamError(f"参数格式错误：people（1 至 {MAX_PEOPLE} 的整数）")
    return people


def gate_of(*, merchant, gate_code: str) -> Gate:
    """The merchant's active gate ``gate_code``; NO_AUTH for another merchant's or an unknown one."""
    if not isinstance(gate_code, str) or not gate_code:
        raise ParamError("缺少参数：gate_id")
    gate = Gate.objects.select_related("terminal__store").filter(merchant=merchant, code=gate_code, active=True).first()
    if gate is None or not gate.terminal.active or not gate.terminal.store.active:
        raise NoAuth("闸机不存在、未启用或不属于该景区")
    return gate


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()  # only inside a keyed fingerprint, never stored alone


def _refusal(code: str, reason: str, message: str | None = None, **detail) -> DomainError:
    return DomainError(message, code=code, detail={"reason": reason, **detail})


# ---- naming the voucher ------------------------------------------------------------------------

def _named_voucher(code: str, merchant, *, now: datetime) -> Voucher:
    """The voucher a scanned code names, without using the code up (the write-off does that)."""
    if not isinstance(code, str) or not code or len(code) > tickets.MAX_TOKEN:
        raise ParamError("参数格式错误：code")
    if code.startswith(tickets.PREFIX + "."):
        try:
            payload = tickets.verify_ticket(code, tickets.public_keys())
        except tickets.TicketInvalid as exc:
            raise _refusal("VOUCHER_NOT_FOUND", "not_found", exc.message) from None
        if payload["site"] != merchant.code:
            raise _refusal("RIGHT_NOT_APPLICABLE", "wrong_site", "该门票不属于本景区")
        voucher = references.resolve_reference(payload["voucher"], merchant)
    elif vouchers.DISPLAY_RE.match(code):
        row = DisplayCode.objects.filter(digest=vouchers.display_code_digest(code)).select_related("voucher").first()
        voucher = row.voucher if row is not None else None
    else:
        voucher = references.resolve_reference(code, merchant)
    if voucher is None:
        raise _refusal("VOUCHER_NOT_FOUND", "not_found", "凭证不存在或不属于本景区")
    return voucher


def open_hold(voucher_id: int) -> VoucherHold | None:
    return VoucherHold.objects.filter(voucher_id=voucher_id, ended_at__isnull=True).first()


def _precheck(voucher: Voucher, merchant, people: int) -> Right:
    right = Right.objects.get(pk=voucher.right_id)
    if not right.providers.filter(pk=merchant.pk).exists():
        raise _refusal("RIGHT_NOT_APPLICABLE", "wrong_site", "该门票不属于本景区")
    if right.kind != Right.Kind.SCENIC_TICKET:
        raise _refusal("RIGHT_NOT_APPLICABLE", "not_a_ticket", "该凭证不是景区门票")
    if open_hold(voucher.pk) is not None:
        raise _refusal("VOUCHER_EXPIRED", "refund_in_progress", "该门票正在退款，暂不可用")
    if people > (right.people or 1):
        raise _refusal("RIGHT_NOT_APPLICABLE", "too_many_people", f"该门票最多可入园 {right.people or 1} 人",
                       people_allowed=right.people or 1)
    return right


def first_use(voucher_id: int) -> Redemption | None:
    return (Redemption.objects.filter(voucher_id=voucher_id, kind=Redemption.Kind.USE,
                                      status__in=[Redemption.Status.SUCCESS, Redemption.Status.RESERVED])
            .order_by("pk").first())


def _used_detail(voucher_id: int) -> dict:
    """When and where the voucher was used: the gate's id and name, or the store of a till."""
    use = first_use(voucher_id)
    if use is None:
        return {}
    detail = {"used_at": use.created_at}
    gate = Gate.objects.filter(terminal_id=use.terminal_id).first() if use.terminal_id else None
    if gate is not None:
        detail.update(used_gate_id=gate.code, used_gate_name=gate.name)
    elif use.store_id:
        detail["used_place"] = use.store.name if use.store else ""
    return detail


def _explain(error: DomainError, voucher_id: int | None, *, now: datetime) -> DomainError:
    """The write-off's refusal in the gate's words (a reason and, for a used voucher, where and when)."""
    if isinstance(error, ParamError | IdempotencyKeyReused):
        return error
    voucher = Voucher.objects.filter(pk=voucher_id).first() if voucher_id else None
    if error.code == "VOUCHER_USED":
        return _refusal("VOUCHER_USED", "used", "该门票已使用", **(_used_detail(voucher_id) if voucher_id else {}))
    if error.code == "VOUCHER_EXPIRED":
        if voucher is not None and voucher.state == State.DEACTIVATED:
            return _refusal("VOUCHER_EXPIRED", "deactivated", "该门票已作废")
        if voucher is not None and voucher.state in (State.PENDING, State.AVAILABLE) and voucher.expires_at > now:
            return _refusal("VOUCHER_EXPIRED", "code_expired", error.message)  # the display code, not the voucher
        return _refusal("VOUCHER_EXPIRED", "expired", "该门票已过期")
    if error.code == "RIGHT_NOT_APPLICABLE" and voucher is not None and voucher.valid_from > now:
        return _refusal("RIGHT_NOT_APPLICABLE", "not_yet_valid", "该门票尚未生效",
                        valid_from=voucher.valid_from)
    if error.code == "QUOTA_EXHAUSTED":
        return _refusal("QUOTA_EXHAUSTED", "quota", error.message)
    if error.code == "VOUCHER_NOT_FOUND":
        return _refusal("VOUCHER_NOT_FOUND", "not_found", error.message)
    return _refusal(error.code, "not_applicable", error.message)


def _write_off(*, gate: Gate, merchant, request_no: str, code: str | None, voucher: Voucher,
               now: datetime) -> dict:
    """The one write-off (rights.redemption) at the gate's terminal; its refusals explained."""
    try:
        if code is not None and vouchers.DISPLAY_RE.match(code):
            return redemption.redeem(merchant=merchant, store=gate.terminal.store, terminal=gate.terminal,
                                     request_no=request_no, display_code=code, now=now)
        return redemption.redeem(merchant=merchant, store=gate.terminal.store, terminal=gate.terminal,
                                 request_no=request_no, voucher=voucher, now=now)
    except DomainError as error:
        raise _explain(error, voucher.pk, now=now) from None


def _admitted(*, gate: Gate, request_no: str, right: Right, voucher: Voucher, people: int, now: datetime) -> dict:
    return {"request_no": request_no, "status": "ADMITTED", "gate_id": gate.code, "right_code": right.code,
            "right_name": right.name, "people": people, "valid_day": local_date(now),
            "valid_until": local_date(voucher.expires_at - timedelta(microseconds=1))}


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).isoformat(timespec="seconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _replay(existing: GateCheck, fp: str) -> dict:
    if existing.fingerprint != fp:
        raise IdempotencyKeyReused()
    answer = existing.answer
    if answer["code"] != "SUCCESS":
        raise DomainError(answer["message"], code=answer["code"], detail=answer["data"])
    return answer["data"]


# ---- online verify ------------------------------------------------------------------------------

def verify(*, merchant, gate_code: str, request_no: str, code: str, people: int = 1,
           now: datetime | None = None) -> dict:
    """在线核验: admit ``people`` with the voucher ``code`` names, writing it off at the gate;
    raises the refusal (with ``detail.reason``). The same request number answers the same."""
    now = now or timezone.now()
    gate = gate_of(merchant=merchant, gate_code=gate_code)
    request_no = _check_request_no(request_no)
    people = _check_people(people)
    if not isinstance(code, str) or not code or len(code) > tickets.MAX_TOKEN:
        raise ParamError("参数格式错误：code")
    fp = fingerprint("gate.verify", gate=gate.pk, code=_code_digest(code), people=people)
    existing = GateCheck.objects.filter(merchant=merchant, request_no=request_no).first()
    if existing is not None:
        return _replay(existing, fp)
    try:
        with transaction.atomic():
            voucher, result, error, use = None, None, None, None
            try:
                voucher = _named_voucher(code, merchant, now=now)
                right = _precheck(voucher, merchant, people)
                use = _write_off(gate=gate, merchant=merchant, request_no=request_no, code=code, voucher=voucher,
                                 now=now)
                result = _admitted(gate=gate, request_no=request_no, right=right, voucher=voucher, people=people,
                                   now=now)
            except (ParamError, IdempotencyKeyReused):
                raise
            except DomainError as refusal:
                error = refusal
            _record(merchant=merchant, gate=gate, request_no=request_no, mode=GateCheck.Mode.ONLINE, fp=fp,
                    voucher=voucher, people=people, scanned_at=now, now=now, result=result, error=error,
                    redemption_request_no=request_no if use is not None else None)
    except IntegrityError:  # the same request number committed concurrently: answer as it did
        existing = GateCheck.objects.filter(merchant=merchant, request_no=request_no).first()
        if existing is None:
            raise
        return _replay(existing, fp)
    if error is not None:
        raise DomainError(error.message, code=error.code, detail=_jsonable({"request_no": request_no, **error.detail}))
    return _jsonable(result)


def _record(*, merchant, gate, request_no, mode, fp, voucher, people, scanned_at, now, result, error,
            redemption_request_no, outcome: str | None = None) -> GateCheck:
    if error is None:
        answer = {"code": "SUCCESS", "message": "成功", "data": _jsonable(result)}
        code, reason = "SUCCESS", ""
    else:
        answer = {"code": error.code, "message": error.message,
                  "data": _jsonable({"request_no": request_no, **error.detail})}
        code, reason = error.code, str(error.detail.get("reason", ""))
    use = (Redemption.objects.filter(merchant=merchant, request_no=redemption_request_no).first()
           if redemption_request_no else None)
    with transaction.atomic():
        return GateCheck.objects.create(
            merchant=merchant, gate=gate, request_no=request_no, mode=mode, fingerprint=fp, voucher=voucher,
            people=people, scanned_at=scanned_at, received_at=now,
            outcome=outcome or (Outcome.ADMITTED if error is None else Outcome.REFUSED), code=code, reason=reason,
            answer=answer, redemption=use)


# ---- offline scans --------------------------------------------------------------------------------

SCAN_FIELDS = ("scan_no", "ticket", "people", "scanned_at")


def _scan_time(value, *, now: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ParamError("参数格式错误：scanned_at（RFC 3339，带时区）")
    if value > now + timedelta(seconds=settings.BUSINESS_TIME_SKEW_SECONDS):
        raise ParamError("参数超出范围：scanned_at（晚于当前时间）")
    if value < now - timedelta(days=settings.STORE_AND_FORWARD_DAYS):
        raise ParamError(f"参数超出范围：scanned_at（早于离线补传期限 {settings.STORE_AND_FORWARD_DAYS} 天）")
    return value


_EXCEPTION_KIND = {"used": GateException.Kind.DOUBLE_USE, "deactivated": GateException.Kind.REVOKED,
                   "refund_in_progress": GateException.Kind.REVOKED, "not_found": GateException.Kind.INVALID,
                   "wrong_site": GateException.Kind.INVALID}


def _land_scan(*, gate: Gate, merchant, scan: dict, now: datetime) -> dict:
    scan_no = _check_request_no(scan.get("scan_no"), "scan_no")
    people = _check_people(scan.get("people"))
    ticket = scan.get("ticket")
    if not isinstance(ticket, str) or not ticket or len(ticket) > tickets.MAX_TOKEN:
        raise ParamError("参数格式错误：ticket")
    scanned_at = _scan_time(scan.get("scanned_at"), now=now)
    fp = fingerprint("gate.scan", gate=gate.pk, ticket=_code_digest(ticket), people=people,
                     scanned_at=scanned_at.isoformat())
    existing = GateCheck.objects.filter(merchant=merchant, request_no=scan_no).first()
    if existing is not None:
        if existing.fingerprint != fp:
            raise IdempotencyKeyReused()
        return existing.answer["data"]
    try:
        with transaction.atomic():
            voucher, error, use = None, None, None
            try:
                voucher = _named_voucher(ticket, merchant, now=scanned_at)
                _precheck(voucher, merchant, people)
                use = _write_off(gate=gate, merchant=merchant, request_no=scan_no, code=None, voucher=voucher,
                                 now=scanned_at)
            except (ParamError, IdempotencyKeyReused):
                raise
            except DomainError as refusal:
                error = refusal
            if error is None:
                result = {"scan_no": scan_no, "status": "WRITTEN_OFF", "right_code": use["right_code"]}
            else:
                reason = error.detail.get("reason", "")
                kind = _EXCEPTION_KIND.get(reason, GateException.Kind.REFUSED)
                result = {"scan_no": scan_no, "status": "EXCEPTION", "kind": kind, "reason": reason}
            check = _record(merchant=merchant, gate=gate, request_no=scan_no, mode=GateCheck.Mode.OFFLINE, fp=fp,
                            voucher=voucher, people=people, scanned_at=scanned_at, now=now, result=result,
                            error=None, redemption_request_no=scan_no if use is not None else None,
                            outcome=Outcome.ADMITTED if error is None else Outcome.EXCEPTION)
            if error is not None:
                check.reason = str(error.detail.get("reason", ""))
                check.save(update_fields=["reason"])
                prior = first_use(voucher.pk) if voucher is not None and kind == GateException.Kind.DOUBLE_USE else None
                GateException.objects.create(scan=check, kind=kind, voucher=voucher, first_use=prior,
                                             detail=error.message[:200], created_at=now)
            return check.answer["data"]
    except IntegrityError:
        existing = GateCheck.objects.filter(merchant=merchant, request_no=scan_no).first()
        if existing is None:
            raise
        if existing.fingerprint != fp:
            raise IdempotencyKeyReused() from None
        return existing.answer["data"]


def upload_scans(*, merchant, gate_code: str, scans: list, now: datetime | None = None) -> dict:
    """批量上传离线扫码: each scan lands (a write-off dated at its scan time) or becomes an
    exception; a bad scan is refused alone. Returns one result per scan, in order."""
    now = now or timezone.now()
    gate = gate_of(merchant=merchant, gate_code=gate_code)
    if not isinstance(scans, list) or not 1 <= len(scans) <= MAX_SCANS:
        raise ParamError(f"参数格式错误：scans（1 至 {MAX_SCANS} 条）")
    results = []
    for i, scan in enumerate(scans):
        scan_no = scan.get("scan_no", "") if isinstance(scan, dict) else ""
        try:
            if not isinstance(scan, dict):
                raise ParamError(f"参数格式错误：scans[{i}]")
            if isinstance(scan.get("error"), DomainError):
                raise scan["error"]
            data = _land_scan(gate=gate, merchant=merchant, scan=scan, now=now)
            results.append({"scan_no": scan_no, "code": "SUCCESS", "message": "成功", "data": data})
        except DomainError as refusal:
            results.append({"scan_no": scan_no if isinstance(scan_no, str) else "", "code": refusal.code,
                            "message": refusal.message, "data": {}})
    return {"gate_id": gate.code, "items": results}


# ---- keys and revocations ----------------------------------------------------------------------

def keys() -> dict:
    return {"keys": [{"kid": kid, "alg": "Ed25519", "public_key": key} for kid, key in tickets.public_keys().items()]}


def revocations(*, merchant, since: datetime | None = None, now: datetime | None = None) -> dict:
    """The spot's vouchers (by the reference its tickets carry) that gates must refuse: deactivated,
    or with a refund in progress, since ``since`` (all still unexpired ones when None). ``until`` is
    the ``since`` of the next call; the last minutes are repeated, so a gate dedupes."""
    now = now or timezone.now()
    rights = Right.objects.filter(providers=merchant, kind=Right.Kind.SCENIC_TICKET)
    live = Q(voucher__right__in=rights, voucher__expires_at__gt=now)
    events = VoucherEvent.objects.filter(live, action="deactivate")
    holds = VoucherHold.objects.filter(live)
    holds = holds.filter(ended_at__isnull=True)
    if since is not None:
        events = events.filter(at__gte=since - REVOCATION_OVERLAP)
        holds = holds.filter(started_at__gte=since - REVOCATION_OVERLAP)
    items = [(e.at, e.voucher_id, "deactivated") for e in events.only("at", "voucher_id")]
    items += [(h.started_at, h.voucher_id, "refund_in_progress") for h in holds.only("started_at", "voucher_id")]
    items.sort()
    return {"until": now, "items": [
        {"voucher": references.voucher_reference(voucher_id, merchant), "reason": reason, "at": _jsonable(at)}
        for at, voucher_id, reason in items]}


# ---- refund holds and exceptions (operations) ----------------------------------------------------

@transaction.atomic
def hold_for_refund(*, voucher: Voucher, actor=None, reason: str, now: datetime | None = None) -> VoucherHold:
    """A refund of the voucher has begun: gates refuse it and list it as revoked until it ends."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ParamError("须填写退款原因")
    voucher = Voucher.objects.select_for_update().get(pk=voucher.pk)
    if voucher.state not in (State.PENDING, State.AVAILABLE):
        raise ParamError("凭证当前状态不能退款")
    existing = open_hold(voucher.pk)
    if existing is not None:
        return existing
    return VoucherHold.objects.create(voucher=voucher, reason=reason[:200], actor=actor if getattr(actor, "pk", None)
                                      else None, started_at=now)


@transaction.atomic
def end_refund_hold(*, voucher: Voucher, actor=None, refunded: bool, now: datetime | None = None) -> None:
    """The refund finished (the voucher is deactivated, with the hold's reason) or was cancelled."""
    now = now or timezone.now()
    hold = VoucherHold.objects.select_for_update().filter(voucher=voucher, ended_at__isnull=True).first()
    if hold is None:
        raise ParamError("该凭证没有进行中的退款")
    hold.ended_at = now
    hold.save(update_fields=["ended_at"])
    if refunded:
        vouchers.deactivate(voucher=voucher, actor=actor, reason=f"退款：{hold.reason}"[:200], now=now)


def resolve_exception(*, exception: GateException, actor, resolution: str, note: str,
                      now: datetime | None = None) -> GateException:
    """运营处理闸机异常: a resolution and a note, by a named operator, once."""
    now = now or timezone.now()
    note = (note or "").strip()
    if resolution not in GateException.Resolution.values:
        raise ParamError("处理结果无效")
    if not note:
        raise ParamError("须填写处理说明")
    if not getattr(actor, "pk", None):
        raise NoAuth("须由具名操作员处理")
    with transaction.atomic():
        row = GateException.objects.select_for_update().get(pk=exception.pk)
        if row.status != GateException.Status.OPEN:
            raise ParamError("该异常已处理")
        row.status, row.resolution, row.note = GateException.Status.RESOLVED, resolution, note[:200]
        row.resolved_by, row.resolved_at = actor, now
        row.save(update_fields=["status", "resolution", "note", "resolved_by", "resolved_at"])
    return row

