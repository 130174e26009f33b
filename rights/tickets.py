"""Offline gate tickets (离线门票): ``LBQ2.<payload>.<signature>``, verifiable with a public key alone.

A mountain gate with poor signal cannot ask the hub. The mini-program shows it instead a ticket
the hub signed:

    payload   = base64url(compact JSON {"v","voucher","right","site","valid_from","valid_to","people","kid"})
    signature = base64url(Ed25519(private key of kid, b"LBQ2." + payload))
    ticket    = "LBQ2." + payload + "." + signature          (base64url without padding)

- ``voucher``: the voucher's reference at the site (``rights.references``; opaque, the site's own,
  the same a revocation list names); ``right``: the right's code; ``site``: the scenic spot's
  merchant code; ``valid_from`` / ``valid_to``: unix seconds, ``valid_to`` exclusive (a ticket
  "valid until 30 Nov" ends at 1 Dec 00:00 +08:00); ``people``: how many it admits; ``kid``: the key.
- Keys: ``settings.GATE_TICKET_KEYS`` (``kid:base64url(seed)``, newest first; the newest signs, all
  are published by ``GET /api/v1/gate/keys``). The default is the sandbox key ``sbx1``, derived
  from a public string, which production settings refuse.

``verify_ticket(token, public_keys)`` is what a gate does (and ``OfflineGate`` a gate's whole
offline decision, for the tests and as a reference for gate vendors); ``issue_offline_ticket``
is called by the mini-program's API when the member opens a ticket.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from hub.errors import DomainError, VoucherExpired, VoucherNotFound
from rights import references
from rights.models import Right, Voucher

PREFIX = "LBQ2"
VERSION = 1
FIELDS = ("v", "voucher", "right", "site", "valid_from", "valid_to", "people", "kid")
MAX_TOKEN = 1024
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class TicketInvalid(VoucherNotFound):
    """Not a ticket of the hub: malformed, unknown key, bad signature (VOUCHER_NOT_FOUND)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    if not _B64.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@cache
def _ring(raw: tuple[str, ...]) -> tuple[tuple[str, Ed25519PrivateKey], ...]:
    ring = []
    for item in raw:
        kid, _, seed = item.partition(":")
        try:
            secret = unb64url(seed)
        except (ValueError, binascii.Error):
            secret = b""
        if not _KID.match(kid) or len(secret) != 32:
            raise ImproperlyConfigured("GATE_TICKET_KEYS: each key is kid:base64url(32-byte Ed25519 seed)")
        ring.append((kid, Ed25519PrivateKey.from_private_bytes(secret)))
    if not ring:
        raise ImproperlyConfigured("GATE_TICKET_KEYS is empty: offline gate tickets cannot be signed")
    return tuple(ring)


def signing_keys() -> tuple[tuple[str, Ed25519PrivateKey], ...]:
    """The ring, newest first: (kid, private key)."""
    return _ring(tuple(settings.GATE_TICKET_KEYS))


def public_keys() -> dict[str, str]:
    """kid -> base64url of the raw 32-byte Ed25519 public key, for every key of the ring."""
    return {kid: b64url(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)) for kid, key in signing_keys()}


def _payload_bytes(payload: dict) -> bytes:
    return json.dumps({name: payload[name] for name in FIELDS}, ensure_ascii=False, separators=(",", ":")).encode()


def sign_payload(payload: dict, *, kid: str | None = None) -> str:
    ring = dict(signing_keys())
    kid = kid or signing_keys()[0][0]
    body = b64url(_payload_bytes({**payload, "kid": kid}))
    signed = f"{PREFIX}.{body}".encode()
    return f"{PREFIX}.{body}.{b64url(ring[kid].sign(signed))}"


def issue_offline_ticket(*, voucher: Voucher, now: datetime | None = None) -> str:
    """The offline ticket of a scenic-ticket voucher at its scenic spot (the right's first
    provider): refused if the voucher cannot be used any more. Stateless: the same voucher gets
    the same ticket until the key changes; showing it twice is what gates' used-sets and the
    upload's double-use exceptions are for."""
    now = now or timezone.now()
    voucher = Voucher.objects.select_related("right").get(pk=voucher.pk)
    right = voucher.right
    if right.kind != Right.Kind.SCENIC_TICKET:
        raise DomainError("只有景区门票可以生成离线票", code="RIGHT_NOT_APPLICABLE")
    if voucher.state not in (Voucher.State.PENDING, Voucher.State.AVAILABLE) or voucher.expires_at <= now:
        raise VoucherExpired("凭证不可使用，不能生成离线票")
    site = right.providers.order_by("pk").first()
    valid_to = voucher.expires_at if right.valid_until is None else min(voucher.expires_at, right.valid_until)
    valid_from = voucher.valid_from if right.valid_from is None else max(voucher.valid_from, right.valid_from)
    return sign_payload({
        "v": VERSION, "voucher": references.voucher_reference(voucher, site), "right": right.code, "site": site.code,
        "valid_from": int(valid_from.timestamp()), "valid_to": int(valid_to.timestamp()), "people": right.people or 1,
    })


def _public_key(value) -> Ed25519PublicKey:
    if isinstance(value, Ed25519PublicKey):
        return value
    raw = unb64url(value) if isinstance(value, str) else bytes(value)
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_ticket(token, public_keys: Mapping) -> dict:
    """The payload of a ticket signed by one of ``public_keys`` (kid -> key: an Ed25519PublicKey,
    raw bytes or base64url text, as ``GET /api/v1/gate/keys`` gives them). Raises TicketInvalid
    for anything else. Says nothing of validity dates, revocation or use: the gate's questions."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        raise TicketInvalid("离线票格式无效")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TicketInvalid("离线票格式无效")
    try:
        payload = json.loads(unb64url(parts[1]))
        signature = unb64url(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TicketInvalid("离线票格式无效") from None
    if not isinstance(payload, dict) or set(payload) != set(FIELDS) or payload.get("v") != VERSION:
        raise TicketInvalid("离线票格式无效")
    key = public_keys.get(payload["kid"]) if isinstance(payload["kid"], str) else None
    if key is None:
        raise TicketInvalid("离线票签名密钥未知")
    try:
        _public_key(key).verify(signature, f"{PREFIX}.{parts[1]}".encode())
    except (InvalidSignature, ValueError, binascii.Error):
        raise TicketInvalid("离线票签名无效") from None
    for name in ("valid_from", "valid_to", "people"):
        if isinstance(payload[name], bool) or not isinstance(payload[name], int):
            raise TicketInvalid("离线票格式无效")
    return payload


@dataclass
class OfflineGate:
    """A gate's offline decision, as a gate vendor would build it: the published keys, the site's
    revocation list and its own used-set; admits or says why not, and queues the scan to upload."""

    site: str
    keys: Mapping
    revoked: set = field(default_factory=set)
    used: set = field(default_factory=set)
    queue: list = field(default_factory=list)

    def learn_revocations(self, items: Iterable[dict]) -> None:
        self.revoked.update(item["voucher"] for item in items)

    def admit(self, token: str, *, people: int, scan_no: str, now: datetime) -> tuple[bool, str]:
        try:
            payload = verify_ticket(token, self.keys)
        except TicketInvalid:
            return False, "invalid"
        stamp = int(now.timestamp())
        if payload["site"] != self.site:
            return False, "wrong_site"
        if stamp < payload["valid_from"]:
            return False, "not_yet_valid"
        if stamp >= payload["valid_to"]:
            return False, "expired"
        if payload["voucher"] in self.revoked:
            return False, "revoked"
        if payload["voucher"] in self.used:
            return False, "used"
        if people > payload["people"]:
            return False, "too_many_people"
        self.used.add(payload["voucher"])
        self.queue.append({"scan_no": scan_no, "ticket": token, "people": people,
                           "scanned_at": now.astimezone(UTC).isoformat()})
        return True, "admitted"
