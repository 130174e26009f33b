"""The members admin: masked everywhere, writes through services, audited reveal."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from members import vault
from members.models import Consent, Member, PiiRevealAudit, VendorMemberLink
from members.selectors import find_member
from tests.members.factories import LinkFactory, MemberFactory, MerchantFactory, UserFactory, make_id_number

NAME, MOBILE, ID_NUMBER = "欧阳娜娜", "13987654321", "11010519491231002X"
OPS = ["members.view_member", "members.add_member", "members.change_member", "members.view_tier"]


@pytest.fixture
def person(standard):
    return MemberFactory(name=NAME, mobile=MOBILE, id_number=ID_NUMBER, postal_no="JXADMIN00001")


def _login(client, perms=(), groups=()):
    user = UserFactory(perms=list(perms))
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    client.force_login(user)
    return user


def _assert_no_pii(content: bytes):
    page = content.decode()
    for secret in (NAME, MOBILE, ID_NUMBER, MOBILE[3:7] + MOBILE[7:]):
        assert secret not in page


@pytest.mark.django_db
def test_member_list_shows_only_masked_values(client, person):
    _login(client, OPS)
    response = client.get(reverse("admin:members_member_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    # the short masks of the ops site: the last 4 only
    assert "JXADMIN00001" in page and "*******4321" in page and "***娜" in page and "**************002X" in page
    assert "139****4321" not in page and "1101**" not in page
    _assert_no_pii(response.content)


@pytest.mark.django_db
def test_search_by_exact_mobile_is_not_run_from_the_search_box(client, person):
    other = MemberFactory()
    _login(client, [*OPS, "members.reveal_pii"])
    url = reverse("admin:members_member_changelist")
    response = client.get(url, {"q": MOBILE})
    assert response.status_code == 302
    assert MOBILE not in response["Location"]
    assert vault.blind_index(MOBILE, purpose="mobile") not in response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "按手机号/身份证号查找" in text and "JXADMIN00001" in text and other.postal_no in text  # unfiltered list
    _assert_no_pii(page.content)
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
def test_search_by_postal_number(client, person):
    other = MemberFactory()
    _login(client, OPS)
    url = reverse("admin:members_member_changelist")
    page = client.get(url, {"q": "ADMIN000"}).content.decode()
    assert "JXADMIN00001" in page and other.postal_no not in page


@pytest.mark.django_db
def test_get_search_results_never_matches_a_mobile(person, rf):
    from django.contrib import admin

    model_admin = admin.site._registry[Member]
    results, _ = model_admin.get_search_results(rf.get("/"), Member.objects.all(), MOBILE)
    assert list(results) == []


@pytest.mark.django_db
def test_change_form_shows_masked_values_and_write_only_fields(client, person):
    _login(client, OPS)
    response = client.get(reverse("admin:members_member_change", args=[person.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "*******4321" in page and 'name="new_mobile"' in page
    assert 'name="mobile"' not in page and 'name="id_number"' not in page and 'name="name"' not in page
    assert "查看完整手机号/身份证号" not in page  # no reveal permission
    _assert_no_pii(response.content)


@pytest.mark.django_db
def test_change_form_updates_through_the_service(client, person, gold):
    _login(client, OPS)
    url = reverse("admin:members_member_change", args=[person.pk])
    data = {"tier": gold.pk, "status": "active", "new_name": "", "new_mobile": "13711112222", "new_id_number": ""}
    response = client.post(url, data)
    assert response.status_code == 302
    stored = Member.objects.get(pk=person.pk)
    assert (stored.mobile, stored.name, stored.id_number, stored.tier) == ("13711112222", NAME, ID_NUMBER, gold)
    assert find_member(mobile="13711112222") == person and find_member(mobile=MOBILE) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("new_mobile", "1371111222", "手机号格式不正确"),
        ("new_id_number", "110105194912310021", "身份证号校验位不正确"),
        ("new_mobile", "taken", "手机号已被其他会员使用"),
    ],
)
def test_change_form_refuses_bad_input_and_keeps_data(client, person, gold, field, value, message):
    if value == "taken":
        value = MemberFactory().mobile
    _login(client, OPS)
    before = Member.objects.values().get(pk=person.pk)
    data = {"tier": gold.pk, "status": "active", "new_name": "新名字", "new_mobile": "", "new_id_number": "", field: value}
    response = client.post(reverse("admin:members_member_change", args=[person.pk]), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Member.objects.values().get(pk=person.pk) == before


@pytest.mark.django_db
def test_a_refusal_at_save_time_is_a_message_and_rolls_back(client, person, gold, monkeypatch):
    """The form's check passed but the service refuses (another operator took the mobile in
    between): the operator sees the reason, nothing is saved."""
    from members.admin_forms import MemberAdminForm

    monkeypatch.setattr(MemberAdminForm, "clean_new_mobile", lambda form: form.cleaned_data["new_mobile"])
    taken = MemberFactory().mobile
    _login(client, OPS)
    before = Member.objects.values().get(pk=person.pk)
    url = reverse("admin:members_member_change", args=[person.pk])
    data = {"tier": gold.pk, "status": "active", "new_name": "新名字", "new_mobile": taken, "new_id_number": ""}
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == url
    assert "手机号已被其他会员使用" in client.get(url).content.decode()
    assert Member.objects.values().get(pk=person.pk) == before


@pytest.mark.django_db
def test_add_form_registers_through_the_service(client, standard):
    _login(client, OPS)
    data = {"postal_no": "JXNEW0000001", "tier": standard.pk, "new_name": "李雷", "new_mobile": "13622223333",
            "new_id_number": make_id_number(3)}
    response = client.post(reverse("admin:members_member_add"), data)
    assert response.status_code == 302
    member = find_member(mobile="13622223333")
    assert (member.postal_no, member.name, member.id_number) == ("JXNEW0000001", "李雷", make_id_number(3))
    response = client.post(reverse("admin:members_member_add"), {**data, "postal_no": "JXNEW0000002"})
    assert response.status_code == 200 and "手机号已被其他会员使用" in response.content.decode()
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_reveal_view_requires_the_permission(client, person):
    _login(client, OPS)
    url = reverse("admin:members_member_reveal", args=[person.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"field": "mobile", "reason": "核实"}).status_code == 403
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
def test_reveal_view_asks_why_shows_once_and_audits(client, person):
    user = _login(client, [*OPS, "members.reveal_pii"])
    change = client.get(reverse("admin:members_member_change", args=[person.pk])).content.decode()
    url = reverse("admin:members_member_reveal", args=[person.pk])
    assert url in change
    form = client.get(url)
    assert form.status_code == 200 and "查看原因" in form.content.decode()
    _assert_no_pii(form.content)
    refused = client.post(url, {"field": "mobile", "reason": "  "})
    assert MOBILE not in refused.content.decode() and not PiiRevealAudit.objects.exists()
    shown = client.post(url, {"field": "id_number", "reason": "会员来电核实身份"})
    assert shown.status_code == 200 and ID_NUMBER in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    audit = PiiRevealAudit.objects.get()
    assert (audit.user, audit.member, audit.field, audit.reason) == (user, person, "id_number", "会员来电核实身份")


@pytest.mark.django_db
def test_audit_group_sees_members_read_only_and_the_reveal_log(client, person):
    PiiRevealAudit.objects.create(user=UserFactory(), member=person, field="mobile", reason="核实")
    _login(client, groups=["审计"])
    change = client.get(reverse("admin:members_member_change", args=[person.pk]))
    assert change.status_code == 200 and 'name="new_mobile"' not in change.content.decode()
    _assert_no_pii(change.content)
    assert client.get(reverse("admin:members_piirevealaudit_changelist")).status_code == 200
    assert client.get(reverse("admin:members_piirevealaudit_add")).status_code == 403
    audit_pk = PiiRevealAudit.objects.get().pk
    assert 'name="_save"' not in client.get(
        reverse("admin:members_piirevealaudit_change", args=[audit_pk])
    ).content.decode()
    assert client.post(reverse("admin:members_member_add"), {}).status_code == 403


@pytest.mark.django_db
def test_link_admin_adds_through_the_service_and_refuses_a_taken_card(client, person, merchant):
    _login(client, groups=["运营"])
    url = reverse("admin:members_vendormemberlink_add")
    data = {"member": person.pk, "merchant": merchant.pk, "external_id": "VIP-ADMIN-1", "verified_method": "operator"}
    assert client.post(url, data).status_code == 302
    link = VendorMemberLink.objects.get()
    assert (link.member, link.external_id, link.verified_at is not None) == (person, "VIP-ADMIN-1", True)
    response = client.post(url, {**data, "member": MemberFactory().pk})
    assert response.status_code == 200 and "该会员卡号已绑定其他会员" in response.content.decode()
    assert VendorMemberLink.objects.count() == 1


@pytest.mark.django_db
def test_unlink_action_needs_a_reason_and_keeps_history(client):
    links = [LinkFactory(), LinkFactory()]
    _login(client, groups=["运营"])
    url = reverse("admin:members_vendormemberlink_changelist")
    selected = {"action": "unlink_selected", "_selected_action": [links[0].pk]}
    client.post(url, {**selected, "reason": ""})
    assert VendorMemberLink.objects.get(pk=links[0].pk).active
    client.post(url, {**selected, "reason": "会员换卡"})
    stored = VendorMemberLink.objects.get(pk=links[0].pk)
    assert not stored.active and stored.unlink_reason == "会员换卡"
    assert VendorMemberLink.objects.get(pk=links[1].pk).active
    assert VendorMemberLink.objects.count() == 2


@pytest.mark.django_db
def test_consent_admin_grants_and_withdraws_through_the_services(client, person):
    merchant = MerchantFactory()
    _login(client, groups=["运营"])
    response = client.post(
        reverse("admin:members_consent_add"),
        {"member": person.pk, "merchant": merchant.pk, "scope": "recognition", "source": "counter"},
    )
    assert response.status_code == 302
    consent = Consent.objects.get()
    assert consent.granted_at is not None and consent.source == "counter"
    client.post(
        reverse("admin:members_consent_changelist"),
        {"action": "withdraw_selected", "_selected_action": [consent.pk]},
    )
    assert Consent.objects.get().withdrawn_at is not None


@pytest.mark.django_db
def test_nothing_in_members_can_be_deleted_from_the_admin(client, person):
    client.force_login(UserFactory(is_superuser=True))
    assert client.get(reverse("admin:members_member_delete", args=[person.pk])).status_code == 403
    link = LinkFactory(member=person)
    assert client.get(reverse("admin:members_vendormemberlink_delete", args=[link.pk])).status_code == 403
