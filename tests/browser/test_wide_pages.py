"""Browser at 1280×800 (a branch office's laptop): the ops dashboards, the merchant portal and every
admin change list fit the window — no horizontal scrolling of the page itself (a wide result table
scrolls inside its own box with its columns unsqueezed, hub/static/hub/admin.css). Screenshots of the main pages are kept."""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from hub.ops import portal
from tests.browser.test_dashboard import Q, pw, sign_in  # noqa: F401 - pw is the seeded world fixture

WIDE = {"width": 1280, "height": 800}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
SHOTS = {"/admin/", "/admin/points/agreement/", "/admin/points/operation/", "/admin/hub/tillcall/",
         "/admin/django_celery_beat/periodictask/", "/admin/clearing/clearingbatch/", "/admin/rights/right/"}


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_ops_and_admin_pages_fit_1280_pixels(pw, new_page, shot):  # noqa: F811
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("wide-admin", password="pw-wide-admin")
    page = new_page(viewport=WIDE)
    sign_in(page, "wide-admin", "pw-wide-admin")
    too_wide = {}
    ops = [("ops-province", "/ops/" + Q), ("ops-scene", f"/ops/scene/{pw.a.merchant.scene}/" + Q),
           ("ops-merchant", f"/ops/merchant/{pw.a.merchant.pk}/" + Q), ("ops-store", f"/ops/store/{pw.a.store.pk}/" + Q)]
    for name, url in ops:
        page.goto(url)
        page.wait_for_selector("#chart-trend[data-drawn] canvas")
        shot(page, f"wide-{name}")
        if overflow(page) > 0:
            too_wide[url] = overflow(page)
    lists = ["/admin/"]
    for model in admin.site._registry:  # noqa: SLF001
        try:
            lists.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        except NoReverseMatch:
            continue
    for url in lists:
        response = page.goto(url)
        assert response.status == 200, url
        if url in SHOTS:
            shot(page, "wide-admin-" + (url.strip("/").replace("/", "-") or "index"))
        if overflow(page) > 0:
            too_wide[url] = overflow(page)
    assert len(lists) > 30
    assert too_wide == {}, too_wide

    portal_page = new_page(viewport=WIDE)
    sign_in(portal_page, pw.a.user.username, f"pw-{pw.a.user.username}")
    portal_page.goto("/ops/portal/" + Q)
    portal_page.wait_for_selector("#chart-trend[data-drawn] canvas")
    shot(portal_page, "wide-portal")
    assert portal_page.evaluate(FITS), "/ops/portal/"
    for section in portal.SECTIONS:
        portal_page.goto(f"/ops/portal/{section.slug}/")
        assert portal_page.evaluate(FITS), (section.slug, overflow(portal_page))
