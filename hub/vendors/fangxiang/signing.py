"""Fangxiang RSA2 signatures (fangxiang.md): pure functions, no settings, no I/O.

Request sign string: every parameter with a non-empty value except ``sign``, sorted by name,
``k=v`` joined with ``&``, raw (not URL-encoded) values. Signatures are Base64 SHA256withRSA
(PKCS#1 v1.5) over the UTF-8 bytes of the string. Responses are signed over the exact text of
the ``*_response`` object as it appears in the body.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_SIGNATURE_CHARS = 2048  # Base64 of a 8192-bit signature is 1368 characters


def sign_string(params: Mapping[str, str]) -> str:
    return "&".join(f"{name}={value}" for name, value in sorted(params.items()) if name != "sign" and value != "")


@lru_cache(maxsize=256)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM text; ValueError for anything else."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


@lru_cache(maxsize=16)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from PEM text; ValueError for anything else."""
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ValueError("not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def canonical_signature(signature: str) -> bytes | None:
    """The signature's bytes if ``signature`` is their one canonical Base64 spelling, else None.

    A '+' sent without URL-encoding arrives as a space and is read back as '+'."""
    text = signature.replace(" ", "+")
    if not text or len(text) > MAX_SIGNATURE_CHARS:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def rsa_sign(message: str, private_key: rsa.RSAPrivateKey | str) -> str:
    if isinstance(private_key, str):
        private_key = load_private_key(private_key)
    signature = private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(message: str, signature: str, public_key: rsa.RSAPublicKey | str) -> bool:
    """True only for a valid signature; a malformed key or signature is simply False."""
    if not signature or len(signature) > MAX_SIGNATURE_CHARS:
        return False
    try:
        if isinstance(public_key, str):
            public_key = load_public_key(public_key)
        # A '+' sent without URL-encoding arrives as a space; Base64 never contains spaces.
        raw = base64.b64decode(signature.replace(" ", "+"), validate=True)
        public_key.verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, TypeError, binascii.Error, InvalidSignature, UnicodeEncodeError):
        return False
    return True
