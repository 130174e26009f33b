"""The merchant portal: every page and export of merchant A's user shows A's rows and none of
B's (codes, names, request numbers), and the other way round; another party's statement is 404;
staff without a merchant binding, and portal users on the dashboards, are refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hub.clearing.models import ClearingDocument
from hub.ops import aggregates, portal
from hub.ops.models import MerchantStaff
from tests.hub.ops.conftest import DAY, at
from tests.hub.ops.world import build_portal_world


@pytest.fixture
def pw(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    world = build_portal_world()
    aggregates.refresh_dirty(now=at(DAY, 23, 50))
    return world


def portal_urls(client, scope) -> list[str]:
    urls = [f"{reverse('ops:portal')}?from={DAY}&to={DAY}"]
    for section in portal.sections_for(scope):
        urls.append(reverse("ops:portal-list", args=[section.slug]))
        urls.append(reverse("ops:portal-list", args=[section.slug]) + "?format=csv")
    for doc in scope.statements():
        if not doc.failed:
            urls.append(reverse("ops:portal-statement", args=[doc.pk]))
    return urls


def body(response) -> str:
    if hasattr(response, "streaming_content"):
        data = b"".join(response.streaming_content)
    else:
        data = response.content
    for encoding in ("utf-8", "gbk"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("undecodable answer")


@pytest.mark.parametrize("me,them", [("a", "b"), ("b", "a")])
def test_a_portal_user_sees_only_their_merchant_on_every_page_and_export(pw, client, me, them):
    mine, other = getattr(pw, me), getattr(pw, them)
    client.force_login(mine.user)
    scope = portal.PortalScope.for_user(mine.user)
    assert scope.merchant == mine.merchant
    urls = portal_urls(client, scope)
    assert len(urls) >= 2 * len(portal.SECTIONS) + 1
    seen = ""
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        text = body(response)
        for mark in other.marks:
            assert mark not in text, f"{them}'s {mark!r} on {me}'s {url}"
        seen += text
    # and the pages are not empty: each of my own marks shows somewhere
    for mark in mine.marks:
        assert mark in seen, f"{me}'s own {mark!r} is on none of its pages"
    # statements of the other party are 404 by id
    for doc in ClearingDocument.objects.filter(party=other.merchant):
        answer = client.get(reverse("ops:portal-statement", args=[doc.pk]))
        assert answer.status_code == 404 and "页面或记录不存在" in answer.content.decode()


def test_every_scope_method_is_restricted_to_the_merchant(pw):
    a, b = pw.a, pw.b
    for section in portal.SECTIONS:
        rows_a = list(portal.rows(portal.PortalScope(a.merchant), section))
        rows_b = list(portal.rows(portal.PortalScope(b.merchant), section))
        assert rows_a and rows_b, section.slug
        if section.slug == "instructions":  # A and B both settle with the issuer, not with each other
            assert not {r.pk for r in rows_a} & {r.pk for r in rows_b}
            continue
        assert not {r.pk for r in rows_a} & {r.pk for r in rows_b}, section.slug


def test_the_portal_overview_ignores_a_scope_named_in_the_query(pw, client):
    a, b = pw.a, pw.b
    client.force_login(a.user)
    plain = client.get(reverse("ops:portal") + f"?from={DAY}&to={DAY}").content.decode()
    for query in (f"store={b.store.pk}", f"merchant={b.merchant.pk}", "scene=market",
                  f"store={b.store.pk}&merchant={b.merchant.pk}&scene=market"):
        page = client.get(reverse("ops:portal") + f"?from={DAY}&to={DAY}&{query}")
        assert page.status_code == 200
        text = page.content.decode()
        assert strip_token(text) == strip_token(plain), query
        for mark in b.marks:
            assert mark not in text


def strip_token(html: str) -> str:
    import re

    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_staff_without_a_merchant_and_inactive_bindings_get_no_portal(pw, client):
    client.force_login(pw.staff)
    assert client.get(reverse("ops:portal")).status_code == 403
    MerchantStaff.objects.filter(user=pw.a.user).update(active=False)
    client.force_login(pw.a.user)
    assert client.get(reverse("ops:portal")).status_code == 403


def test_portal_users_cannot_open_the_dashboards_or_the_export(pw, client):
    client.force_login(pw.a.user)
    refused = client.get(reverse("ops:dashboard"))
    assert refused.status_code == 403 and "您没有查看此页面的权限" in refused.content.decode()
    assert client.get(reverse("ops:merchant", args=[pw.b.merchant.pk])).status_code == 403
    assert client.get(reverse("ops:export")).status_code == 403
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin.url.startswith("/admin/login/")


def test_a_clerk_sees_no_statements_or_instructions(pw, client):
    MerchantStaff.objects.filter(user=pw.a.user).update(role=MerchantStaff.Role.CLERK)
    client.force_login(pw.a.user)
    assert client.get(reverse("ops:portal-list", args=["statements"])).status_code == 404
    assert client.get(reverse("ops:portal-list", args=["instructions"])).status_code == 404
    doc = ClearingDocument.objects.filter(party=pw.a.merchant).exclude(file="").first()
    assert client.get(reverse("ops:portal-statement", args=[doc.pk])).status_code == 404


def test_signing_in_sends_portal_users_to_the_portal_and_staff_to_the_dashboard(pw, client):
    answer = client.post(reverse("ops:login"), {"username": "portal-a", "password": "pw-portal-a"})
    assert answer.status_code == 302 and answer.url == reverse("ops:portal")
    client.logout()
    answer = client.post(reverse("ops:login"), {"username": "ops-staff", "password": "pw-ops-staff"})
    assert answer.status_code == 302 and answer.url == reverse("ops:dashboard")
    # the password alone does not open the dashboard: the second factor comes first
    answer = client.get(reverse("ops:dashboard"))
    assert answer.status_code == 302 and answer.url.startswith("/staff/2fa/")
    from django.contrib.auth import get_user_model

    from tests.otp import verify_session

    verify_session(client, get_user_model().objects.get(username="ops-staff"))
    assert client.get(reverse("ops:dashboard")).status_code == 200
    client.logout()
    answer = client.get(reverse("ops:dashboard"))
    assert answer.status_code == 302 and answer.url.startswith(reverse("ops:login"))
