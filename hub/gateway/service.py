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
from django.db import IntegrityError, transaction
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
from hub.models import Credential, Store, Terminal, TillCall

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
    record: TillCall | None = None
    try:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            raise ParamError("请求体过大（上限 64 KiB）")
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

def authenticate(adapter, call: ParsedCall, *, now: datetime | None = None) -> tuple[Credential, CredentialKeys]:
    now = now or timezone.now()
    credential = credentials.credential_for_app_key(call.app_key)
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


def _record_start(credential: Credential, adapter, call: ParsedCall) -> TillCall:
    """The call's row doubles as the nonce store: (credential, nonce) is unique."""
    try:
        with transaction.atomic():
            return TillCall.objects.create(
                credential=credential, merchant_id=credential.merchant_id, vendor=adapter.code, nonce=call.nonce,
                op=call.command.op, request_no=call.command.request_no or call.command.original_request_no,
                received_at=timezone.now())
    except IntegrityError:
        raise NonceReused() from None


def _record_end(record, credential, adapter, call, outcome, started) -> None:
    code = outcome.code if isinstance(outcome, DomainError) else "SUCCESS"
    duration_ms = int((time.perf_counter() - started) * 1000)
    try:
        if record is not None:
            TillCall.objects.filter(pk=record.pk).update(code=code, duration_ms=duration_ms)
        elif code not in ("NONCE_REUSED",):
            TillCall.objects.create(
                credential=credential, merchant_id=credential.merchant_id if credential else None,
                vendor=adapter.code, nonce="", op=call.command.op if call else "",
                request_no=(call.command.request_no or call.command.original_request_no) if call else "",
                received_at=timezone.now(), code=code, duration_ms=duration_ms)
    except Exception:  # noqa: BLE001 - recording must never break the answer
        logger.exception("gateway: could not record call")


# ---- the till's place -------------------------------------------------------------------------

def context(credential: Credential, command: TillCommand) -> tuple[Store | None, Terminal | None]:
    """The store and terminal the command names, which must belong to the credential's merchant."""
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


def throttle_guess(terminal: Terminal | None, merchant_id: int) -> None:
    """Refuse a terminal that keeps presenting unknown member codes (guessing)."""
    key = f"gw-guess:{merchant_id}:{terminal.pk if terminal else 0}"
    if (cache.get(key) or 0) >= getattr(settings, "GATEWAY_CODE_FAILURES_PER_10MIN", 20):
        raise RateLimited("会员码错误次数过多，请稍后再试")


def count_failed_guess(terminal: Terminal | None, merchant_id: int) -> None:
    key = f"gw-guess:{merchant_id}:{terminal.pk if terminal else 0}"
    if not cache.add(key, 1, 600):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, 600)

