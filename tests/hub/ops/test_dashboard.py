"""The dashboard pages through Django's test client: figures equal the ledger's for the seeded
day, every figure's link opens a change list of exactly its rows, the CSV export, bad input."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from hub.ops import aggregates
from members.roles import AUDIT
from points.models import Operation
from tests.hub.ops.conftest import DAY, at
from tests.hub.ops.world import build_portal_world

Q = f"?from={DAY}&to={DAY}"


@pytest.fixture
def pw(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    world = build_portal_world()
    aggregates.refresh_dirty(now=at(DAY, 23, 50))
    return world


def cards(html: str) -> dict[str, tuple[str, str | None]]:
    found = {}
    for m in re.finditer(r'data-figure="(\w+)" data-value="(-?\d+)">(.*?)</div>', html, re.S):
        link = re.search(r'<a class="value" href="([^"]+)"', m.group(3))
        found[m.group(1)] = (int(m.group(2)), unescape(link.group(1)) if link else None)
    return found


def test_province_and_scene_figures_equal_the_ledger_and_link_to_their_rows(pw, client):
    client.force_login(pw.staff)
    ops = Operation.objects.filter(business_date=DAY)
    earn = ops.filter(kind="earn", status="success")
    page = client.get(reverse("ops:dashboard") + Q)
    assert page.status_code == 200
    province = cards(page.content.decode())
    assert province["earn_count"][0] == earn.count() == 3  # E-A1, E-A2, E-B1 (E-A3 was reversed)
    assert province["points_earned"][0] == sum(earn.values_list("points", flat=True))
    assert province["tombstone_count"][0] == 1 and province["reversal_count"][0] == 1
    assert province["vouchers_used"][0] == 2 and province["recon_open"][0] == 2
    # the figure's link lists exactly the rows counted
    listing = client.get(province["earn_count"][1])
    assert listing.status_code == 200 and "?e=1" not in listing.get("Location", "")
    assert listing.context["cl"].result_count == earn.count()
    for figure in ("tombstone_count", "reversal_count", "vouchers_used", "recon_open", "redeem_count",
                   "till_calls", "rights_funding_fen", "clearing_net_fen"):
        answer = client.get(province[figure][1])
        assert answer.status_code == 200, figure
        if figure not in ("till_calls", "rights_funding_fen", "clearing_net_fen"):
            assert answer.context["cl"].result_count == province[figure][0], figure

    market = cards(client.get(reverse("ops:scene", args=["market"]) + Q).content.decode())
    market_earn = earn.filter(merchant=pw.b.merchant)
    assert market["points_earned"][0] == sum(market_earn.values_list("points", flat=True)) == 50
    assert client.get(market["earn_count"][1]).context["cl"].result_count == market_earn.count()


def test_merchant_and_store_pages(pw, client):
    client.force_login(pw.staff)
    a = cards(client.get(reverse("ops:merchant", args=[pw.a.merchant.pk]) + Q).content.decode())
    assert a["points_redeemed"][0] == 500 and a["redemption_rate_bp"][0] == 500 * 10000 // 323
    store = cards(client.get(reverse("ops:store", args=[pw.a.store.pk]) + Q).content.decode())
    assert store["points_earned"][0] == 323
    assert client.get(store["earn_count"][1]).context["cl"].result_count == 2


def test_csv_export_has_a_row_per_day_with_the_figures(pw, client):
    client.force_login(pw.staff)
    answer = client.get(reverse("ops:export") + f"?from={DAY}&to={DAY}&scene=supermarket")
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][0] == "营业日" and len(rows) == 2
    header = rows[0]
    assert rows[1][header.index("累计积分")] == "323"
    assert rows[1][header.index("活跃会员")] == "3"


def test_bad_filters_are_explained_and_the_default_range_used(pw, client):
    client.force_login(pw.staff)
    page = client.get(reverse("ops:dashboard") + "?from=2026-13-01&to=yesterday&scene=moon")
    text = page.content.decode()
    assert page.status_code == 200
    assert "开始日期格式应为" in text and "未知场景" in text
    assert client.get(reverse("ops:dashboard") + "?from=2020-01-01&to=2026-01-01").status_code == 200
    assert client.get(reverse("ops:merchant", args=[999999])).status_code == 404


def test_read_only_audit_staff_may_view_and_others_may_not(pw, client):
    from django.contrib.auth import get_user_model

    auditor = get_user_model().objects.create_user(username="auditor", password="x", is_staff=True)
    auditor.groups.add(Group.objects.get(name=AUDIT))
    client.force_login(auditor)
    assert client.get(reverse("ops:dashboard")).status_code == 200
    plain = get_user_model().objects.create_user(username="plain", password="x", is_staff=True)
    client.force_login(plain)
    assert client.get(reverse("ops:dashboard")).status_code == 403
