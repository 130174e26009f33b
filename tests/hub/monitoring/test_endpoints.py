"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import re
import socket

import pytest
from django.db import connections
from django.test import Client

from tests.hub.gateway.conftest import sandbox  # noqa: F401 - the gateway's sandbox tills


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def scrape(client=None, **extra) -> str:
    answer = (client or Client()).get("/metrics", **extra)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain")
    return answer.content.decode()


def test_healthz_answers_without_the_database():
    # no django_db mark: any database access here would raise
    answer = Client().get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


@pytest.fixture
def broker(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    return tmp_path


@pytest.mark.django_db
def test_readyz_ok_when_database_migrations_and_broker_are(broker):
    answer = Client().get("/readyz")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_fails_when_the_database_is_down(broker, monkeypatch):
    # the probe opens a throwaway connection with the default database's settings: point them at
    # a closed port (this test's own connection is already open and is not touched)
    monkeypatch.setitem(connections.settings["default"], "HOST", "127.0.0.1")
    monkeypatch.setitem(connections.settings["default"], "PORT", str(closed_port()))
    answer = Client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "unreachable"
    assert "127.0.0.1" not in answer.content.decode()  # no detail of the failure to the caller


@pytest.mark.django_db
def test_readyz_fails_when_migrations_are_pending(broker, monkeypatch):
    import hub.monitoring.views as views

    monkeypatch.setattr(views, "_migrations_applied", False)
    # forget one applied migration, committed on a connection of its own (the probe sees only
    # committed rows), and put it back afterwards
    other = views._fresh_connection()
    try:
        with other.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE app = 'history' AND name = '0001_initial' "
                           "RETURNING applied")
            applied = cursor.fetchone()[0]
        answer = Client().get("/readyz")
        assert answer.status_code == 503 and answer.json()["checks"]["migrations"] == "pending"
    finally:
        with other.cursor() as cursor:
            cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('history', '0001_initial', %s)",
                           [applied])
        other.close()
    assert Client().get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_is_unreachable(settings, broker):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(broker / "missing"),
                                                "data_folder_out": str(broker / "missing")}
    answer = Client().get("/readyz")
    assert answer.status_code == 503 and answer.json()["checks"]["broker"] == "unreachable"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    answer = Client().get("/readyz")
    assert answer.status_code == 503 and answer.json()["checks"]["broker"] == "unreachable"


def test_metrics_refused_from_an_address_not_allowed(settings):
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert Client().get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


@pytest.mark.django_db
def test_metrics_allowed_network_and_verified_staff(settings, admin_client):
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::ffff:203.0.113.8").status_code == 200
    assert admin_client.get("/metrics", REMOTE_ADDR="198.51.100.1").status_code == 200


@pytest.mark.django_db
def test_metrics_count_till_calls_by_dialect_op_and_outcome(sandbox):  # noqa: F811
    from members.codes import issue_member_code
    from members.selectors import find_member
    from tests.hub.gateway.conftest import unique

    before = scrape()
    member = find_member(mobile="13800000001")
    for vendor in ("kemai", "sixun"):
        till = sandbox[vendor]
        code, _ = issue_member_code(member=member)
        assert till.send("identify", member=code).ok
        refused = till.send("redeem", request_no=unique("P"), member="13800000001", points=100)
        assert not refused.ok
    after = scrape()

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    for vendor in ("kemai", "sixun"):
        assert delta("hub_till_calls_total", dialect=vendor, op="identify", outcome="SUCCESS") == 1
        assert delta("hub_till_calls_total", dialect=vendor, op="redeem", outcome="NO_AUTH") == 1
        assert delta("hub_till_call_seconds_count", dialect=vendor, op="identify") == 1
        assert delta("hub_till_call_seconds_count", dialect=vendor, op="redeem") == 1
    assert delta("hub_till_calls_total", dialect="zhibaiwei") == 0
    assert "# TYPE hub_till_call_seconds histogram" in after
    assert sample(after, "hub_till_call_seconds_bucket", dialect="kemai", op="identify", le="+Inf") >= 1


@pytest.mark.django_db
def test_metrics_count_job_runs_and_show_the_last_ledger_check(settings):
    from hub.clearing import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = True
    before = scrape()
    assert "hub_ledger_check_ok" not in before
    tasks.check_ledger.apply()
    assert tasks.check_ledger.apply(args=("unexpected",)).failed()
    after = scrape()
    assert sample(after, "hub_job_runs_total", task="hub.check_ledger", outcome="success") - \
        sample(before, "hub_job_runs_total", task="hub.check_ledger", outcome="success") == 1
    assert sample(after, "hub_job_runs_total", task="hub.check_ledger", outcome="failure") - \
        sample(before, "hub_job_runs_total", task="hub.check_ledger", outcome="failure") == 1
    assert sample(after, "hub_ledger_check_ok") == 1
    assert sample(after, "hub_ledger_check_problems") == 0
    assert sample(after, "hub_ledger_check_finished_timestamp_seconds") > 0
