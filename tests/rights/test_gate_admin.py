"""The gate exceptions page resolves through the service, in Chinese, for an operator allowed to."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from rights import gates, tickets, vouchers
from rights.models import GateException
from rights.roles import MAKER
from tests.rights.test_gates import Spot


def test_an_operator_resolves_a_double_scan_on_the_exceptions_page(world, django_user_model):
    spot = Spot(world)
    voucher = spot.voucher()
    token = tickets.issue_offline_ticket(voucher=voucher)
    at = timezone.now() + timedelta(seconds=1)
    gates.verify(merchant=spot.merchant, gate_code="G1", request_no="ON1", code=vouchers.issue_display_code(
        voucher=voucher)[0])
    gates.upload_scans(merchant=spot.merchant, gate_code="G2", scans=[
        {"scan_no": "S1", "ticket": token, "people": 1, "scanned_at": at}])
    exception = GateException.objects.get()
    user = django_user_model.objects.create_user(username="ops", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    url = "/admin/rights/gateexception/"
    assert client.get(url).status_code == 403  # no role, no page
    user.groups.add(Group.objects.get(name=MAKER))
    page = client.get(url)
    assert page.status_code == 200 and "重复入园" in page.content.decode() and "处理所选异常" in page.content.decode()
    post = {"action": "resolve_selected", "_selected_action": [exception.pk], "resolution": "waived", "note": ""}
    client.post(url, post)
    assert GateException.objects.get().status == "open"  # a note is required
    client.post(url, {**post, "note": "核实为同一家庭重复刷票"})
    done = GateException.objects.get()
    assert (done.status, done.resolution, done.resolved_by_id) == ("resolved", "waived", user.pk)
