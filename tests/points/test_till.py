"""points.till: the request number first, then today's rules; the keyed fingerprint and its re-keying."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from hub.errors import DomainError
from members.codes import MemberCode, issue_member_code, ref_for
from members.credentials import MemberName
from points import till
from points.fingerprints import LEGACY, rekey_legacy_rows
from points.models import ConversionRate, Operation


def code(fn, *a, **kw) -> str:
    with pytest.raises(DomainError) as exc:
        fn(*a, **kw)
    return exc.value.code


def test_legacy_fingerprints_are_rekeyed_once_and_for_good(world):
    m = world.member()
    world.earn(m, 1000, "OLD1")
    world.earn(m, 2000, "OLD2")
    legacy = {no: hashlib.sha256(f'{{"kind":"earn","member":"{m.mobile}","no":"{no}"}}'.encode()).hexdigest()
              for no in ("OLD1", "OLD2")}
    for no, digest in legacy.items():
        Operation.objects.filter(request_no=no).update(fingerprint=digest)
    fresh = Operation.objects.filter(merchant=world.shop).exclude(request_no__in=legacy).values_list("fingerprint",
                                                                                                    flat=True)
    assert rekey_legacy_rows(Operation) == 2
    stored = dict(Operation.objects.filter(request_no__in=legacy).values_list("request_no", "fingerprint"))
    assert all(stored[no] != legacy[no] and not LEGACY.match(stored[no]) for no in legacy)
    assert not Operation.objects.filter(fingerprint__regex=r"^[0-9a-f]{64}$").exists()
    assert m.mobile not in "".join(Operation.objects.values_list("fingerprint", flat=True))
    out = io.StringIO()
    call_command("rekey_fingerprints", stdout=out)  # safe to run again: nothing left to re-key
    assert "re-keyed 0" in out.getvalue()
    assert list(fresh) == list(Operation.objects.filter(merchant=world.shop).exclude(request_no__in=legacy)
                               .values_list("fingerprint", flat=True))
    # a retry of a re-keyed request is no longer recognised as the same content
    assert code(world.earn, m, 1000, "OLD1") == "IDEMPOTENCY_KEY_REUSED"


def test_replayed_conversion_answers_first_after_the_rate_was_withdrawn(world):
    m = world.member()
    world.grant(m, 1000, program=world.store_points)
    first = world.convert(m, 100, "CV1")
    ConversionRate.objects.update(active=False)
    assert world.convert(m, 100, "CV1") == first
    assert code(world.convert, m, 100, "CV2") == "NO_AUTH"


def test_a_weak_naming_cannot_convert(world):
    m = world.member()
    world.grant(m, 1000, program=world.store_points)
    weak = MemberName.parse(ref_for(member=m, merchant=world.issuer))
    assert code(till.convert, place=world.place(world.issuer), member=weak, from_program=world.store_points,
                to_program=world.postal, points=100, request_no="CV3") == "NO_AUTH"


def test_a_retry_with_a_used_code_replays_and_another_members_code_is_key_reused(world):
    m, other = world.member(), world.member()
    world.grant(m, 1000)
    used, _ = issue_member_code(member=m)
    first = world.redeem(MemberName.parse(used), 100, "RC1")
    assert world.redeem(MemberName.parse(used), 100, "RC1") == first  # the code is used up: recognised anyway
    theirs, _ = issue_member_code(member=other)
    assert code(world.redeem, MemberName.parse(theirs), 100, "RC1") == "IDEMPOTENCY_KEY_REUSED"
    assert MemberCode.objects.get(member=other).used_at is None  # not used up by the refusal


def test_hold_expiry_and_windows_run_on_the_hubs_receive_time(world):
    m = world.member()
    world.grant(m, 1000)
    received = timezone.now() - timedelta(minutes=20)
    world.freeze(m, 100, "FH", now=received)
    assert code(world.confirm, "FH") == "FREEZE_EXPIRED"  # 15 minutes after the hub received the freeze
