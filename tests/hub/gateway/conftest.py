"""A sandbox hub for gateway tests: the demo network, postal points and demo members, with a
signed-request client per registered adapter."""

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

from hub.demo import SANDBOX, seed
from hub.gateway import registry, service
from hub.gateway.base import CredentialKeys, ReadResponse
from hub.gateway.canonical import TillCommand
from points.common import clear_caches

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "fangxiang"
MEMBER_FIELD = {"zhibaiwei": "VipNo", "kemai": "member_id", "sixun": "member_id", "fangxiang": "member_id",
                "native": "member_ref"}
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
        if self.code == "sixun":
            extra = {"mch_id": self.merchant_code, **extra}
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

    def read(self, response) -> ReadResponse:
        return self.adapter.read_response(response.status_code, dict(response.headers), response.content, self.keys)

    def send(self, op: str, **fields) -> ReadResponse:
        # Fangxiang has no nonce: identical bytes within one second are a replay. Step the clock.
        timestamp = timezone.now() + timedelta(seconds=next(_seq) % 200) if self.code == "fangxiang" else None
        _, response = self.send_raw(self.command(op, **fields), timestamp=timestamp)
        assert response.status_code < 500 or op == "never", response.content
        return self.read(response)


def till_for(code: str) -> Till:
    adapter = registry.get_adapter(code)
    sandbox = next(s for s in SANDBOX if s.vendor == code)
    if sandbox.secret is None:
        keys = CredentialKeys(app_key=sandbox.app_key,
                              public_key_pem=(FIXTURES / "fangxiang_test_vendor_public.pem").read_text(),
                              private_key_pem=(FIXTURES / "fangxiang_test_vendor_private.pem").read_text())
    else:
        keys = CredentialKeys(app_key=sandbox.app_key, secrets=(sandbox.secret,), secret=sandbox.secret)
    return Till(code, adapter, keys, sandbox.store, sandbox.till, sandbox.code, Client())


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq):06d}{secrets.token_hex(3).upper()}"


@pytest.fixture
def sandbox(db, settings):
    settings.DEBUG = True  # sandbox credentials are refused otherwise
    settings.FANGXIANG_HUB_PRIVATE_KEY = (FIXTURES / "hub_test_private.pem").read_text()
    cache.clear()
    clear_caches()
    service.clear_caches()
    seed()
    return {code: till_for(code) for code in registry.adapters()}
