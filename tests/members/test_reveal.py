"""Revealing a full mobile or ID number: permission, reason, audit in the same transaction."""

import pytest

from hub.errors import NoAuth, ParamError
from members import services
from members.models import PiiRevealAudit
from tests.members.factories import MemberFactory, UserFactory


@pytest.mark.django_db
def test_reveal_without_permission_is_refused_and_not_audited(member):
    user = UserFactory(perms=["members.view_member", "members.change_member"])
    with pytest.raises(NoAuth) as caught:
        services.reveal_pii(user=user, member=member, field="mobile", reason="会员来电")
    assert caught.value.message == "无权查看会员完整手机号或身份证号"
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["mobile", "id_number"])
def test_reveal_with_permission_returns_the_value_and_audits(member, field):
    user = UserFactory(perms=["members.reveal_pii"])
    value = services.reveal_pii(user=user, member=member, field=field, reason=" 会员来电核实身份 ")
    assert value == getattr(member, field)
    audit = PiiRevealAudit.objects.get()
    assert (audit.user, audit.member, audit.field, audit.reason) == (user, member, field, "会员来电核实身份")
    assert audit.at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, reason, message",
    [("mobile", "  ", "请填写查看原因"), ("name", "核实", "不支持查看该字段"), ("mobile", "长" * 201, "查看原因过长（最多200个字符）")],
)
def test_reveal_refuses_bad_requests_without_audit(member, field, reason, message):
    user = UserFactory(perms=["members.reveal_pii"])
    with pytest.raises(ParamError) as caught:
        services.reveal_pii(user=user, member=member, field=field, reason=reason)
    assert caught.value.message == message
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
def test_reveal_of_a_missing_id_number_says_so(standard):
    member = MemberFactory(id_number="")
    user = UserFactory(perms=["members.reveal_pii"])
    with pytest.raises(ParamError, match="该会员未登记身份证号"):
        services.reveal_pii(user=user, member=member, field="id_number", reason="核实")
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
def test_inactive_user_with_permission_is_refused(member):
    user = UserFactory(perms=["members.reveal_pii"], is_active=False)
    with pytest.raises(NoAuth):
        services.reveal_pii(user=user, member=member, field="mobile", reason="核实")
    assert not PiiRevealAudit.objects.exists()
