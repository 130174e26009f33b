"""Issue 15, finding 14 and the search items of 22: an exact search by a full mobile or ID number
is a reveal (permission, reason, audit, rate limit), and the ops site's masks leave too many
candidates for probing."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from hub.errors import NoAuth, ParamError, RateLimited
from members import services, vault
from members.models import PiiRevealAudit
from tests.members.factories import MemberFactory, UserFactory

MOBILE = "13900135678"  # the 135th candidate of 139****5678, as in the audit's attack
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def target(standard):
    return MemberFactory(postal_no="JXTARGET0001", mobile=MOBILE, id_number=ID_NUMBER)


def _login(client, *, perms=(), groups=()):
    user = UserFactory(perms=list(perms))
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_the_135_probe_attack_recovers_nothing_without_the_permission(client, target):
    decoy = MemberFactory()
    _login(client, groups=["运营"])
    url = reverse("admin:members_member_changelist")
    listing = client.get(url).content.decode()
    assert "*******5678" in listing and "139****5678" not in listing  # no prefix to build probes on

    def oracle(candidate: str) -> bool:
        page = client.get(url, {"q": candidate}, follow=True).content.decode()
        return "JXTARGET0001" in page and decoy.postal_no not in page

    hits = [candidate for candidate in (f"139{n:04d}5678" for n in range(135)) if oracle(candidate)]
    assert hits == []
    assert oracle(MOBILE) is False and oracle(ID_NUMBER) is False
    search = reverse("admin:members_member_pii_search")
    assert client.get(search).status_code == 403
    assert client.post(search, {"term": MOBILE, "reason": "核实身份"}).status_code == 403
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["财务", "审计"])
def test_finance_and_audit_cannot_confirm_a_mobile_either(client, target, group):
    decoy = MemberFactory()
    _login(client, groups=[group])
    url = reverse("admin:members_member_changelist")
    for term in (MOBILE, ID_NUMBER):
        page = client.get(url, {"q": term}, follow=True).content.decode()
        assert not ("JXTARGET0001" in page and decoy.postal_no not in page)
    assert client.post(reverse("admin:members_member_pii_search"), {"term": MOBILE, "reason": "核实身份"}).status_code == 403


@pytest.mark.django_db
def test_a_user_with_the_permission_leaves_an_audit_row_per_search(client, target):
    user = _login(client, perms=["members.view_member", "members.reveal_pii"])
    url = reverse("admin:members_member_pii_search")
    form = client.get(url)
    assert form.status_code == 200 and "查找原因" in form.content.decode()

    refused = client.post(url, {"term": MOBILE, "reason": "核"})  # one character says nothing
    assert "查找原因过短" in refused.content.decode() and not PiiRevealAudit.objects.exists()

    found = client.post(url, {"term": "+86 139 0013 5678", "reason": "会员来电核实身份"})
    page = found.content.decode()
    assert found.status_code == 200 and "no-store" in found["Cache-Control"]
    assert "JXTARGET0001" in page and MOBILE not in page and "0013" not in page
    missed = client.post(url, {"term": "13900135679", "reason": "会员来电核实身份"})
    assert "没有找到会员" in missed.content.decode()
    by_id = client.post(url, {"term": ID_NUMBER.lower(), "reason": "工单 42"})
    assert "JXTARGET0001" in by_id.content.decode() and ID_NUMBER not in by_id.content.decode()

    rows = list(PiiRevealAudit.objects.order_by("pk").values_list("user", "kind", "member", "field", "reason"))
    assert rows == [
        (user.pk, "search", target.pk, "mobile", "会员来电核实身份"),
        (user.pk, "search", None, "mobile", "会员来电核实身份"),
        (user.pk, "search", target.pk, "id_number", "工单 42"),
    ]
    audit_page = client.get(reverse("admin:members_piirevealaudit_changelist"))
    assert audit_page.status_code == 403 or MOBILE not in audit_page.content.decode()


@pytest.mark.django_db
def test_exact_searches_are_rate_limited_per_user(settings, target):
    settings.MEMBERS_PII_SEARCHES_PER_HOUR = 3
    user = UserFactory(perms=["members.reveal_pii"])
    other = UserFactory(perms=["members.reveal_pii"])
    for n in range(3):
        services.search_members_by_pii(user=user, term=f"1390000000{n}", reason="批量核对")
    with pytest.raises(RateLimited):
        services.search_members_by_pii(user=user, term=MOBILE, reason="批量核对")
    assert PiiRevealAudit.objects.filter(user=user).count() == 3  # the refused one found nothing
    field, found = services.search_members_by_pii(user=other, term=MOBILE, reason="会员来电")
    assert (field, found) == ("mobile", [target])


@pytest.mark.django_db
def test_search_service_refuses_without_permission_or_reason(target):
    with pytest.raises(NoAuth):
        services.search_members_by_pii(user=UserFactory(perms=["members.view_member"]), term=MOBILE, reason="核实身份")
    user = UserFactory(perms=["members.reveal_pii"])
    with pytest.raises(ParamError, match="查找原因过短"):
        services.search_members_by_pii(user=user, term=MOBILE, reason=" . ")
    with pytest.raises(ParamError, match="完整的11位手机号"):
        services.search_members_by_pii(user=user, term="1390013", reason="核实身份")
    assert not PiiRevealAudit.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["+86 139 0013 5678", "139 0013 5678", "139-0013-5678", "+8613900135678"])
def test_a_mobile_typed_with_spaces_or_country_code_is_not_echoed(client, target, typed):
    _login(client, groups=["运营"])
    response = client.get(reverse("admin:members_member_changelist"), {"q": typed})
    assert response.status_code == 302
    assert "0013" not in response["Location"] and "5678" not in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert typed not in page and "0013" not in page and "需要“查看敏感信息”权限" in page


@pytest.mark.django_db
def test_the_search_redirect_computes_nothing_for_staff_without_member_permission(client, target):
    _login(client, perms=["hub.view_merchant"])
    response = client.get(reverse("admin:members_member_changelist"), {"q": MOBILE})
    assert response.status_code == 403
    assert vault.blind_index(MOBILE, purpose="mobile") not in response.get("Location", "")


@pytest.mark.django_db
def test_a_one_character_reveal_reason_is_refused(target):
    user = UserFactory(perms=["members.reveal_pii"])
    for reason in ("核", "1", "。。", " a "):
        with pytest.raises(ParamError, match="查看原因过短"):
            services.reveal_pii(user=user, member=target, field="mobile", reason=reason)
    assert not PiiRevealAudit.objects.exists()
    assert services.reveal_pii(user=user, member=target, field="mobile", reason="核实") == MOBILE
