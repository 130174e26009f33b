"""How a call named the member, and what that naming allows.

A till names a member by what it sent: a dynamic member code, an opaque ref from identify, an
11-digit mobile or the merchant's own card number. ``MemberName.parse`` reads the shape only;
``resolve`` finds the member and says whether this naming is *strong* (may redeem without the
agreement's phone exception):

- a dynamic code is strong (the member is at the till with the mini-program); it is used up;
- a strong ref (what an identify by code returned) is strong at the terminal the code was shown
  at, for ``members.codes.STRONG_WINDOW``; after that, or elsewhere, it is weak;
- the stable ref, a mobile and a card number are weak, whatever the member did before: whoever
  identified the member by phone knows the stable ref too;
- ``MemberName.verified(member)`` is the hub's own naming (operations staff, demo seeding) and
  strong.

A mobile lookup needs the caller's permission (the agreement's ``allow_mobile_lookup``, passed
in as ``mobile_allowed``) and the member's active consent for that merchant; a lookup that finds
nobody (or nobody who consented) counts as a failed guess in the terminal's throttle, as a bad
member code does, and says only ``MEMBER_NOT_FOUND``.

``peek`` finds the member a naming stands for without any side effect (no code used up, no
throttle, no consent): only for recognising a retried request whose first answer is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from hub.db import Lookup
from hub.errors import MemberCodeExpired, MemberNotFound, NoAuth, ParamError
from hub.gateway.throttle import count_failed_guess, throttle_guess
from members import codes
from members.models import Consent, Member
from members.selectors import find_member, load_members, lookup_members

CODE = "code"
REF = "ref"
MOBILE = "mobile"
CARD = "card"
VERIFIED = "verified"


@dataclass(frozen=True)
class MemberName:
    """What a call sent to name the member (``kind`` one of the constants above)."""

    kind: str
    value: str = ""
    member: Member | None = None  # VERIFIED only

    @classmethod
    def parse(cls, raw: str | None) -> MemberName:
        value = (raw or "").strip()
        if not value:
            raise ParamError("缺少会员凭证")
        if codes.CODE_RE.match(value):
            return cls(CODE, value)
        if codes.REF_RE.match(value):
            return cls(REF, value)
        if codes.MOBILE_RE.match(value):
            return cls(MOBILE, value)
        return cls(CARD, value)

    @classmethod
    def verified(cls, member: Member) -> MemberName:
        if getattr(member, "pk", None) is None:
            raise MemberNotFound()
        return cls(VERIFIED, member=member)


@dataclass(frozen=True)
class Resolved:
    member: Member
    strong: bool


_BY_REF = """JOIN (SELECT r.member_id, NULL::timestamptz AS strong_until, NULL::bigint AS terminal_id, 0 AS rank
                   FROM members_memberref r WHERE r.merchant_id = %s AND r.ref = %s
                 UNION ALL
                 SELECT r.member_id, s.strong_until, s.terminal_id, 1
                   FROM members_strongref s JOIN members_memberref r ON r.id = s.member_ref_id
                  WHERE s.merchant_id = %s AND s.ref = %s) x ON x.member_id = m.id
          ORDER BY x.rank LIMIT 1"""
_BY_REF_EXTRA = ("x.strong_until", "x.terminal_id")


def ref_lookup(ref: str, merchant_id: int, *, with_pii: bool = False) -> Lookup:
    """The statement ``_by_ref`` sends, for the gateway to read ahead (``hub.db.read_ahead``)."""
    return lookup_members(_BY_REF, [merchant_id, ref, merchant_id, ref], extra=_BY_REF_EXTRA, with_pii=with_pii)


def _by_ref(ref: str, merchant, *, with_pii: bool = False) -> tuple[Member, object, object] | None:
    """(member, strong_until, terminal_id) for a stable or strong ref of this merchant, in one
    statement (a stable ref wins, as when the two were looked up in turn)."""
    found = load_members(_BY_REF, [merchant.pk, ref, merchant.pk, ref], extra=_BY_REF_EXTRA, with_pii=with_pii)
    if not found:
        return None
    member, (strong_until, terminal_id) = found[0]
    return member, strong_until, terminal_id


def peek(name: MemberName, *, merchant) -> Member | None:
    """The member this naming stands for at ``merchant``, with no side effect (see module doc)."""
    if name.kind == VERIFIED:
        return name.member
    if name.kind == CODE:
        return codes.member_of_code(name.value)
    if name.kind == REF:
        found = _by_ref(name.value, merchant)
        return found[0] if found else None
    try:
        if name.kind == MOBILE:
            return find_member(mobile=name.value)
        return find_member(merchant=merchant, external_id=name.value)
    except ParamError:
        return None


def _consented(member: Member, merchant) -> bool:
    return Consent.objects.filter(member=member, merchant=merchant, scope=Consent.Scope.MEMBER_RECOGNITION,
                                  withdrawn_at__isnull=True).exists()


def resolve(name: MemberName, *, merchant, terminal, mobile_allowed: bool, now: datetime | None = None,
            with_pii: bool = False) -> Resolved:
    """The active member this naming stands for and whether the naming is strong, or
    ``MEMBER_NOT_FOUND`` / ``MEMBER_CODE_EXPIRED`` / ``NO_AUTH`` / ``RATE_LIMITED``."""
    now = now or timezone.now()
    strong = False
    if name.kind == VERIFIED:
        member, strong = name.member, True
    elif name.kind == CODE:
        throttle_guess(terminal, merchant.pk)
        try:
            member = codes.redeem_member_code(code=name.value, merchant=merchant, now=now)
        except MemberCodeExpired:
            count_failed_guess(terminal, merchant.pk)
            raise
        strong = True
    elif name.kind == REF:
        found = _by_ref(name.value, merchant, with_pii=with_pii)
        if found is None:
            raise MemberNotFound()
        member, strong_until, terminal_id = found
        strong = bool(strong_until and strong_until > now and terminal is not None and terminal_id == terminal.pk)
    elif name.kind == MOBILE:
        if not mobile_allowed:
            raise NoAuth("该商户未开通手机号识别会员")
        throttle_guess(terminal, merchant.pk)
        try:
            member = find_member(mobile=name.value)
        except ParamError:
            member = None
        if member is None or not _consented(member, merchant):
            count_failed_guess(terminal, merchant.pk)
            raise MemberNotFound()
    else:
        member = find_member(merchant=merchant, external_id=name.value)
    if member is None or member.status != Member.Status.ACTIVE:
        raise MemberNotFound()
    return Resolved(member, strong)


def ref_to_return(name: MemberName, resolved: Resolved, *, merchant, terminal, now: datetime | None = None) -> str:
    """The ref identify answers: a fresh strong ref after a dynamic code, the ref itself when the
    till sent one, the stable (weak) ref otherwise."""
    if name.kind == CODE:
        return codes.issue_strong_ref(member=resolved.member, merchant=merchant, terminal=terminal, now=now)
    if name.kind == REF:
        return name.value
    return codes.ref_for(member=resolved.member, merchant=merchant)


def members_for_refs(merchant, refs: list[str]) -> dict[str, Member]:
    """Members named by refs (stable or strong) of this merchant, in two queries (store-and-
    forward earns: the naming's strength does not matter there)."""
    found = {ref: member for member, ref in load_members(
        "JOIN members_memberref r ON r.member_id = m.id WHERE r.merchant_id = %s AND r.ref = ANY(%s)",
        [merchant.pk, refs], extra="r.ref")}
    rest = [ref for ref in refs if ref not in found]
    if rest:
        found.update({ref: member for member, ref in load_members(
            """JOIN members_memberref r ON r.member_id = m.id
               JOIN members_strongref s ON s.member_ref_id = r.id
              WHERE s.merchant_id = %s AND s.ref = ANY(%s)""",
            [merchant.pk, rest], extra="s.ref")})
    return found
