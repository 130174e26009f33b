"""Merchant-scoped voucher references: the opaque ``code`` a till, gate or platform is given for
a voucher (identify's rights items, ``vouchers/query``) and names it by in later calls.

A reference is ``V`` + 26 Crockford base32 characters (27 in all): one AES block holding the
voucher id and a keyed HMAC tag of (merchant, voucher). It is stateless (nothing is stored),
reveals nothing (not the voucher id, not how many vouchers exist), differs at every merchant for
the same voucher, and resolves only at the merchant it was made for: another merchant's
reference, or a forged one, does not resolve (a 64-bit tag to guess). It resolves for the life
of the voucher; whether the voucher is still usable (state, expiry) is the write-off's question,
so an expired voucher's reference answers ``VOUCHER_EXPIRED`` there rather than "not found".

Keys are derived from ``settings.SECRET_KEY`` with their own purpose, as the voucher and member
code digests are (``rights.vouchers``, ``members.codes``); rotating SECRET_KEY invalidates the
references handed out, as it does the codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

from rights.models import Voucher

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
REF_RE = re.compile(r"^V[0-9A-HJKMNP-TV-Z]{26}$")
_MAX_ID = 2**64 - 1


def _key(purpose: str) -> bytes:
    return hashlib.sha256(f"voucher-ref-{purpose}:{settings.SECRET_KEY}".encode()).digest()


def _tag(merchant_id: int, voucher_id: int) -> bytes:
    return hmac.new(_key("mac"), f"{merchant_id}:{voucher_id}".encode(), hashlib.sha256).digest()[:8]


def _cipher() -> Cipher:
    # one 16-byte block per reference, each block distinct: ECB of a single block is a keyed permutation
    return Cipher(algorithms.AES(_key("enc")[:16]), modes.ECB())  # noqa: S305


def _encode(block: bytes) -> str:
    number = int.from_bytes(block, "big")
    return "".join(_ALPHABET[(number >> (5 * i)) & 31] for i in range(25, -1, -1))


def voucher_reference(voucher, merchant) -> str:
    """The opaque reference of ``voucher`` (a Voucher or its id) at ``merchant`` (a Merchant or its id)."""
    voucher_id = int(getattr(voucher, "pk", voucher))
    merchant_id = int(getattr(merchant, "pk", merchant))
    encryptor = _cipher().encryptor()
    block = encryptor.update(voucher_id.to_bytes(8, "big") + _tag(merchant_id, voucher_id)) + encryptor.finalize()
    return "V" + _encode(block)


def is_reference(text) -> bool:
    """Whether ``text`` has the shape of a voucher reference (not whether it resolves)."""
    return isinstance(text, str) and bool(REF_RE.match(text))


def resolve_reference(ref, merchant) -> Voucher | None:
    """The voucher ``ref`` names at ``merchant``, or None (malformed, forged, another merchant's,
    or a voucher that no longer exists)."""
    if not is_reference(ref):
        return None
    number = 0
    for char in ref[1:]:
        number = number * 32 + _INDEX[char]
    if number >> 128:
        return None  # 26 characters carry 130 bits: the top two of a real reference are zero
    decryptor = _cipher().decryptor()
    block = decryptor.update(number.to_bytes(16, "big")) + decryptor.finalize()
    voucher_id = int.from_bytes(block[:8], "big")
    merchant_id = int(getattr(merchant, "pk", merchant))
    if not 0 < voucher_id <= _MAX_ID or not hmac.compare_digest(block[8:], _tag(merchant_id, voucher_id)):
        return None
    return Voucher.objects.filter(pk=voucher_id).select_related("right", "member").first()
