"""The ops pages: every button calls its service; files download with their recorded bytes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hub.clearing import services, statements
from hub.clearing.models import ClearingBatch, ClearingDocument, LedgerCheckRun, ReconciliationDifference
from tests.hub.clearing.conftest import DAY, make_user, next_day


@pytest.fixture
def closed(day, media):
    batch = services.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    statements.build_documents(batch=batch)
    return batch


def login(client, *groups):
    user = make_user(*groups)
    client.force_login(user)
    return user


def test_finance_approves_settles_and_downloads(client, closed):
    login(client, "财务")
    changelist = reverse("admin:clearing_clearingbatch_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and "关闭到期批次" in page.content.decode()
    assert "已记账待清算明细 1 笔" in page.content.decode()  # E5, at the next cut-off
    page = client.get(reverse("admin:clearing_clearingbatch_change", args=[closed.pk]))
    assert page.status_code == 200
    assert "净头寸" in page.content.decode()

    response = client.post(changelist, {"action": "approve_selected", "_selected_action": [closed.pk]}, follow=True)
    assert "已审批 1 个批次" in response.content.decode()
    closed.refresh_from_db()
    assert closed.status == "approved"

    settle = reverse("admin:clearing_clearingbatch_settle", args=[closed.pk])
    assert client.get(settle).status_code == 200
    client.post(settle, {"bank_reference": "BK-001"})
    closed.refresh_from_db()
    assert (closed.status, closed.bank_reference) == ("settled", "BK-001")

    doc = ClearingDocument.objects.filter(batch=closed, kind="instructions", encoding="gbk").get()
    response = client.get(reverse("admin:clearing_clearingdocument_download", args=[doc.pk]))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and response["X-Content-SHA256"] == doc.sha256
    assert body.decode("gbk").startswith("#积分清算结算指令")
    assert "attachment" in response["Content-Disposition"]


def test_the_closer_cannot_approve_in_the_admin(client, day, media):
    user = login(client, "财务")
    response = client.post(reverse("admin:clearing_clearingbatch_close_due"), follow=True)
    assert "个到期批次" in response.content.decode()
    batch = ClearingBatch.objects.exclude(status="open").get()
    assert batch.closed_by == user
    response = client.post(reverse("admin:clearing_clearingbatch_changelist"),
                           {"action": "approve_selected", "_selected_action": [batch.pk]}, follow=True)
    assert "关闭批次的人不能审批同一批次" in response.content.decode()
    assert ClearingBatch.objects.get(pk=batch.pk).status == "closed"


def test_operations_staff_cannot_close_or_approve(client, closed):
    login(client, "运营")
    assert client.post(reverse("admin:clearing_clearingbatch_close_due")).status_code == 403
    assert client.get(reverse("admin:clearing_clearingbatch_settle", args=[closed.pk])).status_code in (302, 403)


def test_upload_a_day_end_file_and_resolve_a_difference(client, world):
    login(client, "财务")
    body = "E404,累计,10,1000,2026-03-02 09:00:00\n".encode("gbk")
    response = client.post(reverse("admin:clearing_reconciliationrun_add"), {
        "merchant": world.shop.pk, "biz_date": DAY.isoformat(), "encoding": "auto",
        "file": SimpleUploadedFile("rj.csv", body, content_type="text/csv")}, follow=True)
    assert "差异 1 条" in response.content.decode()
    difference = ReconciliationDifference.objects.get()
    assert (difference.kind, difference.request_no) == ("missing_at_hub", "E404")

    resolve = reverse("admin:clearing_reconciliationdifference_resolve", args=[difference.pk])
    assert client.get(resolve).status_code == 200
    client.post(resolve, {"note": "测试单，商户已撤销"})
    difference.refresh_from_db()
    assert difference.resolution_note == "测试单，商户已撤销" and difference.resolved_by is not None
    assert client.get(reverse("admin:clearing_reconciliationdifference_changelist")).status_code == 200


def test_ledger_check_runs_are_listed(client, db, monkeypatch):
    from hub.clearing.jobs import run_ledger_check

    run_ledger_check()
    login(client, "财务")
    page = client.get(reverse("admin:clearing_ledgercheckrun_changelist"))
    assert page.status_code == 200 and "立即检查" in page.content.decode()
    sent = []
    monkeypatch.setattr("hub.clearing.tasks.check_ledger.delay", lambda: sent.append(1))
    client.post(reverse("admin:clearing_ledgercheckrun_run"))
    assert LedgerCheckRun.objects.count() == 1  # queued after commit, not run in the request
