"""Demo and sandbox data, loaded idempotently by `manage.py seed_demo` (part of `make run`).

Every step creates what is missing and leaves existing rows alone, so re-running changes
nothing, and an operator's edits to demo rows survive a restart.

The sandbox lets a vendor's developer point a till at a local hub: one merchant per dialect,
with the store and till codes and the credentials of that vendor document's test vectors. The
sandbox credentials are marked ``is_sandbox`` and refused whenever ``DEBUG`` is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from hub.credentials import issue_credential
from hub.gateway import registry
from hub.models import Credential, Merchant, Store, Terminal, Vendor

ISSUER_CODE = "CPJX"
ISSUER_NAME = "中国邮政江西省分公司（邮政金融积分）"


@dataclass(frozen=True)
class SandboxMerchant:
    """One registered dialect's sandbox (its adapter's ``sandbox``), with the dialect's code."""

    vendor: str
    code: str
    name: str
    store: str
    till: str
    app_key: str
    secret: str | None = None  # None: the vendor signs with RSA and registers ``public_key_file``
    public_key_file: Path | None = None


def sandbox_merchants() -> list[SandboxMerchant]:
    """The sandbox of every registered adapter (hub.gateway.registry), in registry order."""
    found = []
    for code, adapter in registry.adapters().items():
        box = adapter.sandbox
        found.append(SandboxMerchant(code, box.merchant, box.name, box.store, box.till, box.app_key, box.secret,
                                     box.public_key_file))
    return found


@dataclass(frozen=True)
class DemoMerchant:
    code: str
    name: str
    scene: str
    vendor: str
    terminal_kind: str
    stores: tuple[tuple[str, str], ...]  # (code, name)
    tills: tuple[str, ...]  # the same till codes in every store


DEMO = [
    DemoMerchant(
        "DEMO_MKT", "南昌洪城智慧菜场", Merchant.Scene.MARKET, Vendor.NATIVE, Terminal.Kind.CLOUD_POS,
        (("A01", "洪城菜场一号馆"), ("A02", "洪城菜场二号馆"), ("A03", "洪城菜场三号馆")),
        ("CP01", "CP02"),
    ),
    DemoMerchant(
        "DEMO_FOOD", "赣味小馆餐饮连锁", Merchant.Scene.RESTAURANT, Vendor.KEMAI, Terminal.Kind.POS,
        (("S001", "红谷滩店"), ("S002", "八一广场店"), ("S003", "青山湖店"), ("S004", "九江浔阳店")),
        ("P01", "P02"),
    ),
]


def _count(created: dict, key: str, was_created: bool) -> None:
    created[key] = created.get(key, 0) + int(was_created)


@transaction.atomic
def seed_vendors() -> int:
    """The Vendor row of every registered dialect (also made after every ``migrate``). Returns how
    many were created."""
    return registry.sync_vendors()


def _store_with_tills(merchant: Merchant, code: str, name: str, tills, kind: str, created: dict) -> None:
    store, was_created = Store.objects.get_or_create(merchant=merchant, code=code, defaults={"name": name})
    _count(created, "stores", was_created)
    for till in tills:
        _, was_created = Terminal.objects.get_or_create(store=store, code=till, defaults={"kind": kind})
        _count(created, "terminals", was_created)


@transaction.atomic
def seed_network() -> dict[str, int]:
    """The postal issuer, one sandbox merchant per dialect (with its test-vector store, till and
    credential) and demo merchants in other scenes. Needs ``seed_vendors`` first.

    Returns how many merchants, stores, terminals and credentials were created.
    """
    vendors = {vendor.code: vendor for vendor in Vendor.objects.all()}
    created = {"merchants": 0, "stores": 0, "terminals": 0, "credentials": 0}

    _, was_created = Merchant.objects.get_or_create(
        code=ISSUER_CODE,
        defaults={"name": ISSUER_NAME, "kind": Merchant.Kind.ISSUER, "scene": Merchant.Scene.OTHER},
    )
    _count(created, "merchants", was_created)

    for sandbox in sandbox_merchants():
        vendor = vendors[sandbox.vendor]
        merchant, was_created = Merchant.objects.get_or_create(
            code=sandbox.code,
            defaults={"name": sandbox.name, "scene": Merchant.Scene.SUPERMARKET, "vendor": vendor},
        )
        _count(created, "merchants", was_created)
        _store_with_tills(merchant, sandbox.store, "沙箱测试门店", [sandbox.till], Terminal.Kind.POS, created)
        if not Credential.objects.filter(app_key=sandbox.app_key).exists():
            public_key = sandbox.public_key_file.read_text() if sandbox.secret is None else ""
            issue_credential(
                merchant=merchant, vendor=vendor, app_key=sandbox.app_key, secret=sandbox.secret,
                rsa_public_key=public_key, is_sandbox=True,
            )
            _count(created, "credentials", True)

    for demo in DEMO:
        merchant, was_created = Merchant.objects.get_or_create(
            code=demo.code, defaults={"name": demo.name, "scene": demo.scene, "vendor": vendors[demo.vendor]}
        )
        _count(created, "merchants", was_created)
        for code, name in demo.stores:
            _store_with_tills(merchant, code, name, demo.tills, demo.terminal_kind, created)
    return created


@transaction.atomic
def seed() -> dict[str, int]:
    """Load all demo and sandbox data; returns how many rows of each kind this run created
    (all zero when everything was already there).

    Steps run in dependency order, one function each: first the network (vendors, then
    merchants, stores, terminals and credentials); members and the points ledger (programs,
    agreements, demo balances) refer to merchants, so their seeding steps follow here (the
    rights catalogue, rights.demo, before the points ledger).
    """
    from members.demo import seed_members
    from points.demo import seed_points
    from rights.demo import seed_rights

    created = {"vendors": seed_vendors()}
    created.update(seed_network())
    created.update(seed_members())
    # Rights name the issuer as funder, the sandbox merchants as providers and the demo members
    # as holders; their scenic-spot merchant (counted with the network's) gets its points
    # agreement in the next step like every merchant.
    rights = seed_rights()
    for kind in ("merchants", "stores", "terminals", "credentials"):  # the scenic spot's gate credential too
        created[kind] += rights.pop(kind)
    created.update(rights)
    created.update(seed_points(Merchant.objects.get(code=ISSUER_CODE)))
    from hub.vendors.cloudpos.demo import seed_cloudpos

    created.update(seed_cloudpos())  # cloud-POS cashiers and devices (the sandbox's and the fresh market's)
    from members.miniprogram.demo import seed_miniprogram

    for kind, count in seed_miniprogram().items():  # a second program and conversion rates
        created[kind] = created.get(kind, 0) + count
    return created
