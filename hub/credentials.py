"""Credentials of merchant integrations: issue, rotate, revoke, and look one up for the gateway.

A credential is an app key plus either a shared secret (vendors that sign with MD5/HMAC) or the
vendor's registered RSA public key (Fangxiang's RSA2); which one is decided by the vendor's
``auth_scheme``. Secrets are stored encrypted (the vault's key ring) and handed to a person once:
the plaintext is the return value of ``issue_credential`` / ``rotate_credential`` and nothing
else shows it again. Only signature verification reads it back, through ``active_secrets``.

Every change (rotate, revoke, a new public key, or any other update of the row) takes effect at
the gateway immediately: a worker admits a call only while the credential row's version (its
``xmin`` and ``ctid``, read as ``row_version`` by ``credential_for_app_key``) is the one it verified the call
against, and otherwise reads the row again and verifies again (hub.gateway.service).

Rotation keeps the previous secret valid for an overlap window so tills can be re-configured
without downtime. There is one previous slot: rotating again inside the window drops the oldest
secret at once (that is also how a leaked secret is killed: rotate with ``overlap=timedelta(0)``).
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from hub.errors import NoAuth, ParamError
from hub.models import Credential, Merchant, Vendor

logger = logging.getLogger("hub.credentials")

APP_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{3,63}$")
SECRET_RE = re.compile(r"^[\x21-\x7e]{16,128}$")  # printable ASCII, no spaces
MIN_RSA_BITS = 2048
MAX_OVERLAP = timedelta(days=30)
DEFAULT_OVERLAP = timedelta(hours=24)


def generate_app_key() -> str:
    return f"ak_{secrets.token_hex(10)}"


def generate_secret() -> str:
    """256 random bits, URL-safe (no '|', '&' or '=' that a dialect's sign string could trip on)."""
    return secrets.token_urlsafe(32)


def validate_rsa_public_key(pem) -> str:
    """Return the key as a normalised SubjectPublicKeyInfo PEM, or raise ParamError."""
    if not isinstance(pem, str) or not pem.strip():
        raise ParamError("请提供厂商的 RSA 公钥（PEM 格式）")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError, TypeError) as exc:
        raise ParamError("RSA 公钥无效：请粘贴完整的 PEM 公钥（以 -----BEGIN PUBLIC KEY----- 开头）") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ParamError("公钥类型错误：只接受 RSA 公钥")
    if key.key_size < MIN_RSA_BITS:
        raise ParamError(f"RSA 公钥长度不足：至少 {MIN_RSA_BITS} 位")
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def check_issue(*, merchant, vendor, app_key=None, secret=None, rsa_public_key="") -> tuple[str, str, str]:
    """Validate the inputs of ``issue_credential`` without writing anything.

    Returns ``(app_key or "", secret or "", normalised public key PEM or "")``; empty app key or
    secret means "generate one". Used by the service and by the admin form (to show form errors).
    """
    if not isinstance(merchant, Merchant) or merchant.pk is None:
        raise ParamError("请选择商户")
    if not isinstance(vendor, Vendor) or vendor.pk is None:
        raise ParamError("请选择接口方言（收银软件厂商）")
    if merchant.status == Merchant.Status.CLOSED:
        raise ParamError(f"商户“{merchant.name}”已关闭，不能签发凭证")
    app_key = app_key or ""
    if app_key:
        if not isinstance(app_key, str) or not APP_KEY_RE.match(app_key):
            raise ParamError("AppKey 格式错误：4 到 64 位字母、数字、下划线、点或连字符，且以字母或数字开头")
        if Credential.objects.filter(app_key=app_key).exists():
            raise ParamError(f"AppKey“{app_key}”已被使用")
    secret = secret or ""
    rsa_public_key = rsa_public_key or ""
    if vendor.auth_scheme == Vendor.AuthScheme.RSA:
        if secret:
            raise ParamError(f"{vendor.name}接口使用 RSA2 签名，不使用共享密钥")
        rsa_public_key = validate_rsa_public_key(rsa_public_key)
    else:
        if rsa_public_key:
            raise ParamError(f"{vendor.name}接口使用共享密钥签名（见厂商的签名方式），不接受 RSA 公钥")
        if secret and (not isinstance(secret, str) or not SECRET_RE.match(secret)):
            raise ParamError("密钥格式错误：16 到 128 位可打印 ASCII 字符，不含空格")
    return app_key, secret, rsa_public_key


@transaction.atomic
def issue_credential(
    *, merchant, vendor, app_key=None, secret=None, rsa_public_key="", is_sandbox=False
) -> tuple[Credential, str | None]:
    """Create a credential; return it with the plaintext secret (None for RSA credentials).

    The secret is generated (256 random bits) unless given; this is the only time it is shown.
    """
    app_key, secret, rsa_public_key = check_issue(
        merchant=merchant, vendor=vendor, app_key=app_key, secret=secret, rsa_public_key=rsa_public_key
    )
    if not isinstance(is_sandbox, bool):
        raise ParamError("沙箱标记必须为是或否")
    app_key = app_key or generate_app_key()
    if vendor.auth_scheme != Vendor.AuthScheme.RSA:
        secret = secret or generate_secret()
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                merchant=merchant,
                vendor=vendor,
                app_key=app_key,
                secret=secret,
                rsa_public_key=rsa_public_key,
                is_sandbox=is_sandbox,
            )
    except IntegrityError as exc:  # a concurrent issue took the same app key
        raise ParamError(f"AppKey“{app_key}”已被使用") from exc
    logger.info(
        "credential issued app_key=%s merchant=%s vendor=%s sandbox=%s",
        app_key, merchant.code, vendor.code, is_sandbox,
    )
    return credential, (secret or None)


def _locked(credential: Credential) -> Credential:
    if not isinstance(credential, Credential) or credential.pk is None:
        raise ParamError("凭证不存在")
    try:
        return Credential.objects.select_for_update().get(pk=credential.pk)
    except Credential.DoesNotExist as exc:
        raise ParamError("凭证不存在") from exc


def _refresh(target: Credential, source: Credential) -> None:
    for field in Credential._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


@transaction.atomic
def rotate_credential(*, credential: Credential, overlap: timedelta = DEFAULT_OVERLAP) -> str:
    """Give the credential a new secret; the current one stays valid until now + ``overlap``.

    Returns the new plaintext secret (shown once). ``overlap=timedelta(0)`` invalidates the old
    secret immediately (a leaked secret). The given instance is refreshed.
    """
    if not isinstance(overlap, timedelta) or overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise ParamError("过渡期必须在 0 到 30 天之间")
    locked = _locked(credential)
    if not locked.is_active:
        raise ParamError(f"凭证“{locked.app_key}”已吊销，不能轮换密钥")
    if not locked.secret:
        raise ParamError(f"凭证“{locked.app_key}”使用 RSA 公钥，没有可轮换的密钥，请更换公钥")
    now = timezone.now()
    new_secret = generate_secret()
    if overlap > timedelta(0):
        locked.previous_secret = locked.secret
        locked.previous_valid_until = now + overlap
    else:
        locked.previous_secret = ""
        locked.previous_valid_until = None
    locked.secret = new_secret
    locked.rotated_at = now
    locked.save(update_fields=["secret", "previous_secret", "previous_valid_until", "rotated_at"])
    _refresh(credential, locked)
    logger.info("credential rotated app_key=%s previous_valid_until=%s", locked.app_key, locked.previous_valid_until)
    return new_secret


@transaction.atomic
def revoke_credential(*, credential: Credential) -> None:
    """Stop a credential for good: every later call with its app key is refused (NO_AUTH)."""
    locked = _locked(credential)
    if not locked.is_active:
        raise ParamError(f"凭证“{locked.app_key}”已吊销")
    locked.status = Credential.Status.REVOKED
    locked.revoked_at = timezone.now()
    locked.previous_secret = ""
    locked.previous_valid_until = None
    locked.save(update_fields=["status", "revoked_at", "previous_secret", "previous_valid_until"])
    _refresh(credential, locked)
    logger.info("credential revoked app_key=%s", locked.app_key)


@transaction.atomic
def replace_public_key(*, credential: Credential, rsa_public_key: str) -> None:
    """Register a vendor's new RSA public key on an RSA credential (the vendor rotated its pair)."""
    pem = validate_rsa_public_key(rsa_public_key)
    locked = _locked(credential)
    if not locked.is_active:
        raise ParamError(f"凭证“{locked.app_key}”已吊销")
    if not locked.rsa_public_key:
        raise ParamError(f"凭证“{locked.app_key}”使用共享密钥，不能登记 RSA 公钥")
    locked.rsa_public_key = pem
    locked.save(update_fields=["rsa_public_key"])
    _refresh(credential, locked)
    logger.info("credential public key replaced app_key=%s", locked.app_key)


def active_secrets(credential: Credential, now: datetime | None = None) -> tuple[str, ...]:
    """The secrets a request may be signed with now: the current one first, then the previous
    one while its overlap window lasts. Empty for revoked and RSA credentials."""
    if not credential.is_active:
        return ()
    now = now or timezone.now()
    found = [credential.secret] if credential.secret else []
    if credential.previous_secret and credential.previous_valid_until and now < credential.previous_valid_until:
        found.append(credential.previous_secret)
    return tuple(found)


# The version of a credential's row, as text: PostgreSQL's xmin (the transaction that wrote this
# version of it) and ctid (where the version lies). Every UPDATE, of any column, even by hand, makes
# a new version with another xmin, or within the transaction that wrote the last one another ctid.
# A table rewrite (VACUUM FULL) changes ctids too, which costs a worker one more read.
ROW_VERSION_SQL = "{table}.xmin::text || ':' || {table}.ctid::text"
ROW_VERSION = RawSQL(ROW_VERSION_SQL.format(table='"hub_credential"'), ())


def credential_for_app_key(app_key) -> Credential:
    """The usable credential for an app key sent by a till, with its merchant and vendor, and its
    row's version as ``row_version``.

    Raises NoAuth for an unknown or revoked key, a suspended or closed merchant, and for sandbox
    credentials when ``settings.DEBUG`` is off (sandbox keys are published in the vendor docs).
    """
    if not isinstance(app_key, str) or not app_key or len(app_key) > 64:
        raise NoAuth("AppKey 无效")
    try:
        credential = (Credential.objects.select_related("merchant", "vendor")
                      .annotate(row_version=ROW_VERSION).get(app_key=app_key))
    except Credential.DoesNotExist as exc:
        raise NoAuth("AppKey 无效") from exc
    if not credential.is_active:
        raise NoAuth("凭证已吊销")
    if credential.is_sandbox and not settings.DEBUG:
        raise NoAuth("沙箱凭证只能在测试环境使用")
    if not credential.merchant.is_active:
        raise NoAuth("商户已暂停或关闭")
    return credential
