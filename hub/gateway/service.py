"""The one gateway service: every till call, whatever its dialect, goes through ``handle``.

    body size → adapter.parse → credential + signature (one generic SIGN_ERROR for an unknown,
    revoked or other dialect's key and a bad signature; the reason goes to the log) → timestamp
    (±300 s, TIMESTAMP_EXPIRED) → nonce (single use per credential for 15 minutes, NONCE_REUSED;
    for a dialect whose nonce is derived from the signature, a repeat is the request's own
    retry) → rate limit (only calls that passed the nonce; a batch counts its items) → merchant,
    store and terminal of this credential → the till service → adapter.render

Every call is recorded (TillCall, kept for GATEWAY_CALL_RETENTION_DAYS). Adapters only
translate; services decide; this module owns authentication, replay protection, routing and
error mapping.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from hub import credentials
from hub.credentials import ROW_VERSION_SQL
from hub.db import Lookup, fetch_prepared, keep_ahead, lateral, read_ahead
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
from hub.gateway import throttle
from hub.gateway.base import DIGITS, MAX_BODY_BYTES, CredentialKeys, ParsedCall
from hub.gateway.canonical import BATCH_OP, TillCommand
from hub.gateway.dispatch import dispatch, reads_ahead
from hub.models import Credential, Store, Terminal
from hub.monitoring import metrics
from members import codes

logger = logging.getLogger("hub.gateway")

CLOCK_SKEW = timedelta(seconds=300)
NONCE_WINDOW = timedelta(minutes=15)  # the contract: a nonce is single-use per credential for 15 minutes
RATE_WINDOW = 60
_CACHE_TTL = 30.0
STORE_OPS = frozenset({"identify", "earn", "redeem", "freeze"})  # a refund may name only the original
# The one answer to a request that could not be authenticated, whatever the reason.
REFUSED = "签名验证失败：请检查 AppKey、密钥与签名方式"
_stores: dict[tuple, tuple[float, Store, Terminal | None]] = {}


def handle(adapter, request: HttpRequest, **kwargs) -> HttpResponse:
    """One till call; what its admitting statement read ahead for the operation is kept for this
    call only (``hub.db.read_ahead``)."""
    with read_ahead():
        return _handle(adapter, request, **kwargs)


def _handle(adapter, request: HttpRequest, **kwargs) -> HttpResponse:
    started = time.perf_counter()
    call: ParsedCall | None = None
    keys: CredentialKeys | None = None
    credential: Credential | None = None
    record: int | None = None
    try:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = getattr(adapter, "max_body_bytes", MAX_BODY_BYTES)  # the adapter checks each endpoint's own
        if not DIGITS.fullmatch(declared) or int(declared) > limit:
            raise ParamError(f"请求体过大（上限 {limit // 1024} KiB）")
        call = adapter.parse(request, **kwargs)
        credential, keys = authenticate(adapter, call)
        _check_batch(call.command)
        credential, keys, (record, fresh, count) = _admit_current(credential, keys, adapter, call)
        if not fresh and getattr(adapter, "nonce_repeat", "refuse") != "replay":
            raise NonceReused()
        if fresh:  # a repeat answered as the request's own retry costs the merchant nothing
            _rate_limit(credential, call.command, count)
        outcome = dispatch(credential, call.command, context(credential, call))
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
# Seconds a worker keeps a looked-up credential. A change of the credential's own row (rotation,
# revocation, a new public key, an edit in the admin or by hand) is seen on the next call anyway:
# _admit only proceeds while the row's version is the one the worker verified against. What the
# TTL bounds is the rest: the merchant's status, the vendor.
CREDENTIAL_TTL = 10.0
ADMIT_ATTEMPTS = 3  # reads of a credential that keeps changing under a call before it gives up


def clear_caches() -> None:
    _credentials.clear()
    _stores.clear()


def _credential(app_key: str, *, reread: bool = False) -> tuple[Credential, bool]:
    """The credential of an app key and whether it came from this worker's cache."""
    cached = None if reread else _credentials.get(app_key)
    if cached and time.monotonic() - cached[0] < CREDENTIAL_TTL:
        credential = cached[1]
        if credential.is_sandbox and not settings.DEBUG:  # settings may change under tests
            raise NoAuth("沙箱凭证只能在测试环境使用")
        return credential, True
    _credentials.pop(app_key, None)
    credential = credentials.credential_for_app_key(app_key)
    _credentials[app_key] = (time.monotonic(), credential)
    return credential, False


def _usable_credential(adapter, app_key, *, reread: bool) -> tuple[Credential, bool]:
    try:
        credential, cached = _credential(app_key, reread=reread)
        if credential.vendor.code != adapter.code:
            raise NoAuth(f"credential of dialect {credential.vendor.code}")
    except NoAuth as exc:
        logger.warning("gateway %s: refused app key %r: %s", adapter.code, str(app_key)[:64], exc.message)
        raise SignError(REFUSED) from None
    return credential, cached


def _keys(credential: Credential, now: datetime) -> CredentialKeys:
    return CredentialKeys(app_key=credential.app_key, secrets=tuple(credentials.active_secrets(credential, now)),
                          public_key_pem=credential.rsa_public_key)


def authenticate(adapter, call: ParsedCall, *, now: datetime | None = None,
                 reread: bool = False) -> tuple[Credential, CredentialKeys]:
    """The credential and keys a call is signed with (``reread``: not this worker's cached copy;
    a signature or dialect check that fails against the cached copy is tried once more against
    the row, if the row changed since). Every
    way of failing before the signature is known good answers the same SIGN_ERROR, so a caller
    learns nothing of which app keys exist, are revoked or belong to another dialect; the reason
    is logged."""
    now = now or timezone.now()
    credential, cached = _usable_credential(adapter, call.app_key, reread=reread)
    try:
        verified = call.verify(keys := _keys(credential, now))
    except DomainError as exc:  # the dialect's own refusal (a cloud-POS device or cashier check)
        if not cached:
            raise
        verified, refusal = None, exc
    else:
        refusal = None
    if verified is None and cached:
        # Signed with a secret or key this worker has not read yet, or refused because its copy is
        # stale (a revoked device)? Verified again only if the row did change: a dialect's check
        # may count failures (a supervisor PIN) and must not count one twice.
        current, _ = _usable_credential(adapter, call.app_key, reread=True)
        if current.row_version != credential.row_version:
            credential = current
            verified = call.verify(keys := _keys(credential, now))
        elif refusal is not None:
            raise refusal
    if verified is None:
        logger.warning("gateway %s: bad signature for app key %s", adapter.code, credential.app_key)
        raise SignError(REFUSED)
    keys = CredentialKeys(app_key=keys.app_key, secrets=keys.secrets, public_key_pem=keys.public_key_pem,
                          secret=verified)
    if abs(now - call.timestamp) > CLOCK_SKEW:
        raise TimestampExpired()
    return credential, keys


# Nothing is written unless the credential's row is still the version the call was verified
# against (hub.credentials.ROW_VERSION: every UPDATE of the row makes a new one); the third column says whether it was.
_ADMIT = """
WITH current AS (
    SELECT 1 FROM hub_credential WHERE id = %(credential)s AND """ + ROW_VERSION_SQL.format(table="hub_credential") + """ = %(version)s
), fresh AS (
    INSERT INTO hub_till_nonce (credential_id, nonce, seen_at)
    SELECT %(credential)s, %(nonce)s, now() WHERE EXISTS (SELECT 1 FROM current)
    ON CONFLICT (credential_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at
    WHERE hub_till_nonce.seen_at <= now() - make_interval(secs => %(window)s)
    RETURNING 1
), recorded AS (
    INSERT INTO hub_tillcall (credential_id, merchant_id, vendor, nonce, op, request_no, code, received_at)
    SELECT %(credential)s, %(merchant)s, %(vendor)s, %(nonce)s, %(op)s, %(request_no)s, '', now()
     WHERE EXISTS (SELECT 1 FROM current)
    RETURNING id
)"""
_ADMITTED = "(SELECT id FROM recorded), EXISTS (SELECT 1 FROM fresh), EXISTS (SELECT 1 FROM current)"
# With counters in PostgreSQL, the rate-limit increment rides in the same statement, only when
# the nonce is fresh: one round trip per call for nonce, record and limit.
_COUNTED = """, counted AS (
    INSERT INTO hub_gateway_counter (key, value, expires_at)
    SELECT %(key)s, %(units)s, now() + make_interval(secs => %(key_window)s) WHERE EXISTS (SELECT 1 FROM fresh)
    ON CONFLICT (key) DO UPDATE SET
        value = CASE WHEN hub_gateway_counter.expires_at <= now() THEN EXCLUDED.value
                     ELSE hub_gateway_counter.value + EXCLUDED.value END,
        expires_at = CASE WHEN hub_gateway_counter.expires_at <= now() THEN EXCLUDED.expires_at
                          ELSE hub_gateway_counter.expires_at END
    RETURNING value
)"""


def _admit_sql(counting: bool, lookups: list[Lookup]) -> tuple[str, dict]:
    """The admitting statement, and with ``lookups`` the reads the operation will make first
    (``hub.db.lateral``: after the admit's columns) with their parameters."""
    sql = _ADMIT + (_COUNTED if counting else "") + "\nSELECT " + _ADMITTED
    if counting:
        sql += ", (SELECT value FROM counted)"
    if not lookups:
        return sql, {}
    clauses, params = lateral(lookups)
    columns = ", ".join(f"ahead{n}.*" for n in range(len(lookups)))
    return f"{sql}, {columns} FROM (SELECT 1) one {clauses}", params


def _rate_key(credential: Credential) -> str:
    return f"gw-rate:{credential.pk}:{int(time.time() // RATE_WINDOW)}"


def _admit(credential: Credential, adapter, call: ParsedCall) -> tuple[int, bool, int | None] | None:
    """Record the call and its nonce in one statement: (record id, whether the nonce is fresh, the
    rate-limit count after this call when counted here), or None, having written nothing, when the
    credential's row changed since ``credential`` was read.

    A nonce is single use per credential for 15 minutes; one older than that may come again (the
    timestamp check refuses the old request itself long before); expired nonces are pruned
    (hub.gateway.retention)."""
    params = {"credential": credential.pk, "version": credential.row_version, "merchant": credential.merchant_id,
              "vendor": adapter.code, "nonce": call.nonce[:64], "op": call.command.op,
              "request_no": _request_no(call), "window": NONCE_WINDOW.total_seconds()}
    counting = not throttle.uses_redis()
    if counting:
        params.update(key=_rate_key(credential), units=_units(call.command), key_window=2 * RATE_WINDOW)
    lookups = reads_ahead(credential.merchant_id, call.command)
    sql, ahead = _admit_sql(counting, lookups)
    rows = fetch_prepared(sql, {**params, **ahead})
    row = rows[0]
    if not row[2]:
        return None
    keep_ahead(lookups, rows, after=4 if counting else 3)
    return row[0], row[1], (row[3] if counting else None)


def _admit_current(credential: Credential, keys: CredentialKeys, adapter, call: ParsedCall) -> tuple:
    """(credential, keys, what ``_admit`` gives) for ``_admit`` against the credential as it is now: when its row changed after this worker read
    it (a rotation, a revocation), the call is authenticated again from the row and admitted only
    if it still passes, so a change takes effect on the very next call of every worker."""
    for _ in range(ADMIT_ATTEMPTS):
        admitted = _admit(credential, adapter, call)
        if admitted is not None:
            return credential, keys, admitted
        credential, keys = authenticate(adapter, call, reread=True)
    logger.warning("gateway %s: credential %s kept changing under a call", adapter.code, credential.app_key)
    raise SystemError_()


def _units(command: TillCommand) -> int:
    """What a call costs against the rate limit: one, or a batch's number of items."""
    if command.op == BATCH_OP:
        return max(1, len(command.extra.get("items") or ()))
    return 1


def _weak_items(command: TillCommand) -> int:
    """Batch items naming their member by a weak credential (a mobile or a store card number)."""
    weak = 0
    for item in command.extra.get("items") or ():
        member = ((item.command.member if item.command is not None else "") or "").strip()
        if member and not (codes.REF_RE.match(member) or codes.CODE_RE.match(member)):
            weak += 1
    return weak


def _check_batch(command: TillCommand) -> None:
    if command.op == BATCH_OP:
        cap = getattr(settings, "GATEWAY_BATCH_MAX_WEAK_ITEMS", 20)
        if _weak_items(command) > cap:
            raise ParamError(f"批量上传中以手机号或卡号指定会员的条目过多（上限 {cap} 条），请使用会员标识")


def _rate_limit(credential: Credential, command: TillCommand, count: int | None = None) -> None:
    """RATE_LIMITED past GATEWAY_RATE_LIMIT_PER_MINUTE units (``count``: already counted by _admit)."""
    limit = getattr(settings, "GATEWAY_RATE_LIMIT_PER_MINUTE", 6000)
    if count is None:
        count = throttle.hit(_rate_key(credential), window=2 * RATE_WINDOW, amount=_units(command))
    if count > limit:
        raise RateLimited()


def _request_no(call: ParsedCall | None) -> str:
    if call is None:
        return ""
    return (call.command.request_no or call.command.original_request_no)[:64]


def _record_end(record: int | None, credential, adapter, call, outcome, started) -> None:
    code = outcome.code if isinstance(outcome, DomainError) else "SUCCESS"
    elapsed = time.perf_counter() - started
    duration_ms = int(elapsed * 1000)
    metrics.till_call(dialect=adapter.code, op=call.command.op if call else "", outcome=code, seconds=elapsed)
    try:
        if record is not None:
            fetch_prepared("UPDATE hub_tillcall SET code = %s, duration_ms = %s WHERE id = %s RETURNING id",
                           [code, duration_ms, record])
            return
        with connection.cursor() as cursor:  # refused before it could be recorded: record the refusal
            cursor.execute(
                """INSERT INTO hub_tillcall (credential_id, merchant_id, vendor, nonce, op, request_no, code,
                                             duration_ms, received_at)
                   VALUES (%s, %s, %s, '', %s, %s, %s, %s, now())""",
                [credential.pk if credential else None, credential.merchant_id if credential else None,
                 adapter.code, call.command.op if call else "", _request_no(call), code, duration_ms])
    except Exception:  # noqa: BLE001 - recording must never break the answer
        logger.exception("gateway: could not record call")


# ---- the till's place -------------------------------------------------------------------------

def context(credential: Credential, call: ParsedCall) -> tuple[Store | None, Terminal | None]:
    """The store and terminal the command names, which must belong to the credential's merchant
    (as must the merchant code, for dialects that send one: the adapter's ``merchant_field``)."""
    command = call.command
    if call.merchant_code and call.merchant_code != credential.merchant.code:
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
