"""What a vendor adapter is: a translator between one dialect and the canonical vocabulary.

An adapter never touches the database, a balance or a business rule. The gateway service
(hub.gateway.service) does authentication lookups, nonce and timestamp checks, idempotency,
recording and dispatch; the adapter only

- ``get_urls(view)``: the URL patterns of its dialect, each routed to ``view`` (the gateway's
  view bound to this adapter) with whatever path kwargs the dialect needs;
- ``parse(request, **kwargs) -> ParsedCall``: decode and validate the request's *shape* (raising
  ``DomainError`` — PARAM_ERROR for a bad body — before anything else happens), extracting the
  credential's app key, nonce, timestamp and a ``verify`` closure that checks the signature
  against a credential's keys;
- ``render(call, outcome, keys) -> HttpResponse``: the canonical result dict or DomainError in
  the dialect's envelope, signed where the dialect signs responses. ``call`` and ``keys`` are
  None when the request could not be parsed or authenticated.

and, for tests, benchmarks and the sandbox's till simulator, the inverse:

- ``build_request(command, *, keys, nonce, timestamp) -> RequestSpec``
- ``read_response(status, headers, body, keys) -> ReadResponse``
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.http import HttpRequest, HttpResponse

from hub.errors import DomainError, ParamError
from hub.gateway.canonical import TillCommand

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class CredentialKeys:
    """What an adapter may know of a credential: never a model, only keys.

    ``secrets`` lists the secrets valid now (current first, then the previous one during a
    rotation overlap). ``secret`` is the one that verified this request, used to sign the reply.
    """

    app_key: str
    secrets: tuple[str, ...] = ()
    public_key_pem: str = ""  # the vendor's registered RSA public key (Fangxiang)
    secret: str = ""
    private_key_pem: str = ""  # tests/simulator only: the vendor's private key for building requests


@dataclass
class ParsedCall:
    app_key: str
    nonce: str
    timestamp: datetime  # aware
    command: TillCommand
    verify: Callable[[CredentialKeys], str | None]  # returns the secret that verified (or "" for RSA), None if bad
    context: dict = field(default_factory=dict)  # dialect details needed to render (method, charset…)


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str  # including query string, if any
    body: bytes
    content_type: str
    headers: dict = field(default_factory=dict)  # extra headers, e.g. {"Authorization": ...}


@dataclass(frozen=True)
class ReadResponse:
    """A dialect's answer read back into canonical terms (for tests and the till simulator)."""

    ok: bool  # business success
    code: str  # canonical code; "SUCCESS" when ok; "PROCESSING" when the dialect says unknown
    message: str
    data: dict  # business fields in the dialect's own names
    signature_valid: bool | None  # None when the dialect does not sign this response


class Adapter(Protocol):
    code: str

    def get_urls(self, view: Callable) -> list: ...

    def parse(self, request: HttpRequest, **kwargs) -> ParsedCall: ...

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse: ...

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec: ...

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse: ...


# ---- shared helpers for translating values --------------------------------------------------

_YUAN = re.compile(r"^(0|[1-9]\d{0,11})(?:\.(\d{1,2}))?$")
_INT = re.compile(r"^(0|[1-9]\d{0,15})$")
MAX_FEN = 10**12  # 100 million yuan in fen: far beyond any till sale
MAX_POINTS = 10**12


def yuan_to_fen(value, *, field_name: str) -> int:
    """'128.50' -> 12850. Strings only, no floats, no signs, at most two decimals."""
    if not isinstance(value, str) or not _YUAN.match(value.strip()):
        raise ParamError(f"金额格式错误：{field_name}（应为元，最多两位小数）")
    whole, _, frac = value.strip().partition(".")
    fen = int(whole) * 100 + int((frac + "00")[:2])
    if fen > MAX_FEN:
        raise ParamError(f"金额超出范围：{field_name}")
    return fen


def fen_to_yuan(fen: int) -> str:
    """12850 -> '128.50' (exact integer arithmetic)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def parse_int(value, *, field_name: str, minimum: int = 0, maximum: int = MAX_POINTS) -> int:
    """An integer given as a JSON int or a decimal string; bools and floats are refused."""
    if isinstance(value, bool):
        raise ParamError(f"参数类型错误：{field_name}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT.match(value.strip()):
        number = int(value.strip())
    else:
        raise ParamError(f"参数类型错误：{field_name}（应为整数）")
    if number < minimum or number > maximum:
        raise ParamError(f"参数超出范围：{field_name}")
    return number


def require_str(data: dict, name: str, *, max_len: int = 64, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ParamError(f"缺少参数：{name}")
        return ""
    if not isinstance(value, str):
        raise ParamError(f"参数类型错误：{name}（应为字符串）")
    value = value.strip()
    if len(value) > max_len or any(ord(ch) < 32 for ch in value):
        raise ParamError(f"参数格式错误：{name}")
    return value
