"""The hub's own RSA key pair for Fangxiang: it signs every Fangxiang response.

Setting ``FANGXIANG_HUB_PRIVATE_KEY``: the PEM text of the hub's RSA private key (2048 bits or
more, unencrypted PKCS#8 or PKCS#1; literal ``\\n`` sequences, as environment variables often
carry them, are read as newlines). Its public half is published at
``GET gateway/fangxiang/public-key`` for vendors to verify responses with.

- Set: that key is used.
- Unset and ``DEBUG`` True: a key is generated once (RSA 2048) into
  ``BASE_DIR/.run/fangxiang_hub_private.pem`` (mode 0600) and reused from there, so ``make run``
  works on a fresh machine and keeps its key across restarts.
- Unset and ``DEBUG`` False: any use raises ``ImproperlyConfigured``.

Generate one for production with
``openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from hub.vendors.fangxiang import signing

SETTING = "FANGXIANG_HUB_PRIVATE_KEY"
DEV_KEY_FILE = Path(".run") / "fangxiang_hub_private.pem"
MIN_KEY_BITS = 2048


def dev_key_path() -> Path:
    return Path(settings.BASE_DIR) / DEV_KEY_FILE


def _generate_dev_key(target: Path) -> None:
    """Write a fresh key to ``target`` unless one appears there first (several workers may race:
    the key is written to a temporary file and linked into place, which never overwrites)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".fangxiang_hub_", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)  # mkstemp creates the file with mode 0600
        try:
            os.link(temp_name, target)
        except FileExistsError:
            pass  # another process won the race; its key is complete and is the one to use
    finally:
        os.unlink(temp_name)


def _private_key_pem() -> str:
    configured = getattr(settings, SETTING, None)
    if configured:
        pem = str(configured)
        return pem.replace("\\n", "\n") if "\n" not in pem else pem
    if not settings.DEBUG:
        raise ImproperlyConfigured(
            f"{SETTING} is not set: the hub needs its RSA private key to sign Fangxiang responses"
        )
    path = dev_key_path()
    if not path.exists():
        _generate_dev_key(path)
    return path.read_text(encoding="ascii")


def hub_private_key() -> rsa.RSAPrivateKey:
    try:
        key = signing.load_private_key(_private_key_pem())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{SETTING} is not an unencrypted RSA private key in PEM: {exc}") from exc
    if key.key_size < MIN_KEY_BITS:
        raise ImproperlyConfigured(f"{SETTING} must be at least {MIN_KEY_BITS} bits")
    return key


def hub_public_key_pem() -> str:
    """The public half, as ``-----BEGIN PUBLIC KEY-----`` (SubjectPublicKeyInfo) PEM text."""
    public = hub_private_key().public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def hub_public_key() -> rsa.RSAPublicKey:
    return hub_private_key().public_key()
