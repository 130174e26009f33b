"""Member reads that are more than a queryset: finding a member by a credential."""

from __future__ import annotations

from django.db import connection

from hub.db import Lookup, fetch_prepared
from hub.errors import MemberNotFound, ParamError
from members import vault
from members.models import Member, Tier, VendorMemberLink
from members.validation import (
    EXTERNAL_ID_TAKEN,
    MEMBER_ALREADY_LINKED,
    clean_external_id,
    clean_mobile,
    clean_postal_no,
)


def find_member(
    *, mobile: str | None = None, postal_no: str | None = None, merchant=None, external_id: str | None = None
) -> Member | None:
    """The member identified by exactly one credential, or ``None``.

    - ``mobile``: exact match through the blind index (the mobile itself is never queried);
    - ``postal_no``: the postal member number;
    - ``merchant`` + ``external_id``: the member's card number in that merchant's software,
      through the merchant's *active* vendor member link (an ended link identifies nobody).

    Malformed credentials raise ``ParamError``.
    """
    given = [mobile is not None, postal_no is not None, merchant is not None or external_id is not None]
    if sum(given) != 1:
        raise ParamError("请提供且只提供一种会员凭证（手机号、邮政会员号或商户会员卡号）")
    members = Member.objects.select_related("tier")
    if mobile is not None:
        # every key of the blind-index ring: a row not yet reindexed after a key change is found
        indexes = vault.blind_indexes(clean_mobile(mobile), purpose="mobile")
        return members.filter(mobile_index__in=indexes).first()
    if postal_no is not None:
        return members.filter(postal_no=clean_postal_no(postal_no)).first()
    if merchant is None or getattr(merchant, "pk", None) is None:
        raise ParamError("按商户会员卡号查询时必须指定商户")
    link = (
        VendorMemberLink.objects.select_related("member__tier")
        .filter(merchant=merchant, external_id=clean_external_id(external_id), unlinked_at__isnull=True)
        .first()
    )
    return link.member if link else None


def get_member_by_credential(
    *, mobile: str | None = None, postal_no: str | None = None, merchant=None, external_id: str | None = None
) -> Member:
    """Like ``find_member`` but raises ``MemberNotFound`` for no member or a closed (注销) one."""
    member = find_member(mobile=mobile, postal_no=postal_no, merchant=merchant, external_id=external_id)
    if member is None or member.status == Member.Status.CLOSED:
        raise MemberNotFound()
    return member


def active_link(*, merchant, external_id: str) -> VendorMemberLink | None:
    """The active link of this card number at this merchant, if any."""
    return (
        VendorMemberLink.objects.select_related("member")
        .filter(merchant=merchant, external_id=external_id, unlinked_at__isnull=True)
        .first()
    )


def link_conflict(*, member: Member, merchant, external_id: str) -> str | None:
    """Why ``member`` cannot be linked to ``external_id`` at ``merchant`` now, or ``None``.

    Linking the very same card to the same member again is no conflict (it is idempotent).
    """
    same_card = active_link(merchant=merchant, external_id=external_id)
    if same_card is not None:
        return None if same_card.member_id == member.pk else EXTERNAL_ID_TAKEN
    others = VendorMemberLink.objects.filter(merchant=merchant, member=member, unlinked_at__isnull=True)
    return MEMBER_ALREADY_LINKED if others.exists() else None


_PII = ("name", "mobile", "id_number")


def _members_sql(where: str, extra, with_pii: bool) -> tuple[list, list, tuple, str]:
    fields = [f for f in Member._meta.concrete_fields if with_pii or f.name not in _PII]
    tier_fields = list(Tier._meta.concrete_fields)
    columns = [f"m.{f.column}" for f in fields] + [f"t.{f.column}" for f in tier_fields]
    extras = (extra,) if isinstance(extra, str) else tuple(extra or ())
    columns.extend(extras)
    sql = f"SELECT {', '.join(columns)} FROM members_member m JOIN members_tier t ON t.id = m.tier_id {where}"
    return fields, tier_fields, extras, sql


def lookup_members(where: str, params: list, *, extra: str | tuple[str, ...] | None = None,
                   with_pii: bool = False) -> Lookup:
    """The very statement ``load_members`` sends for these arguments, to be read ahead
    (``hub.db.read_ahead``; ``where`` must find at most one member)."""
    fields, tier_fields, extras, sql = _members_sql(where, extra, with_pii)
    return Lookup(sql, tuple(params), len(fields) + len(tier_fields) + len(extras))


def load_members(where: str, params: list, *, extra: str | tuple[str, ...] | None = None,
                 with_pii: bool = False) -> list:
    """Members with their tier in one raw query (the till's hot path cannot afford the ORM's
    query building). ``where`` follows ``FROM members_member m JOIN members_tier t``; with
    ``extra`` each item is (member, extra value), or (member, (values...)) for a tuple of extra
    columns. Encrypted fields are decrypted only when
    ``with_pii``; otherwise they are deferred and load on first access like any deferred field.
    """
    fields, tier_fields, extras, sql = _members_sql(where, extra, with_pii)
    out = []
    rows = fetch_prepared(sql, params)  # the till's hot path: planned once per connection
    for row in rows:
        values = [f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
                  for f, v in zip(fields, row, strict=False)]
        member = Member.from_db("default", [f.attname for f in fields], values)
        member.tier = Tier.from_db("default", [f.attname for f in tier_fields], row[len(fields):len(fields) + len(tier_fields)])
        if not extras:
            out.append(member)
        else:
            tail = row[len(row) - len(extras):]
            out.append((member, tail[0] if isinstance(extra, str) else tuple(tail)))
    return out
