"""The rights catalogue: create and edit rights, and their maker-checker workflow.

    draft ──submit──▶ pending_review ──approve (not by the maker)──▶ active ⇄ paused ──end──▶ ended
    pending_review ──reject──▶ draft

Every function is keyword-only, atomic and writes a ``RightHistory`` row. A right is edited only
in draft; once approved its terms are what the approver saw. Workflow moves are guarded updates
(``… WHERE status = <expected>``), so two operators racing get one winner and a clear message.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from hub.errors import NoAuth, ParamError
from rights.models import Right, RightHistory
from rights.validity import window

Kind = Right.Kind
Status = Right.Status

# the editable terms of a right (besides the many-to-many providers, stores and tiers)
TERMS = (
    "name", "kind", "description", "funder", "settlement_fen", "funded_share_bp", "rate_bp", "off_fen",
    "threshold_fen", "cap_fen", "people", "scenes", "requires_consent", "claim_mode", "claim_program",
    "claim_points", "grant_count", "grant_period", "valid_from", "valid_until", "valid_days", "weekdays",
    "stack_group", "exclusive", "return_on_refund", "total_limit", "daily_limit", "member_limit",
    "member_period_limit", "member_period", "store_daily_limit", "budget_fen",
)
_INTS = ("settlement_fen", "funded_share_bp", "rate_bp", "off_fen", "threshold_fen", "cap_fen", "people",
         "claim_points", "grant_count", "valid_days", "total_limit", "daily_limit", "member_limit",
         "member_period_limit", "store_daily_limit", "budget_fen")
_SCENES = {"supermarket", "market", "campus", "restaurant", "medical", "other"}


def _actor(actor):
    return actor if getattr(actor, "pk", None) else None


def _history(right: Right, action: str, actor, now: datetime, changes: dict | None = None, reason: str = "") -> None:
    RightHistory.objects.create(right=right, action=action, actor=_actor(actor), changes=changes or {},
                                reason=reason, at=now)


def validate_terms(right: Right, *, providers, stores) -> None:
    """Refuse terms that do not make a usable right, with a Chinese message naming the problem."""
    if not right.code or not right.name:
        raise ParamError("权益编码和名称不能为空")
    if right.kind not in Kind.values:
        raise ParamError("未知的权益类型")
    for name in _INTS:
        value = getattr(right, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ParamError(f"{Right._meta.get_field(name).verbose_name}必须为非负整数")
    if not providers:
        raise ParamError("至少指定一个提供方商户")
    provider_ids = {p.pk for p in providers}
    if any(store.merchant_id not in provider_ids for store in stores):
        raise ParamError("适用门店必须属于提供方商户")
    if right.funder_id is None:
        raise ParamError("必须指定出资方")
    if right.rate_bp is not None and not 0 < right.rate_bp < 10000:
        raise ParamError("折扣率须在 1 至 9999 基点之间（9500 = 95 折）")
    if right.funded_share_bp is not None and right.funded_share_bp > 10000:
        raise ParamError("出资比例不能超过 10000 基点")
    if any(scene not in _SCENES for scene in right.scenes or []):
        raise ParamError("未知的适用场景")
    if any(not isinstance(day, int) or not 1 <= day <= 7 for day in right.weekdays or []):
        raise ParamError("可用星期须为 1（周一）至 7（周日）")
    kind = right.kind
    if kind in (Kind.TIER_DISCOUNT, Kind.PERCENT_OFF) and right.rate_bp is None:
        raise ParamError("折扣类权益必须设置折扣率")
    if kind == Kind.AMOUNT_OFF and not right.off_fen:
        raise ParamError("满减券必须设置立减金额")
    if kind == Kind.AMOUNT_OFF and right.threshold_fen is not None and right.off_fen > right.threshold_fen > 0:
        raise ParamError("立减金额不能超过使用门槛")
    if kind == Kind.SCENIC_TICKET and not right.people:
        raise ParamError("景区门票必须设置每张可入园人数")
    if kind == Kind.TIER_DISCOUNT:
        if right.claim_mode != Right.ClaimMode.FREE:
            raise ParamError("会员折扣无需领取，领取方式须为免费")
        if right.settlement_fen is not None:
            raise ParamError("会员折扣按出资比例结算，不设每次结算价")
    elif right.settlement_fen is None and right.funded_share_bp is None:
        raise ParamError("必须设置每次核销结算价或出资比例")
    if right.claim_mode == Right.ClaimMode.POINTS and (right.claim_program_id is None or not right.claim_points):
        raise ParamError("积分兑换须指定积分计划和所需积分")
    if right.claim_mode == Right.ClaimMode.TIER_GRANT and (not right.grant_count or not right.grant_period):
        raise ParamError("按等级发放须设置每期张数和周期")
    if right.member_period_limit is not None and not right.member_period:
        raise ParamError("每人每期上限须指定周期")
    if right.is_voucher and right.valid_until is None and not right.valid_days:
        raise ParamError("权益凭证须设置有效期截止日或领取后有效天数")
    if right.valid_from and right.valid_until and right.valid_from >= right.valid_until:
        raise ParamError("有效期起须早于有效期止")


def _assign(right: Right, terms: dict) -> dict:
    unknown = set(terms) - set(TERMS) - {"valid_from_date", "valid_until_date"}
    if unknown:
        raise ParamError(f"未知字段：{', '.join(sorted(unknown))}")
    terms = dict(terms)
    if "valid_from_date" in terms or "valid_until_date" in terms:
        start, end = window(terms.pop("valid_from_date", None), terms.pop("valid_until_date", None))
        terms.setdefault("valid_from", start)
        terms.setdefault("valid_until", end)
    changes = {}
    for name, value in terms.items():
        old = getattr(right, name)
        if old != value:
            changes[name] = [_plain(old), _plain(value)]
            setattr(right, name, value)
    return changes


def _plain(value):
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@transaction.atomic
def create_right(*, code: str, name: str, kind: str, funder, providers, stores=(), tiers=(), actor=None,
                 now: datetime | None = None, **terms) -> Right:
    """A new right in draft. ``terms`` are the fields of ``TERMS``; a fixed window may be given
    as local days (``valid_from_date`` / ``valid_until_date``, both inclusive)."""
    now = now or timezone.now()
    if Right.objects.filter(code=code).exists():
        raise ParamError("权益编码已存在")
    right = Right(code=code, name=name, kind=kind, funder=funder, status=Status.DRAFT, created_by=_actor(actor))
    _assign(right, terms)
    providers, stores, tiers = list(providers), list(stores), list(tiers)
    validate_terms(right, providers=providers, stores=stores)
    right.save()
    right.providers.set(providers)
    right.stores.set(stores)
    right.tiers.set(tiers)
    _history(right, "create", actor, now, {"code": code, "kind": kind})
    return right


@transaction.atomic
def update_right(*, right: Right, actor=None, providers=None, stores=None, tiers=None,
                 now: datetime | None = None, **terms) -> Right:
    """Edit a right's terms: only in draft (send an active right back through review by ending
    it and creating a new one, so what was approved is what runs)."""
    now = now or timezone.now()
    right = Right.objects.select_for_update().get(pk=right.pk)
    if right.status != Status.DRAFT:
        raise ParamError("只有草稿状态的权益可以修改")
    changes = _assign(right, terms)
    providers = list(providers) if providers is not None else list(right.providers.all())
    stores = list(stores) if stores is not None else list(right.stores.all())
    validate_terms(right, providers=providers, stores=stores)
    right.save()
    right.providers.set(providers)
    right.stores.set(stores)
    if tiers is not None:
        right.tiers.set(list(tiers))
    _history(right, "update", actor, now, changes)
    return right


def _move(right: Right, *, frm: tuple[str, ...], to: str, action: str, actor, now: datetime, reason: str = "",
          **fields) -> Right:
    updated = Right.objects.filter(pk=right.pk, status__in=frm).update(status=to, updated_at=now, **fields)
    if not updated:
        current = Right.objects.filter(pk=right.pk).values_list("status", flat=True).first()
        label = dict(Status.choices).get(current, current)
        raise ParamError(f"权益当前状态为“{label}”，不能执行此操作")
    right = Right.objects.get(pk=right.pk)
    _history(right, action, actor, now, {"status": [list(frm), to]}, reason)
    return right


@transaction.atomic
def submit_for_review(*, right: Right, actor, now: datetime | None = None) -> Right:
    now = now or timezone.now()
    fresh = Right.objects.get(pk=right.pk)
    validate_terms(fresh, providers=list(fresh.providers.all()), stores=list(fresh.stores.all()))
    return _move(right, frm=(Status.DRAFT,), to=Status.PENDING_REVIEW, action="submit", actor=actor, now=now,
                 submitted_by=_actor(actor), submitted_at=now)


@transaction.atomic
def approve_right(*, right: Right, actor, now: datetime | None = None) -> Right:
    """The checker approves: never the maker nor the submitter (also a CHECK in the database)."""
    now = now or timezone.now()
    if _actor(actor) is None:
        raise NoAuth("审批须由具名操作员完成")
    fresh = Right.objects.get(pk=right.pk)
    if actor.pk in (fresh.created_by_id, fresh.submitted_by_id):
        raise NoAuth("不能审批自己创建或提交的权益")
    return _move(right, frm=(Status.PENDING_REVIEW,), to=Status.ACTIVE, action="approve", actor=actor, now=now,
                 approved_by=actor, approved_at=now)


@transaction.atomic
def reject_right(*, right: Right, actor, reason: str, now: datetime | None = None) -> Right:
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ParamError("退回须填写原因")
    fresh = Right.objects.get(pk=right.pk)
    if _actor(actor) is not None and actor.pk == fresh.submitted_by_id:
        raise NoAuth("不能审核自己提交的权益")
    return _move(right, frm=(Status.PENDING_REVIEW,), to=Status.DRAFT, action="reject", actor=actor, now=now,
                 reason=reason[:200], submitted_by=None, submitted_at=None)


@transaction.atomic
def pause_right(*, right: Right, actor, reason: str = "", now: datetime | None = None) -> Right:
    return _move(right, frm=(Status.ACTIVE,), to=Status.PAUSED, action="pause", actor=actor,
                 now=now or timezone.now(), reason=reason[:200])


@transaction.atomic
def resume_right(*, right: Right, actor, now: datetime | None = None) -> Right:
    return _move(right, frm=(Status.PAUSED,), to=Status.ACTIVE, action="resume", actor=actor, now=now or timezone.now())


@transaction.atomic
def end_right(*, right: Right, actor, reason: str = "", now: datetime | None = None) -> Right:
    """End a right for good: no more claims or uses; vouchers already held stay as they are."""
    now = now or timezone.now()
    return _move(right, frm=(Status.DRAFT, Status.PENDING_REVIEW, Status.ACTIVE, Status.PAUSED), to=Status.ENDED,
                 action="end", actor=actor, now=now, reason=reason[:200], ended_at=now)
