"""Demo and sandbox data, loaded idempotently by `manage.py seed_demo` (part of `make run`)."""

from __future__ import annotations

from django.db import transaction

from hub.models import Vendor

VENDORS = dict(Vendor.CODE_CHOICES)


@transaction.atomic
def seed() -> dict:
    for code, name in VENDORS.items():
        Vendor.objects.get_or_create(code=code, defaults={"name": name})
    return {"vendors": Vendor.objects.count()}
