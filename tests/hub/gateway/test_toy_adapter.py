"""The adapter boundary, made true: a sixth dialect defined only in the test suite
(tests/hub/gateway/toy.py, registered by tests/conftest.py) is served, seeded and tested like the
five real ones, and nothing outside the test suite knows it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.urls import resolve

from hub.gateway import registry
from hub.models import Credential, Merchant, Vendor
from tests.hub.gateway import test_contract, test_end_to_end

ROOT = Path(__file__).resolve().parents[3]


def test_the_toy_dialect_is_registered_from_the_test_suite_only():
    assert "toy" in registry.adapters() and len(registry.adapters()) == 7  # six of the hub (cloud POS included) + toy
    mentions = subprocess.run(["git", "grep", "-l", "-i", "toy", "--", "hub", "bench", "members", "points", "rights",
                               "manage.py", "pyproject.toml", "Makefile"], cwd=ROOT, capture_output=True, text=True)
    assert mentions.stdout.strip() == "", mentions.stdout  # no hub file, migration or bench names it


def test_the_contract_and_end_to_end_suites_run_over_it():
    assert "toy" in test_contract.ADAPTERS and "toy" in test_end_to_end.VENDORS


@pytest.mark.django_db
def test_it_is_mounted_has_a_vendor_row_and_a_sandbox(sandbox):
    assert resolve("/gateway/toy/call/identify").url_name == "toy-call"
    vendor = Vendor.objects.get(code="toy")
    assert (vendor.name, vendor.auth_scheme) == (registry.get_adapter("toy").name, "secret")
    credential = Credential.objects.get(app_key="toy_test_app")
    assert credential.is_sandbox and credential.merchant == Merchant.objects.get(code="SBX_TOY")
    assert sandbox["toy"].send("identify", member="13800000001").ok
