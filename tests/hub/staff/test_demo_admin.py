"""`make run`'s demo admin can sign in as a person: it is enrolled with a printed secret (DEBUG
sandbox only), and `manage.py demo_otp` prints the code that secret gives now."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from hub.management.commands import devrun

pytestmark = pytest.mark.django_db


def test_demo_admin_signs_in_with_the_printed_code(settings):
    settings.DEBUG = True
    devrun.ensure_admin()
    device = devrun.ensure_admin_totp()
    assert device is not None and device.confirmed and devrun.ensure_admin_totp() == device
    out = io.StringIO()
    call_command("demo_otp", stdout=out)
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    client = Client()
    client.post(reverse("admin:login"), {"username": devrun.ADMIN_USER, "password": devrun.ADMIN_PASSWORD})
    assert client.get("/admin/").status_code == 302
    client.post(reverse("staff:verify"), {"code": code})
    assert client.get("/admin/").status_code == 200


def test_no_demo_secret_without_debug(settings):
    settings.DEBUG = False
    devrun.ensure_admin()
    assert devrun.ensure_admin_totp() is None
    with pytest.raises(CommandError):
        call_command("demo_otp", stdout=io.StringIO())


def test_make_run_serves_metrics_from_all_processes(tmp_path, monkeypatch, settings):
    settings.BASE_DIR = tmp_path
    # set here so that monkeypatch puts the variable back as it was (unset) after the test
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "placeholder")
    stale = tmp_path / ".run" / "prometheus"
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"old")
    devrun.ensure_metrics_folder()
    import os

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(stale) and not any(stale.iterdir())
    command = devrun.web_command("127.0.0.1:8000")
    assert command[command.index("--config") + 1] == "python:hub.monitoring.gunicorn"
    assert "%(U)s" in command[command.index("--access-logformat") + 1]  # the path without its query
