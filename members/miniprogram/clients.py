"""The sign-in clients of the mini-program, chosen in settings (``HUB_MINIPROGRAM_CLIENTS``,
channel → class path, like ``HUB_TILL_ADAPTERS``). A client answers two questions:

- ``code2session(js_code) -> Identity(subject, unionid)``: who is signing in;
- ``phone_number(code) -> (country_code, pure_phone_number)``: the mobile the user let WeChat share.

``WeChatClient`` speaks HTTPS to WeChat (base URL, app id, secret and timeout from settings,
which read the environment): ``GET /sns/jscode2session``, ``POST /wxa/business/getuserphonenumber``
with the access token of ``POST /cgi-bin/stable_token``, which is cached centrally (the shared
cache) and fetched again only when it expires or WeChat answers ``40001``/``42001``. Every WeChat
refusal becomes a canonical code (``ERRCODES``); a timeout, a connection failure or an answer that
is not the JSON WeChat documents is ``UPSTREAM_BUSY``. The ``session_key`` WeChat returns is
dropped at once: the hub needs none of it and it never leaves this module.

``FakeWeChat`` is the deterministic stand-in of development, the sandbox and the tests (refused
by ``hub.settings_production``): ``test:<name>`` → subject ``o-test-<name>``; ``phone:<11-digit
mobile>`` → that mobile; ``bad`` → ``40029`` (``WECHAT_CODE_INVALID``); ``busy`` → ``-1``
(``UPSTREAM_BUSY``); ``rate`` → ``45011`` (``RATE_LIMITED``). An Alipay client would be one more
class with the same two methods and ``channel = "alipay"``.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.cache import caches
from django.utils.module_loading import import_string

from hub.errors import DomainError, UpstreamBusy, WechatCodeInvalid

logger = logging.getLogger("members.miniprogram.clients")

# WeChat errcode -> canonical refusal (code, Chinese message)
ERRCODES = {
    40029: ("WECHAT_CODE_INVALID", "微信登录凭证无效或已使用，请重新进入小程序"),
    40163: ("WECHAT_CODE_INVALID", "微信登录凭证已使用，请重新进入小程序"),
    40226: ("WECHAT_CODE_INVALID", "该微信账号存在风险，暂不能登录"),
    45011: ("RATE_LIMITED", "微信登录过于频繁，请稍后再试"),
    -1: ("UPSTREAM_BUSY", "微信服务繁忙，请稍后再试"),
}
TOKEN_INVALID = frozenset({40001, 42001})  # the access token is invalid or expired: fetch it again
_CODE_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")


@dataclass(frozen=True)
class Identity:
    subject: str  # WeChat's openid
    unionid: str = ""


def _refusal(errcode: int, errmsg: str = "") -> DomainError:
    code, message = ERRCODES.get(errcode, ("UPSTREAM_BUSY", "微信服务暂时不可用，请稍后再试"))
    logger.warning("wechat refused: errcode=%s errmsg=%s", errcode, (errmsg or "")[:120])
    return DomainError(message, code=code)


def _check_code(value) -> str:
    if not isinstance(value, str) or not _CODE_RE.match(value):
        raise WechatCodeInvalid()
    return value


class WeChatClient:
    channel = "wechat"

    def __init__(self, *, base_url: str | None = None, app_id: str | None = None, secret: str | None = None,
                 timeout: float | None = None):
        self.base_url = (base_url or settings.WECHAT_BASE_URL).rstrip("/")
        self.app_id = app_id or settings.WECHAT_APP_ID
        self._secret = secret or settings.WECHAT_APP_SECRET
        self.timeout = timeout if timeout is not None else settings.WECHAT_TIMEOUT_SECONDS

    # ---- transport --------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None) -> dict:
        url = f"{self.base_url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - https URL from settings
                raw = response.read(65536)
        except TimeoutError:
            logger.warning("wechat timeout: %s", path)  # never the URL: it carries the secret or token
            raise UpstreamBusy("微信服务响应超时，请稍后再试") from None
        except urllib.error.HTTPError as exc:
            logger.warning("wechat http error: %s %s", path, exc.code)
            raise UpstreamBusy() from None
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("wechat unreachable: %s %s", path, type(exc).__name__)
            raise UpstreamBusy() from None
        try:
            answer = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            logger.warning("wechat answered malformed JSON: %s", path)
            raise UpstreamBusy("微信服务应答异常，请稍后再试") from None
        if not isinstance(answer, dict):
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        errcode = answer.get("errcode", 0)
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        answer["errcode"] = errcode
        return answer

    # ---- the access token -------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        return f"mp:wechat:stable_token:{self.app_id}"

    def access_token(self, *, stale: str | None = None) -> str:
        """The cached access token, fetched from ``stable_token`` when there is none (or the one
        there is ``stale``, i.e. WeChat just refused it)."""
        shared = caches["default"]
        token = shared.get(self._token_key)
        if token and token != stale:
            return token
        answer = self._call("POST", "/cgi-bin/stable_token", body={
            "grant_type": "client_credential", "appid": self.app_id, "secret": self._secret, "force_refresh": False})
        if answer["errcode"]:
            raise _refusal(answer["errcode"], answer.get("errmsg", ""))
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        # kept a little less long than WeChat says, so a token is never used in its last minutes
        shared.set(self._token_key, token, timeout=max(expires_in - 300, 60))
        return token

    # ---- the two questions ------------------------------------------------------------------

    def code2session(self, js_code: str) -> Identity:
        answer = self._call("GET", "/sns/jscode2session", query={
            "appid": self.app_id, "secret": self._secret, "js_code": _check_code(js_code),
            "grant_type": "authorization_code"})
        answer.pop("session_key", None)  # never kept, never logged, never answered
        if answer["errcode"]:
            raise _refusal(answer["errcode"], answer.get("errmsg", ""))
        openid = answer.get("openid")
        if not isinstance(openid, str) or not openid:
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        unionid = answer.get("unionid") if isinstance(answer.get("unionid"), str) else ""
        return Identity(openid, unionid)

    def phone_number(self, code: str) -> tuple[str, str]:
        code = _check_code(code)
        token = self.access_token()
        for attempt in range(2):
            answer = self._call("POST", "/wxa/business/getuserphonenumber", query={"access_token": token},
                                body={"code": code})
            if answer["errcode"] in TOKEN_INVALID and attempt == 0:
                token = self.access_token(stale=token)
                continue
            break
        if answer["errcode"]:
            raise _refusal(answer["errcode"], answer.get("errmsg", ""))
        info = answer.get("phone_info")
        if not isinstance(info, dict):
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        watermark = info.get("watermark") or {}
        if isinstance(watermark, dict) and watermark.get("appid") not in (None, self.app_id):
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        country, phone = info.get("countryCode"), info.get("purePhoneNumber")
        if not isinstance(country, str) or not isinstance(phone, str) or not phone:
            raise UpstreamBusy("微信服务应答异常，请稍后再试")
        return country, phone


class FakeWeChat:
    """Deterministic WeChat for development, the sandbox and tests (see the module doc)."""

    channel = "wechat"
    app_id = "wx-sandbox-laobiaoqing"

    def code2session(self, js_code: str) -> Identity:
        js_code = _check_code(js_code)
        if js_code == "busy":
            raise _refusal(-1)
        if js_code == "rate":
            raise _refusal(45011)
        if js_code.startswith("test:") and len(js_code) > 5:
            return Identity(f"o-test-{js_code[5:]}")
        raise _refusal(40029)

    def phone_number(self, code: str) -> tuple[str, str]:
        code = _check_code(code)
        if re.fullmatch(r"phone:1\d{10}", code):
            return "86", code[6:]
        raise _refusal(40029)


@cache
def _client_class(path: str):
    return import_string(path)


def client(channel: str = "wechat"):
    """The configured client of ``channel`` (a fresh instance: settings may change in tests)."""
    path = settings.HUB_MINIPROGRAM_CLIENTS.get(channel)
    if not path:
        raise DomainError("该登录渠道未开通", code="PARAM_ERROR")
    return _client_class(path)()


def is_fake(path: str) -> bool:
    return getattr(_client_class(path), "__name__", "") == "FakeWeChat" or path.endswith(".FakeWeChat")


__all__ = ["ERRCODES", "FakeWeChat", "Identity", "WeChatClient", "client", "is_fake"]
