"""The real WeChat client over real HTTP, against a local server that plays WeChat; the fake's
determinism; production refusing the fake."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.cache import cache

from hub.errors import DomainError
from members.miniprogram.clients import FakeWeChat, WeChatClient
from tests.hub.test_settings import GOOD, start

APP_ID, SECRET = "wx-test-app", "wx-test-secret"


class PlayWeChat(BaseHTTPRequestHandler):
    """Answers from ``self.server.script``: path -> list of (status, body bytes, delay seconds),
    consumed in order (the last one repeats). Every request is recorded in ``server.calls``."""

    def _answer(self):
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.calls.append((self.command, parsed.path, parse_qs(parsed.query), body))
        script = self.server.script[parsed.path]
        status, payload, delay = script.pop(0) if len(script) > 1 else script[0]
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload if isinstance(payload, bytes) else json.dumps(payload).encode())

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def wechat():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PlayWeChat)
    server.calls, server.script = [], {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cache.delete(f"mp:wechat:stable_token:{APP_ID}")
    server.client = WeChatClient(base_url=f"http://127.0.0.1:{server.server_port}", app_id=APP_ID, secret=SECRET,
                                 timeout=0.5)
    yield server
    server.shutdown()
    server.server_close()
    cache.delete(f"mp:wechat:stable_token:{APP_ID}")


def ok(body, delay=0):
    return (200, body, delay)


def refused(code: str, call):
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


# ---- jscode2session -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_code2session_success_without_errcode(wechat):
    wechat.script["/sns/jscode2session"] = [ok({"openid": "oABC", "session_key": "SECRET-KEY"})]
    who = wechat.client.code2session("071abc")
    assert (who.subject, who.unionid) == ("oABC", "")
    method, path, query, _ = wechat.calls[0]
    assert (method, path) == ("GET", "/sns/jscode2session")
    assert query == {"appid": [APP_ID], "secret": [SECRET], "js_code": ["071abc"], "grant_type": ["authorization_code"]}
    assert "SECRET-KEY" not in repr(who)


@pytest.mark.django_db
def test_code2session_success_with_errcode_zero_and_unionid(wechat):
    wechat.script["/sns/jscode2session"] = [ok({"errcode": 0, "errmsg": "ok", "openid": "oX", "unionid": "uY",
                                                "session_key": "k"})]
    who = wechat.client.code2session("071abc")
    assert (who.subject, who.unionid) == ("oX", "uY")


@pytest.mark.django_db
@pytest.mark.parametrize(("errcode", "code"), [
    (40029, "WECHAT_CODE_INVALID"), (45011, "RATE_LIMITED"), (-1, "UPSTREAM_BUSY"), (40226, "WECHAT_CODE_INVALID"),
    (40163, "WECHAT_CODE_INVALID"), (99999, "UPSTREAM_BUSY"),
])
def test_code2session_errors_are_mapped(wechat, errcode, code):
    wechat.script["/sns/jscode2session"] = [ok({"errcode": errcode, "errmsg": "x"})]
    error = refused(code, lambda: wechat.client.code2session("071abc"))
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error.message)


@pytest.mark.django_db
def test_a_timeout_is_upstream_busy(wechat):
    wechat.script["/sns/jscode2session"] = [ok({"openid": "late"}, delay=2)]
    started = time.monotonic()
    refused("UPSTREAM_BUSY", lambda: wechat.client.code2session("071abc"))
    assert time.monotonic() - started < 1.5  # the client's own 0.5 s timeout, not the server's delay


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [b"<html>502 Bad Gateway</html>", b'{"openid": ', b"[1, 2]", b'{"errcode": "x"}',
                                     b'{"errcode": 0}', b'{"openid": 12}'])
def test_malformed_answers_are_upstream_busy(wechat, payload):
    wechat.script["/sns/jscode2session"] = [ok(payload)]
    refused("UPSTREAM_BUSY", lambda: wechat.client.code2session("071abc"))


@pytest.mark.django_db
def test_an_http_error_status_and_an_unreachable_server_are_upstream_busy(wechat):
    wechat.script["/sns/jscode2session"] = [(502, b"bad gateway", 0)]
    refused("UPSTREAM_BUSY", lambda: wechat.client.code2session("071abc"))
    gone = WeChatClient(base_url="http://127.0.0.1:9", app_id=APP_ID, secret=SECRET, timeout=0.5)
    refused("UPSTREAM_BUSY", lambda: gone.code2session("071abc"))


@pytest.mark.django_db
def test_a_code_that_cannot_be_one_is_refused_without_calling_wechat(wechat):
    refused("WECHAT_CODE_INVALID", lambda: wechat.client.code2session("a b&c=d"))
    assert wechat.calls == []


# ---- phone number and the access token ----------------------------------------------------------

PHONE = {"errcode": 0, "errmsg": "ok", "phone_info": {"phoneNumber": "13800000001", "purePhoneNumber": "13800000001",
                                                      "countryCode": "86", "watermark": {"appid": APP_ID}}}


@pytest.mark.django_db
def test_phone_number_with_a_centrally_cached_stable_token(wechat):
    wechat.script["/cgi-bin/stable_token"] = [ok({"access_token": "TOKEN-1", "expires_in": 7200})]
    wechat.script["/wxa/business/getuserphonenumber"] = [ok(PHONE)]
    assert wechat.client.phone_number("ph1") == ("86", "13800000001")
    # another client instance (another worker) finds the token in the shared cache
    again = WeChatClient(base_url=wechat.client.base_url, app_id=APP_ID, secret=SECRET, timeout=0.5)
    assert again.phone_number("ph2") == ("86", "13800000001")
    token_calls = [c for c in wechat.calls if c[1] == "/cgi-bin/stable_token"]
    assert len(token_calls) == 1
    assert token_calls[0][0] == "POST" and token_calls[0][3] == {
        "grant_type": "client_credential", "appid": APP_ID, "secret": SECRET, "force_refresh": False}
    phone_calls = [c for c in wechat.calls if c[1] == "/wxa/business/getuserphonenumber"]
    assert [c[2]["access_token"] for c in phone_calls] == [["TOKEN-1"], ["TOKEN-1"]]
    assert [c[3] for c in phone_calls] == [{"code": "ph1"}, {"code": "ph2"}]


@pytest.mark.django_db
@pytest.mark.parametrize("errcode", [40001, 42001])
def test_the_access_token_is_fetched_again_on_40001_and_42001(wechat, errcode):
    cache.set(f"mp:wechat:stable_token:{APP_ID}", "OLD", 3600)
    wechat.script["/cgi-bin/stable_token"] = [ok({"access_token": "NEW", "expires_in": 7200})]
    wechat.script["/wxa/business/getuserphonenumber"] = [ok({"errcode": errcode, "errmsg": "invalid"}), ok(PHONE)]
    assert wechat.client.phone_number("ph1") == ("86", "13800000001")
    used = [c[2]["access_token"][0] for c in wechat.calls if c[1] == "/wxa/business/getuserphonenumber"]
    assert used == ["OLD", "NEW"]
    assert cache.get(f"mp:wechat:stable_token:{APP_ID}") == "NEW"


@pytest.mark.django_db
def test_a_token_refused_twice_is_upstream_busy_not_a_loop(wechat):
    wechat.script["/cgi-bin/stable_token"] = [ok({"access_token": "T", "expires_in": 7200})]
    wechat.script["/wxa/business/getuserphonenumber"] = [ok({"errcode": 40001, "errmsg": "invalid"})]
    refused("UPSTREAM_BUSY", lambda: wechat.client.phone_number("ph1"))
    assert len([c for c in wechat.calls if c[1] == "/wxa/business/getuserphonenumber"]) == 2


@pytest.mark.django_db
def test_phone_code_errors_and_bad_token_answers(wechat):
    wechat.script["/cgi-bin/stable_token"] = [ok({"errcode": -1, "errmsg": "busy"})]
    refused("UPSTREAM_BUSY", lambda: wechat.client.phone_number("ph1"))
    wechat.script["/cgi-bin/stable_token"] = [ok({"access_token": "T", "expires_in": 7200})]
    wechat.script["/wxa/business/getuserphonenumber"] = [ok({"errcode": 40029, "errmsg": "invalid code"})]
    refused("WECHAT_CODE_INVALID", lambda: wechat.client.phone_number("ph1"))
    wechat.script["/wxa/business/getuserphonenumber"] = [ok({"errcode": 0, "phone_info": {
        "purePhoneNumber": "13800000001", "countryCode": "86", "watermark": {"appid": "wx-someone-else"}}})]
    refused("UPSTREAM_BUSY", lambda: wechat.client.phone_number("ph1"))


# ---- the fake and the production refusal --------------------------------------------------------

def test_the_fake_is_deterministic():
    fake = FakeWeChat()
    assert fake.code2session("test:alice").subject == "o-test-alice" == FakeWeChat().code2session("test:alice").subject
    assert fake.phone_number("phone:13912345678") == ("86", "13912345678")
    for code, expected in (("bad", "WECHAT_CODE_INVALID"), ("busy", "UPSTREAM_BUSY"), ("rate", "RATE_LIMITED"),
                           ("test:", "WECHAT_CODE_INVALID")):
        refused(expected, lambda code=code: fake.code2session(code))
    refused("WECHAT_CODE_INVALID", lambda: fake.phone_number("phone:1234"))


def test_production_refuses_the_fake_wechat_and_a_real_one_without_credentials():
    fake = start({**GOOD, "MINIPROGRAM_WECHAT_CLIENT": "members.miniprogram.clients.FakeWeChat"})
    assert fake.returncode == 3 and "fake WeChat" in fake.stdout, fake.stdout + fake.stderr
    unset = start({k: v for k, v in GOOD.items() if k != "WECHAT_APP_SECRET"})
    assert unset.returncode == 3 and "WECHAT_APP_SECRET" in unset.stdout, unset.stdout + unset.stderr
    assert start(GOOD).returncode == 0
