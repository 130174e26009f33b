"""Key-rotation maintenance: move encrypted values to the newest key, recompute blind indexes.

A service module like ``members.services`` (these are its only writes), kept apart because it
works on raw ciphertext of every model with an ``EncryptedTextField`` — members and the hub's
integration credentials alike — rather than on one member.

Values are re-encrypted with ``vault.rotate`` on the stored token and written back as raw
text, so plaintext never needs to be materialised unless ``--reindex`` asks for blind indexes.
Each batch is one transaction holding row locks on just that batch, so a concurrent service
call can neither be overwritten nor see a half-rotated row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps as django_apps
from django.db import models, transaction
from django.db.models.functions import Cast

from members import vault
from members.fields import EncryptedTextField

# model label -> (encrypted field, blind-index field, blind-index purpose)
BLIND_INDEXES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "members.member": (("mobile", "mobile_index", "mobile"), ("id_number", "id_number_index", "id_number")),
}


@dataclass
class BatchResult:
    last_pk: int | None
    rows: int
    reencrypted: int
    reindexed: int


def encrypted_models() -> Iterator[tuple[type[models.Model], list[str]]]:
    """Every concrete model with encrypted columns, with the names of those columns."""
    for model in django_apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def _raw(value: str) -> models.Value:
    """A value written as-is, bypassing the field's encryption."""
    return models.Value(value, output_field=models.TextField())


@transaction.atomic
def reencrypt_batch(
    *, model: type[models.Model], fields: list[str], after_pk: int, batch_size: int, reindex: bool = False
) -> BatchResult:
    """Process up to ``batch_size`` rows with a primary key above ``after_pk``."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    raw_names = {f"raw_{name}": Cast(name, output_field=models.TextField()) for name in fields}
    rows = list(
        model._default_manager.select_for_update()
        .filter(pk__gt=after_pk)
        .order_by("pk")
        .annotate(**raw_names)
        .values("pk", *raw_names)[:batch_size]
    )
    reencrypted = 0
    for row in rows:
        updates = {
            name: _raw(vault.rotate(row[f"raw_{name}"]))
            for name in fields
            if row[f"raw_{name}"] and not vault.is_current(row[f"raw_{name}"])
        }
        if updates:
            model._default_manager.filter(pk=row["pk"]).update(**updates)
            reencrypted += 1
    reindexed = 0
    indexes = BLIND_INDEXES.get(model._meta.label_lower, ())
    if reindex and indexes and rows:
        for obj in model._default_manager.filter(pk__in=[row["pk"] for row in rows]):
            changes = {}
            for value_field, index_field, purpose in indexes:
                value = getattr(obj, value_field)
                wanted = vault.blind_index(value, purpose=purpose) if value else None
                if getattr(obj, index_field) != wanted:
                    changes[index_field] = wanted
            if changes:
                model._default_manager.filter(pk=obj.pk).update(**changes)
                reindexed += 1
    last_pk = rows[-1]["pk"] if rows else None
    return BatchResult(last_pk=last_pk, rows=len(rows), reencrypted=reencrypted, reindexed=reindexed)
