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
from pathlib import Path
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
    merchant_code: str = ""  # the merchant the request names, for dialects with a merchant_field


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


@dataclass(frozen=True)
class Sandbox:
    """The adapter's sandbox merchant, seeded by ``make run`` (hub.demo) with the store, till and
    credential of its contract's test vectors. Sandbox credentials only work while DEBUG is on.

    ``secret`` is None for a dialect that signs with the vendor's RSA key: then ``public_key_file``
    is registered, and ``private_key_file`` (the contract's published throwaway key) is what a
    test till signs with."""

    merchant: str
    name: str
    store: str
    till: str
    app_key: str
    secret: str | None = None
    public_key_file: Path | None = None
    private_key_file: Path | None = None

    def keys(self) -> CredentialKeys:
        """The keys a sandbox till of this dialect signs with."""
        if self.secret is None:
            return CredentialKeys(app_key=self.app_key, public_key_pem=self.public_key_file.read_text(),
                                  private_key_pem=self.private_key_file.read_text())
        return CredentialKeys(app_key=self.app_key, secrets=(self.secret,), secret=self.secret)


@dataclass(frozen=True)
class TillHelpers:
    """How a test (or the till simulator) reads this dialect's business answers."""

    member_field: str  # the data field of identify's answer that holds the opaque member id
    matched_field: str = "matched"  # day-end: the data field saying whether the totals matched
    matched_values: tuple = (True, False)  # its values for yes and no


class Adapter(Protocol):
    """A dialect, described by itself (the registry and the suites need nothing else):

    - ``code``, ``name``: the registry key (also ``Vendor.code``) and the vendor's Chinese name;
    - ``auth_scheme``: "secret" (shared secret, MD5/HMAC) or "rsa" (the vendor's public key);
    - ``ops``: the canonical operations it serves; ``mount``: where its URLs go (default
      ``gateway/<code>/``); ``max_body_bytes``: the largest body any of its endpoints takes;
    - ``merchant_field``: the request field that names the merchant (checked against the
      credential's merchant), or None; the adapter puts what was sent in ``ParsedCall.merchant_code``
      and ``build_request`` sends ``command.extra["merchant_code"]`` in it;
    - ``nonce_repeat``: "refuse" (NONCE_REUSED) or "replay": the dialect has no nonce of its own
      and derives one from the signature, so a repeated nonce is the same request sent again,
      answered as a retry (the stored first answer; a used member code stays used);
    - ``sandbox``: its ``Sandbox``; ``helpers``: its ``TillHelpers``.
    """

    code: str
    name: str
    auth_scheme: str
    ops: frozenset
    mount: str
    max_body_bytes: int
    merchant_field: str | None
    nonce_repeat: str
    sandbox: Sandbox
    helpers: TillHelpers

    def get_urls(self, view: Callable) -> list: ...

    def parse(self, request: HttpRequest, **kwargs) -> ParsedCall: ...

    def render(self, call: ParsedCall | None, outcome: dict | DomainError, keys: CredentialKeys | None) -> HttpResponse: ...

    def build_request(self, command: TillCommand, *, keys: CredentialKeys, nonce: str, timestamp: datetime) -> RequestSpec: ...

    def read_response(self, status: int, headers: dict, body: bytes, keys: CredentialKeys) -> ReadResponse: ...


# ---- the one set of field readers every dialect uses ------------------------------------------
#
# Only ASCII digits: Python's \d and int() accept any Unicode digit ("1٢٨" is 128 to them).

MAX_AMOUNT_FEN = 10**10  # 100 million yuan in fen: far beyond any till sale
MAX_POINTS = 10**10  # the ledger's own bound (points.common.MAX_POINTS)
DIGITS = re.compile(r"[0-9]+", re.ASCII)
_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?", re.ASCII)
_INT = re.compile(r"(0|[1-9][0-9]{0,15})", re.ASCII)


def absent(data: dict, name: str) -> bool:
    return data.get(name) is None or data.get(name) == ""


def yuan_to_fen(value, *, field_name: str, minimum_fen: int = 0, maximum_fen: int = MAX_AMOUNT_FEN) -> int:
    """'128.50' -> 12850. Strings only, no floats, no signs, at most two decimals, ASCII digits."""
    if not isinstance(value, str) or not _YUAN.fullmatch(value.strip()):
        raise ParamError(f"金额格式错误：{field_name}（应为元，最多两位小数）")
    whole, _, frac = value.strip().partition(".")
    fen = int(whole) * 100 + int((frac + "00")[:2])
    if not minimum_fen <= fen <= maximum_fen:
        raise ParamError(f"金额超出范围：{field_name}")
    return fen


def fen_to_yuan(fen: int) -> str:
    """12850 -> '128.50' (exact integer arithmetic)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def bp_to_rate(bp: int) -> str:
    """9500 -> '0.95', 8850 -> '0.885' (the dialects that send a discount rate as a decimal
    string; basis points everywhere else)."""
    bp = int(bp)
    if not 0 <= bp <= 10000:
        raise ValueError(bp)
    if bp == 10000:
        return "1"
    return ("0." + f"{bp:04d}".rstrip("0")) if bp else "0"


def parse_rights_used(items, *, code_field: str, amount_field: str, yuan: bool, where: str = "rights_used") -> tuple:
    """A v1.1 ``rights_used`` list in a dialect's own field names -> ``(RightUse, ...)``; None
    (absent) stays None. Each item is an object with exactly the code and the discount (fen as
    an integer, or yuan as a string for the dialects that send yuan)."""
    from hub.gateway.canonical import MAX_RIGHTS_USED, RightUse

    if items is None or items == "":
        return None
    if not isinstance(items, list):
        raise ParamError(f"参数类型错误：{where}（应为数组）")
    if len(items) > MAX_RIGHTS_USED:
        raise ParamError(f"参数超出范围：{where}（最多 {MAX_RIGHTS_USED} 项）")
    out = []
    for n, item in enumerate(items):
        label = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise ParamError(f"参数类型错误：{label}（应为对象）")
        unknown = [k for k in item if k not in (code_field, amount_field)]
        if unknown:
            raise ParamError(f"不支持的参数：{label}.{str(unknown[0])[:32]}")
        code = require_str(item, code_field)
        if yuan:
            if not isinstance(item.get(amount_field), str):
                raise ParamError(f"金额格式错误：{label}.{amount_field}（应为元字符串）")
            discount = yuan_to_fen(item[amount_field], field_name=f"{label}.{amount_field}")
        else:
            if isinstance(item.get(amount_field), str):
                raise ParamError(f"参数类型错误：{label}.{amount_field}（应为整数，单位分）")
            if absent(item, amount_field):
                raise ParamError(f"缺少参数：{label}.{amount_field}")
            discount = fen_field(item, amount_field)
        out.append(RightUse(code=code, discount_fen=discount))
    return tuple(out)


def rights_used_out(uses, *, code_field: str, amount_field: str, yuan: bool) -> list | None:
    """The inverse, for building a till's request (tests, simulator)."""
    if uses is None:
        return None
    return [{code_field: u.code, amount_field: fen_to_yuan(u.discount_fen) if yuan else u.discount_fen} for u in uses]


def rights_items(rights, *, names: dict, rate: str = "decimal", money: str = "fen") -> list[dict]:
    """Canonical identify rights (see canonical.RESULT_FIELDS) in a dialect's names. ``names``
    maps code, name, discount_bp, discount_fen, threshold_fen, voucher to the dialect's fields;
    ``rate`` "decimal" sends "0.95", "bp" sends 9500; ``money`` "fen" or "yuan". Absent
    optional fields are left out, never null."""
    out = []
    for item in rights or ():
        row = {}
        for key in ("code", "name", "discount_bp", "discount_fen", "threshold_fen", "voucher"):
            value = item.get(key)
            if value is None or key not in names:
                continue
            if key == "discount_bp" and rate == "decimal":
                value = bp_to_rate(value)
            elif key in ("discount_fen", "threshold_fen") and money == "yuan":
                value = fen_to_yuan(value)
            row[names[key]] = value
        out.append(row)
    return out


def parse_int(value, *, field_name: str, minimum: int = 0, maximum: int = MAX_POINTS) -> int:
    """An integer given as a JSON int or a decimal string of ASCII digits; bools and floats are refused."""
    if isinstance(value, bool):
        raise ParamError(f"参数类型错误：{field_name}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ParamError(f"参数类型错误：{field_name}（应为整数）")
    if number < minimum or number > maximum:
        raise ParamError(f"参数超出范围：{field_name}")
    return number


def int_field(data: dict, name: str, *, minimum: int = 0, maximum: int = MAX_POINTS, required: bool = True,
              missing: Callable[[str], ParamError] | None = None) -> int | None:
    """``data[name]`` read with ``parse_int``; None when absent and not required."""
    if absent(data, name):
        if required:
            raise (missing or _missing)(name)
        return None
    return parse_int(data[name], field_name=name, minimum=minimum, maximum=maximum)


def fen_field(data: dict, name: str, *, required: bool = True, minimum: int = 0,
              missing: Callable[[str], ParamError] | None = None) -> int | None:
    """An amount in integer fen (dialects that send fen)."""
    return int_field(data, name, minimum=minimum, maximum=MAX_AMOUNT_FEN, required=required, missing=missing)


def yuan_field(data: dict, name: str, *, required: bool = True, minimum_fen: int = 0,
               missing: Callable[[str], ParamError] | None = None) -> int | None:
    """An amount as a yuan string (dialects that send yuan), in fen."""
    if absent(data, name):
        if required:
            raise (missing or _missing)(name)
        return None
    return yuan_to_fen(data[name], field_name=name, minimum_fen=minimum_fen)


def _missing(name: str) -> ParamError:
    return ParamError(f"缺少参数：{name}")


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
    if required and not value:
        raise ParamError(f"缺少参数：{name}")
    return value
