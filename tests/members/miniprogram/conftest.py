"""The mini-program over HTTP: a client that speaks the contract, through Django's test client
(``api``) or real HTTP against ``live_server`` (``live_api``), on the sandbox's demo data."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import pytest
import requests
from django.core.cache import cache
from django.test import Client

from hub.demo import seed
from hub.gateway import service
from points.common import clear_caches

PREFIX = "/api/mp/v1/"
_seq = itertools.count(1)


def unique(prefix: str = "R") -> str:
    return f"{prefix}{next(_seq):06d}"


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict
    raw: str

    @property
    def code(self) -> str:
        return self.body.get("code")

    @property
    def data(self) -> dict:
        return self.body.get("data")

    def __repr__(self) -> str:
        return f"<{self.status} {self.raw[:300]}>"


@dataclass
class Api:
    """One mini-program user: its token once signed in. Every answer is kept in ``seen``."""

    transport: object
    base: str = ""
    token: str | None = None
    seen: list = field(default_factory=list)

    def call(self, method: str, path: str, body=None, *, token: str | None = None, params=None,
             raw_body: bytes | None = None) -> Answer:
        token = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = PREFIX + path
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if isinstance(self.transport, Client):
            kwargs = {"content_type": "application/json", "headers": headers}
            if method == "GET":
                response = self.transport.get(url, params or {}, headers=headers)
            else:
                response = self.transport.generic(method, url, data=data or "", **kwargs)
            raw, status, hdrs = response.content.decode(), response.status_code, dict(response.headers)
        else:
            response = self.transport.request(method, self.base + url, data=data, params=params, timeout=30,
                                              headers={**headers, "Content-Type": "application/json",
                                                       # no kept-alive connection holds a server thread
                                                       "Connection": "close"})
            raw, status, hdrs = response.text, response.status_code, dict(response.headers)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        answer = Answer(status, body, hdrs, raw)
        self.seen.append((method, path, answer))
        return answer

    def get(self, path: str, **params) -> Answer:
        return self.call("GET", path, params=params or None)

    def post(self, path: str, body=None, **kwargs) -> Answer:
        return self.call("POST", path, {} if body is None else body, **kwargs)

    def delete(self, path: str) -> Answer:
        return self.call("DELETE", path)

    def login(self, name: str) -> Answer:
        answer = self.post("auth/wechat/login", {"js_code": f"test:{name}"})
        assert answer.status == 200, answer
        self.token = answer.data["token"]
        return answer

    def bind(self, mobile: str) -> Answer:
        return self.post("auth/phone", {"phone_code": f"phone:{mobile}", "consent_version": "v1"})

    def member(self, name: str, mobile: str) -> Api:
        self.login(name)
        bound = self.bind(mobile)
        assert bound.status == 200, bound
        return self


@pytest.fixture
def sandbox(db, settings):
    settings.DEBUG = True  # the sandbox's till credentials are refused otherwise
    cache.clear()
    clear_caches()
    service.clear_caches()
    seed()
    yield
    clear_caches()


@pytest.fixture
def api(sandbox):
    """A factory of mini-program users over Django's test client."""
    made = []

    def make() -> Api:
        user = Api(Client())
        made.append(user)
        return user

    make.made = made
    return make


def _tiers() -> None:
    """The tiers a data migration made: a transactional test's flush before this one removes them."""
    import importlib

    from members.models import Tier

    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})


@pytest.fixture
def live_sandbox(transactional_db, settings):
    """Committed data a live server can see (flushed after the test, like every transactional test)."""
    settings.DEBUG = True
    cache.clear()
    clear_caches()
    service.clear_caches()
    _tiers()
    seed()
    yield
    clear_caches()


class OneShot:
    """Real HTTP with a fresh connection per request (a pooled keep-alive connection may be one
    the test server just closed)."""

    request = staticmethod(requests.request)

    def close(self):
        pass


@pytest.fixture
def live_api(live_sandbox, live_server):
    """A factory of mini-program users over real HTTP against the live server."""
    made = []

    def make() -> Api:
        user = Api(OneShot(), base=live_server.url)
        made.append(user)
        return user

    make.made = made
    make.url = live_server.url
    yield make
    for user in made:  # no kept-alive connection may hold a server thread (and its database session)
        user.transport.close()
