import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from hub.errors import MemberCodeExpired
from hub.models import Merchant, Store, Terminal
from members.codes import (
    CODE_RE,
    MemberCode,
    issue_member_code,
    issue_strong_ref,
    redeem_member_code,
    ref_for,
)
from members.credentials import MemberName, resolve
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant():
    return Merchant.objects.create(code="MC1", name="新阳光超市")


def test_code_shape_single_use_and_expiry(merchant):
    member = MemberFactory()
    code, expires = issue_member_code(member=member)
    assert CODE_RE.match(code) and len(code) == 18 and code.startswith("96")
    assert not MemberCode.objects.filter(digest__contains=code).exists()  # only a keyed digest is stored
    assert redeem_member_code(code=code, merchant=merchant) == member
    with pytest.raises(MemberCodeExpired):
        redeem_member_code(code=code, merchant=merchant)
    late_code, expires = issue_member_code(member=member)
    with pytest.raises(MemberCodeExpired):
        redeem_member_code(code=late_code, merchant=merchant, now=expires + timedelta(seconds=1))


def test_codes_are_not_predictable():
    member = MemberFactory()
    codes = {issue_member_code(member=member)[0] for _ in range(50)}
    assert len(codes) == 50


def test_refs_are_opaque_stable_and_scoped(merchant):
    other = Merchant.objects.create(code="MC2", name="绿野菜场")
    member = MemberFactory()
    a, b = ref_for(member=member, merchant=merchant), ref_for(member=member, merchant=other)
    assert a != b and a == ref_for(member=member, merchant=merchant)
    assert member.postal_no not in a and member.mobile[-4:] not in a
    found = resolve(MemberName.parse(a), merchant=merchant, terminal=None, mobile_allowed=False)
    assert found.member == member and not found.strong  # the stable ref never counts as a code


def test_a_strong_ref_is_strong_at_its_terminal_for_a_while(merchant):
    store = Store.objects.create(merchant=merchant, code="S1", name="一号店")
    here, there = Terminal.objects.create(store=store, code="P1"), Terminal.objects.create(store=store, code="P2")
    member = MemberFactory()
    now = timezone.now()
    token = issue_strong_ref(member=member, merchant=merchant, terminal=here, now=now)
    assert token != ref_for(member=member, merchant=merchant)

    def strong(terminal, at):
        found = resolve(MemberName.parse(token), merchant=merchant, terminal=terminal, mobile_allowed=False, now=at)
        assert found.member == member  # it names the member for good
        return found.strong

    assert strong(here, now + timedelta(minutes=14)) is True
    assert strong(there, now) is False
    assert strong(here, now + timedelta(minutes=16)) is False


def test_member_code_command():
    member = MemberFactory()
    out, err = io.StringIO(), io.StringIO()
    call_command("member_code", "--mobile", member.mobile, stdout=out, stderr=err)
    assert CODE_RE.match(out.getvalue().strip())
    assert member.mobile not in err.getvalue()
    with pytest.raises(CommandError):
        call_command("member_code", "--mobile", "13900000000", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_ref_is_looked_up_in_one_statement_scoped_to_its_merchant_and_a_stable_ref_wins(merchant, monkeypatch):
    from members import selectors
    from members.codes import MemberRef, StrongRef

    statements = []

    def counted(sql, params):
        statements.append(sql)
        return fetch_prepared(sql, params)

    fetch_prepared = selectors.fetch_prepared
    monkeypatch.setattr(selectors, "fetch_prepared", counted)

    other = Merchant.objects.create(code="MC3", name="赣江便利")
    store = Store.objects.create(merchant=merchant, code="S1", name="一号店")
    terminal = Terminal.objects.create(store=store, code="P1")
    member, someone = MemberFactory(), MemberFactory()
    now = timezone.now()
    token = issue_strong_ref(member=member, merchant=merchant, terminal=terminal, now=now)
    found = resolve(MemberName.parse(token), merchant=merchant, terminal=terminal, mobile_allowed=False, now=now)
    assert found.member == member and found.strong
    assert len(statements) == 1  # a strong ref is found by the same statement as a stable one
    with pytest.raises(Exception) as refused:  # the same token means nothing at another merchant
        resolve(MemberName.parse(token), merchant=other, terminal=None, mobile_allowed=False, now=now)
    assert refused.value.code == "MEMBER_NOT_FOUND"
    # A strong ref that happens to equal another member's stable ref: the stable ref names its member.
    stable = ref_for(member=someone, merchant=merchant)
    StrongRef.objects.filter(ref=token).update(ref=stable)
    assert MemberRef.objects.filter(merchant_id=merchant.pk, ref=stable).exists()
    found = resolve(MemberName.parse(stable), merchant=merchant, terminal=terminal, mobile_allowed=False, now=now)
    assert found.member == someone and not found.strong
