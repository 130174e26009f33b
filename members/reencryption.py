"""Key-rotation maintenance: move encrypted values to the newest key, recompute blind indexes.

A service module like ``members.services`` (these are its only writes), kept apart because it
works on raw ciphertext of every model with an ``EncryptedTextField`` — members and the hub's
integration credentials alike — rather than on one member.

Values are re-encrypted with ``vault.rotate`` on the stored token and written back as raw
text, so plaintext never needs to be materialised unless ``--reindex`` asks for blind indexes.
Each batch is one transaction holding row locks on just that batch, so a concurrent service
call can neither be overwritten nor see a half-rotated row.

Nothing stops the walk: a value no key of the ring opens is left as it is and reported
(``unreadable``), and a blind index that cannot move to the newest key because another row
already holds that index (two members with one mobile, let in before the key ring existed) is
left under its old key and reported (``conflicts``). A rerun does only what is still to do, so
an interrupted run is resumed by running it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps as django_apps
from django.db import IntegrityError, models, transaction
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
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # (pk, column) no key opens
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (pk, index column) left as is


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
    indexes = BLIND_INDEXES.get(model._meta.label_lower, ()) if reindex else ()
    rows = list(
        model._default_manager.select_for_update()
        .filter(pk__gt=after_pk)
        .order_by("pk")
        .annotate(**raw_names)
        .values("pk", *raw_names, *(index_field for _, index_field, _ in indexes))[:batch_size]
    )
    result = BatchResult(last_pk=rows[-1]["pk"] if rows else None, rows=len(rows), reencrypted=0, reindexed=0)
    for row in rows:
        updates = {}
        for name in fields:
            token = row[f"raw_{name}"]
            if not token or vault.is_current(token):
                continue
            try:
                updates[name] = _raw(vault.rotate(token))
            except vault.VaultError:
                result.unreadable.append((row["pk"], name))
        if updates:
            model._default_manager.filter(pk=row["pk"]).update(**updates)
            result.reencrypted += 1
        if indexes and _reindex_row(model, row, indexes, result):
            result.reindexed += 1
    return result


def _reindex_row(model, row: dict, indexes, result: BatchResult) -> bool:
    """Move the row's blind indexes to the newest key; True if one changed."""
    changed = False
    for value_field, index_field, purpose in indexes:
        token = row[f"raw_{value_field}"]
        value = vault.decrypt_or_unreadable(token) if token else ""
        if vault.is_unreadable(value):
            continue  # already reported as unreadable; its index stays what it was
        wanted = vault.blind_index(value, purpose=purpose) if value else None
        if row[index_field] == wanted:
            continue
        try:
            with transaction.atomic():
                model._default_manager.filter(pk=row["pk"]).update(**{index_field: wanted})
        except IntegrityError:
            result.conflicts.append((row["pk"], index_field))
            continue
        changed = True
    return changed
