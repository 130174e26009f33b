"""A sandbox hub for gateway tests: the demo network, postal points and demo members, with a
signed-request client per registered adapter (each built from what the adapter says of itself:
its sandbox, its merchant field, whether it has nonces of its own)."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from hub.demo import seed
from hub.gateway import registry, service
from hub.gateway.base import CredentialKeys, ReadResponse
from hub.gateway.canonical import TillCommand
from points.common import clear_caches

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "fangxiang"
_seq = itertools.count(1)


@dataclass
class Till:
    """A till of one vendor's sandbox merchant that speaks that vendor's dialect to the hub."""

    code: str
    adapter: object
    keys: CredentialKeys
    store: str
    terminal: str
    merchant_code: str
    client: Client

    def command(self, op: str, **fields) -> TillCommand:
        extra = fields.pop("extra", {})
        if getattr(self.adapter, "merchant_field", None):
            extra = {"merchant_code": self.merchant_code, **extra}
        return TillCommand(op=op, store_code=self.store, terminal_code=self.terminal, operator="1001",
                           extra=extra, **fields)

    def send_raw(self, command: TillCommand, *, nonce: str | None = None, timestamp: datetime | None = None,
                 keys: CredentialKeys | None = None):
        spec = self.adapter.build_request(command, keys=keys or self.keys,
                                          nonce=nonce or secrets.token_hex(8)[:16],
                                          timestamp=timestamp or timezone.now())
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()}
        response = self.client.generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                       **headers)
        return spec, response

    @property
    def derives_nonce(self) -> bool:
        return getattr(self.adapter, "nonce_repeat", "refuse") == "replay"

    @property
    def member_field(self) -> str:
        return self.adapter.helpers.member_field

    def read(self, response) -> ReadResponse:
        return self.adapter.read_response(response.status_code, dict(response.headers), response.content, self.keys)

    def send(self, op: str, **fields) -> ReadResponse:
        # A dialect without nonces of its own: identical bytes within one second are one request
        # sent twice. Step the clock so that separate sends are separate requests.
        timestamp = timezone.now() + timedelta(seconds=next(_seq) % 200) if self.derives_nonce else None
        _, response = self.send_raw(self.command(op, **fields), timestamp=timestamp)
        assert response.status_code < 500 or op == "never", response.content
        return self.read(response)


def till_for(code: str) -> Till:
    adapter = registry.get_adapter(code)
    box = adapter.sandbox
    return Till(code, adapter, box.keys(), box.store, box.till, box.merchant, Client())


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq):06d}{secrets.token_hex(3).upper()}"


def _tiers() -> None:
    from importlib import import_module

    from members.models import Tier

    for code, name, rank in import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.get_or_create(code=code, defaults={"name": name, "rank": rank})


@pytest.fixture
def sandbox(db, settings):
    settings.DEBUG = True  # sandbox credentials are refused otherwise
    settings.FANGXIANG_HUB_PRIVATE_KEY = (FIXTURES / "hub_test_private.pem").read_text()
    cache.clear()
    clear_caches()
    service.clear_caches()
    _tiers()  # a transactional test runs after another's flush, which empties the migrations' tiers
    seed()
    return {code: till_for(code) for code in registry.adapters()}


def test_database_url() -> str:
    """The URL of the test database, for processes started by a test (transactional tests only:
    they see what the test committed)."""
    import os
    from urllib.parse import urlparse

    from django.db import connection

    base = urlparse(os.environ["DATABASE_URL"])
    return base._replace(path="/" + connection.settings_dict["NAME"]).geturl()


test_database_url.__test__ = False  # a helper, not a test
