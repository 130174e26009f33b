"""Vendor member links (会员互认) and consents."""

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.errors import MemberNotFound, ParamError
from hub.models import Merchant
from members import services
from members.models import Consent, Member, VendorMemberLink
from tests.members.factories import LinkFactory, MemberFactory, MerchantFactory


def _links():
    return sorted(
        VendorMemberLink.objects.values_list("member_id", "merchant_id", "external_id", "unlinked_at", "unlink_reason")
    )


@pytest.mark.django_db
def test_link_records_method_and_verification_time(member, merchant):
    verified = timezone.now() - timedelta(minutes=3)
    link = services.link_member(
        member=member, merchant=merchant, external_id=" VIP0001 ", method="sms", verified_at=verified
    )
    stored = VendorMemberLink.objects.get(pk=link.pk)
    assert (stored.member, stored.merchant, stored.external_id) == (member, merchant, "VIP0001")
    assert stored.verified_method == "sms" and stored.verified_at == verified
    assert stored.active


@pytest.mark.django_db
def test_linking_the_same_card_to_the_same_member_again_is_idempotent(member, merchant):
    first = services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    again = services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="operator")
    assert again.pk == first.pk
    assert VendorMemberLink.objects.count() == 1


@pytest.mark.django_db
def test_card_linked_to_another_member_is_refused(member, merchant):
    services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    other = MemberFactory()
    before = _links()
    with pytest.raises(ParamError) as caught:
        services.link_member(member=other, merchant=merchant, external_id="VIP0001", method="sms")
    assert caught.value.message == "该会员卡号已绑定其他会员"
    assert _links() == before


@pytest.mark.django_db
def test_same_card_number_at_another_merchant_is_another_card(member, merchant):
    services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    other = MemberFactory()
    link = services.link_member(member=other, merchant=MerchantFactory(), external_id="VIP0001", method="sms")
    assert link.member == other


@pytest.mark.django_db
def test_a_member_has_one_active_card_per_merchant(member, merchant):
    services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    before = _links()
    with pytest.raises(ParamError, match="该会员已绑定此商户的其他会员卡号"):
        services.link_member(member=member, merchant=merchant, external_id="VIP0002", method="sms")
    assert _links() == before


@pytest.mark.django_db
def test_constraint_alone_refuses_a_taken_card(member, merchant, monkeypatch):
    """With the pre-check out of the way (as in a race), the partial unique index decides."""
    services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    monkeypatch.setattr(services, "link_conflict", lambda **kwargs: None)
    monkeypatch.setattr(services, "active_link", lambda **kwargs: None)
    before = _links()
    with pytest.raises(ParamError) as caught:
        services.link_member(member=MemberFactory(), merchant=merchant, external_id="VIP0001", method="sms")
    assert caught.value.message == "该会员卡号已绑定其他会员"
    with pytest.raises(ParamError, match="该会员已绑定此商户的其他会员卡号"):
        services.link_member(member=member, merchant=merchant, external_id="VIP0002", method="sms")
    same = services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    assert same.external_id == "VIP0001"
    assert _links() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "override, message",
    [
        ({"external_id": "  "}, "商户会员卡号不能为空"),
        ({"external_id": "X" * 65}, "商户会员卡号格式不正确（最多64个可见字符）"),
        ({"method": "telepathy"}, "核验方式无效"),
        ({"verified_at": "future"}, "核验时间不能晚于当前时间"),
    ],
)
def test_link_refuses_bad_input(member, merchant, override, message):
    if override.get("verified_at") == "future":
        override["verified_at"] = timezone.now() + timedelta(hours=1)
    data = {"member": member, "merchant": merchant, "external_id": "VIP0001", "method": "sms", **override}
    with pytest.raises(ParamError) as caught:
        services.link_member(**data)
    assert caught.value.message == message
    assert not VendorMemberLink.objects.exists()


@pytest.mark.django_db
def test_link_refuses_inactive_member_or_merchant(member, merchant):
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.SUSPENDED)
    with pytest.raises(ParamError, match="商户不存在或未处于正常状态"):
        services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    services.update_member(member=member, status=Member.Status.FROZEN)
    with pytest.raises(ParamError, match="会员状态非正常"):
        services.link_member(member=member, merchant=MerchantFactory(), external_id="VIP0001", method="sms")
    with pytest.raises(MemberNotFound):
        services.link_member(member=Member(), merchant=MerchantFactory(), external_id="VIP0001", method="sms")
    assert not VendorMemberLink.objects.exists()


@pytest.mark.django_db
def test_unlink_keeps_the_row_and_frees_the_card():
    link = LinkFactory(external_id="VIP0009")
    services.unlink_member(link=link, reason=" 会员申请解绑 ")
    stored = VendorMemberLink.objects.get(pk=link.pk)
    assert stored.unlinked_at is not None and stored.unlink_reason == "会员申请解绑"
    assert link.unlinked_at == stored.unlinked_at  # the caller's object is brought up to date
    other = MemberFactory()
    relinked = services.link_member(member=other, merchant=link.merchant, external_id="VIP0009", method="sms")
    assert relinked.pk != link.pk
    assert VendorMemberLink.objects.filter(external_id="VIP0009").count() == 2


@pytest.mark.django_db
def test_unlink_needs_a_reason_and_an_active_link():
    link = LinkFactory()
    with pytest.raises(ParamError, match="请填写解绑原因"):
        services.unlink_member(link=link, reason=" ")
    assert VendorMemberLink.objects.get(pk=link.pk).active
    services.unlink_member(link=link, reason="换卡")
    first_end = VendorMemberLink.objects.get(pk=link.pk).unlinked_at
    with pytest.raises(ParamError, match="该绑定关系已解绑"):
        services.unlink_member(link=link, reason="再次解绑")
    stored = VendorMemberLink.objects.get(pk=link.pk)
    assert (stored.unlinked_at, stored.unlink_reason) == (first_end, "换卡")


@pytest.mark.django_db
def test_consent_grant_is_idempotent_and_withdrawal_keeps_history(member, merchant):
    first = services.grant_consent(member=member, merchant=merchant)
    assert services.grant_consent(member=member, merchant=merchant).pk == first.pk
    marketing = services.grant_consent(member=member, merchant=merchant, scope=Consent.Scope.MARKETING)
    assert marketing.pk != first.pk
    withdrawn = services.withdraw_consent(member=member, merchant=merchant)
    assert withdrawn.pk == first.pk and withdrawn.withdrawn_at is not None
    again = services.grant_consent(member=member, merchant=merchant, source="counter")
    assert again.pk != first.pk and again.source == "counter"
    assert Consent.objects.filter(member=member).count() == 3
    assert Consent.objects.get(pk=marketing.pk).withdrawn_at is None


@pytest.mark.django_db
def test_withdrawing_recognition_consent_ends_the_link(member, merchant):
    services.grant_consent(member=member, merchant=merchant)
    link = services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    services.withdraw_consent(member=member, merchant=merchant)
    stored = VendorMemberLink.objects.get(pk=link.pk)
    assert stored.unlinked_at is not None and stored.unlink_reason == "会员撤回数据共享授权"


@pytest.mark.django_db
def test_withdrawing_marketing_consent_keeps_the_link(member, merchant):
    services.grant_consent(member=member, merchant=merchant, scope=Consent.Scope.MARKETING)
    link = services.link_member(member=member, merchant=merchant, external_id="VIP0001", method="sms")
    services.withdraw_consent(member=member, merchant=merchant, scope=Consent.Scope.MARKETING)
    assert VendorMemberLink.objects.get(pk=link.pk).active


@pytest.mark.django_db
def test_consent_refuses_bad_input(member, merchant):
    with pytest.raises(ParamError, match="授权范围无效"):
        services.grant_consent(member=member, merchant=merchant, scope="everything")
    with pytest.raises(ParamError, match="授权来源无效"):
        services.grant_consent(member=member, merchant=merchant, source="")
    with pytest.raises(ParamError, match="没有有效的授权"):
        services.withdraw_consent(member=member, merchant=merchant)
    assert not Consent.objects.exists()
