"""Browser: a staff member signs in at /ops/, the province and a scene dashboard draw their charts
(canvas, screenshots kept) with figures equal to the ledger's for the seeded day, a figure's link
opens its rows, the CSV downloads; two merchants' portal users each see none of the other's rows."""

from __future__ import annotations

import pytest

from hub.ops import aggregates, portal
from points.models import Operation
from tests.hub.ops.conftest import DAY, at
from tests.hub.ops.world import build_portal_world

Q = f"?from={DAY}&to={DAY}"


@pytest.fixture
def pw(transactional_db, settings, tmp_path):
    from hub.celery import app

    settings.MEDIA_ROOT = tmp_path
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the batch's documents are built on commit, in this process
    try:
        world = build_portal_world()
    finally:
        app.conf.task_always_eager = eager
    aggregates.refresh_dirty(now=at(DAY, 23, 50))
    return world


def sign_in(page, username: str, password: str):
    """Password at /ops/login/, then the second factor every staff and portal login needs (a
    confirmed authenticator, its current code typed as a person would)."""
    from django.contrib.auth import get_user_model

    from tests import otp

    device = otp.device_for(get_user_model().objects.get(username=username))
    page.goto("/ops/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/2fa/**")
    page.fill("input[name=code]", otp.code(device))
    page.click("button[type=submit].default")
    page.wait_for_load_state("networkidle")


def figure(page, name: str) -> int:
    return int(page.locator(f'.card[data-figure="{name}"]').get_attribute("data-value"))


def test_staff_dashboards_render_charts_with_the_ledger_s_figures(pw, tablet, shot):
    page = tablet
    sign_in(page, "ops-staff", "pw-ops-staff")
    errors = []  # on the dashboard pages (the sign-in pages are the staff app's, tested there)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto("/ops/" + Q)
    for chart in ("chart-trend", "chart-till", "chart-scenes", "chart-stores"):
        page.wait_for_selector(f"#{chart}[data-drawn] canvas")
    earn = Operation.objects.filter(business_date=DAY, kind="earn", status="success")
    assert figure(page, "earn_count") == earn.count() == 3
    assert figure(page, "points_earned") == sum(earn.values_list("points", flat=True)) == 373
    assert figure(page, "points_redeemed") == 500
    assert page.locator('.card[data-figure="redemption_rate_bp"] .value').inner_text() == "134.04%"
    assert shot(page, "province").stat().st_size > 20_000
    assert not errors, errors  # no CSP violation, no script error

    with page.expect_download() as download:
        page.click("a.export")
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.splitlines()[1].startswith(DAY.isoformat())

    page.goto("/ops/scene/market/" + Q)
    page.wait_for_selector("#chart-trend[data-drawn] canvas")
    assert figure(page, "points_earned") == 50
    shot(page, "scene-market")

    page.goto("/ops/" + Q)
    page.click('.card[data-figure="earn_count"] a')
    page.wait_for_load_state("networkidle")
    assert "/admin/points/operation/" in page.url
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    assert set(page.locator("#result_list tbody tr th a, #result_list tbody td.field-request_no").all_inner_texts()) \
        >= set() and all(no in page.content() for no in ("E-A1", "E-A2", "E-B1"))
    shot(page, "earn-rows")


@pytest.mark.parametrize("me,them", [("a", "b"), ("b", "a")])
def test_a_portal_user_sees_none_of_the_other_merchant_s_rows(pw, new_page, shot, me, them):
    mine, other = getattr(pw, me), getattr(pw, them)
    page = new_page()
    sign_in(page, mine.user.username, f"pw-{mine.user.username}")
    assert page.url.endswith("/ops/portal/")
    page.goto("/ops/portal/" + Q)
    page.wait_for_selector("#chart-trend[data-drawn] canvas")
    shot(page, f"portal-{me}")
    seen = page.content()
    for section in portal.SECTIONS:
        page.goto(f"/ops/portal/{section.slug}/")
        html = page.content()
        for mark in other.marks:
            assert mark not in html, f"{them}'s {mark!r} on {me}'s {section.slug}"
        seen += html
    for mark in mine.marks:
        assert mark in seen
