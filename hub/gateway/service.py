"""The one gateway service: every till call, whatever its dialect, goes through ``handle``.

    body size → adapter.parse → credential (NO_AUTH) → signature (SIGN_ERROR) → timestamp
    (±300 s, TIMESTAMP_EXPIRED) → nonce (single use per credential for 15 min, NONCE_REUSED)
    → rate limit → store/terminal of this merchant → member credential → the till service
    → adapter.render

Every call is recorded (TillCall). Adapters only translate; services decide; this module owns
authentication, replay protection, routing and error mapping.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from hub import credentials
from hub.errors import (
    DomainError,
    NoAuth,
    NonceReused,
    ParamError,
    RateLimited,
    SignError,
    SystemError_,
    TimestampExpired,
)
from hub.gateway.base import MAX_BODY_BYTES, CredentialKeys, ParsedCall
from hub.gateway.canonical import TillCommand
from hub.gateway.dispatch import dispatch
from hub.models import Credential, Store, Terminal

logger = logging.getLogger("hub.gateway")

CLOCK_SKEW = timedelta(seconds=300)
_CACHE_TTL = 30.0
STORE_OPS = frozenset({"identify", "earn", "redeem", "freeze"})  # a refund may name only the original
_stores: dict[tuple, tuple[float, Store, Terminal | None]] = {}


def handle(adapter, request: HttpRequest, **kwargs) -> HttpResponse:
    started = time.perf_counter()
    call: ParsedCall | None = None
    keys: CredentialKeys | None = None
    credential: Credential | None = None
    record: int | None = None
    try:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = getattr(adapter, "max_body_bytes", MAX_BODY_BYTES)  # the adapter checks each endpoint's own
        if not declared.isdigit() or int(declared) > limit:
            raise ParamError(f"请求体过大（上限 {limit // 1024} KiB）")
        call = adapter.parse(request, **kwargs)
        credential, keys = authenticate(adapter, call)
        record = _record_start(credential, adapter, call)
        outcome = dispatch(credential, call.command, context(credential, call.command))
    except DomainError as exc:
        outcome = exc
    except Exception as exc:  # noqa: BLE001 - never a stack trace to a till
        logger.exception("gateway %s: unexpected error", adapter.code, exc_info=exc)
        outcome = SystemError_()
    try:
        response = adapter.render(call, outcome, keys)
    except Exception:  # noqa: BLE001
        logger.exception("gateway %s: render failed", adapter.code)
        response = HttpResponse("SYSTEM_ERROR", status=500, content_type="text/plain; charset=utf-8")
    _record_end(record, credential, adapter, call, outcome, started)
    return response


# ---- authentication ---------------------------------------------------------------------------

_credentials: dict[str, tuple[float, Credential]] = {}
CREDENTIAL_TTL = 10.0  # seconds a worker keeps a looked-up credential: a revocation bites within it


def clear_caches() -> None:
    _credentials.clear()
    _stores.clear()


def _credential(app_key) -> Credential:
    cached = _credentials.get(app_key) if isinstance(app_key, str) else None
    if cached and time.monotonic() - cached[0] < CREDENTIAL_TTL:
        credential = cached[1]
        if credential.is_sandbox and not settings.DEBUG:  # settings may change under tests
            raise NoAuth("沙箱凭证只能在测试环境使用")
        return credential
    credential = credentials.credential_for_app_key(app_key)
    _credentials[app_key] = (time.monotonic(), credential)
    return credential


def authenticate(adapter, call: ParsedCall, *, now: datetime | None = None) -> tuple[Credential, CredentialKeys]:
    now = now or timezone.now()
    credential = _credential(call.app_key)
    if credential.vendor.code != adapter.code:
        raise NoAuth("该凭证不属于此接口")
    secrets = credentials.active_secrets(credential, now)
    keys = CredentialKeys(app_key=credential.app_key, secrets=tuple(secrets),
                          public_key_pem=credential.rsa_public_key)
    verified = call.verify(keys)
    if verified is None:
        raise SignError()
    keys = CredentialKeys(app_key=keys.app_key, secrets=keys.secrets, public_key_pem=keys.public_key_pem,
                          secret=verified)
    if abs(now - call.timestamp) > CLOCK_SKEW:
        raise TimestampExpired()
    _rate_limit(credential)
    return credential, keys


def _rate_limit(credential: Credential) -> None:
    limit = getattr(settings, "GATEWAY_RATE_LIMIT_PER_MINUTE", 6000)
    key = f"gw-rate:{credential.pk}:{int(time.time() // 60)}"
    if cache.get_or_set(key, 0, 120) >= limit:
        raise RateLimited()
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, 120)


def _record_start(credential: Credential, adapter, call: ParsedCall) -> int:
    """The call's row doubles as the nonce store: (credential, nonce) is unique."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO hub_tillcall (credential_id, merchant_id, vendor, nonce, op, request_no, code, received_at)
               VALUES (%s, %s, %s, %s, %s, %s, '', now())
               ON CONFLICT DO NOTHING RETURNING id""",
            [credential.pk, credential.merchant_id, adapter.code, call.nonce, call.command.op,
             (call.command.request_no or call.command.original_request_no)[:64]])
        row = cursor.fetchone()
    if row is None:
        raise NonceReused()
    return row[0]


def _record_end(record: int | None, credential, adapter, call, outcome, started) -> None:
    code = outcome.code if isinstance(outcome, DomainError) else "SUCCESS"
    duration_ms = int((time.perf_counter() - started) * 1000)
    try:
        with connection.cursor() as cursor:
            if record is not None:
                cursor.execute("UPDATE hub_tillcall SET code = %s, duration_ms = %s WHERE id = %s",
                               [code, duration_ms, record])
            elif code != "NONCE_REUSED":  # refused before it could be recorded: record the refusal
                cursor.execute(
                    """INSERT INTO hub_tillcall (credential_id, merchant_id, vendor, nonce, op, request_no, code,
                                                 duration_ms, received_at)
                       VALUES (%s, %s, %s, '', %s, %s, %s, %s, now())""",
                    [credential.pk if credential else None, credential.merchant_id if credential else None,
                     adapter.code, call.command.op if call else "",
                     ((call.command.request_no or call.command.original_request_no) if call else "")[:64],
                     code, duration_ms])
    except Exception:  # noqa: BLE001 - recording must never break the answer
        logger.exception("gateway: could not record call")


# ---- the till's place -------------------------------------------------------------------------

def context(credential: Credential, command: TillCommand) -> tuple[Store | None, Terminal | None]:
    """The store and terminal the command names, which must belong to the credential's merchant
    (as must the merchant code, for dialects that send one, e.g. Sixun's mch_id)."""
    named = command.extra.get("mch_id")
    if named and named != credential.merchant.code:
        raise NoAuth("商户号与凭证不符")
    if not command.store_code:
        if command.op in STORE_OPS:
            raise ParamError("缺少门店编码")
        return None, None
    key = (credential.merchant_id, command.store_code, command.terminal_code)
    cached = _stores.get(key)
    if cached and time.monotonic() - cached[0] < _CACHE_TTL:
        return cached[1], cached[2]
    store = Store.objects.filter(merchant_id=credential.merchant_id, code=command.store_code, active=True).first()
    if store is None:
        raise NoAuth("门店不存在或不属于该商户")
    terminal = None
    if command.terminal_code:
        terminal = Terminal.objects.filter(store=store, code=command.terminal_code, active=True).first()
        if terminal is None:
            raise NoAuth("终端不存在或不属于该门店")
    _stores[key] = (time.monotonic(), store, terminal)
    return store, terminal
