"""Re-encrypt stored PII and secrets under the newest key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from members.reencryption import encrypted_models, reencrypt_batch


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column still under an older key of FIELD_ENCRYPTION_KEYS "
        "with the newest one, in batches; --reindex also recomputes the blind indexes "
        "(needed after the blind index key changes). Values no key decrypts and indexes that "
        "collide with another row are skipped and listed; the command then exits with an error. "
        "Safe to run again; an interrupted run resumes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reindex", action="store_true", help="recompute blind indexes (mobile, ID number)")
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")

    def handle(self, *args, reindex: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size 必须为正整数")
        targets = list(encrypted_models())
        total = sum(model._default_manager.count() for model, _ in targets)
        totals = {"rows": 0, "reencrypted": 0, "reindexed": 0}
        problems: list[str] = []
        with tqdm(total=total, unit="row", file=sys.stderr, disable=options["verbosity"] == 0) as bar:
            for model, fields in targets:
                counts = {"rows": 0, "reencrypted": 0, "reindexed": 0}
                after_pk = 0
                while True:
                    result = reencrypt_batch(
                        model=model, fields=fields, after_pk=after_pk, batch_size=batch_size, reindex=reindex
                    )
                    if result.last_pk is None:
                        break
                    after_pk = result.last_pk
                    for key in counts:
                        counts[key] += getattr(result, key)
                    for pk, column in result.unreadable:
                        problems.append(f"{model._meta.label} id={pk} {column}: no key of FIELD_ENCRYPTION_KEYS decrypts it")
                    for pk, column in result.conflicts:
                        problems.append(
                            f"{model._meta.label} id={pk} {column}: another row already has this value's newest "
                            "index (duplicate value); left under its old key"
                        )
                    bar.update(result.rows)
                for key in counts:
                    totals[key] += counts[key]
                self.stdout.write(
                    f"{model._meta.label}: rows={counts['rows']} reencrypted={counts['reencrypted']} "
                    f"reindexed={counts['reindexed']}"
                )
        self.stdout.write(
            f"total: rows={totals['rows']} reencrypted={totals['reencrypted']} reindexed={totals['reindexed']} "
            f"skipped={len(problems)}"
        )
        for problem in problems:
            self.stdout.write(f"skipped: {problem}")
        if problems:
            raise CommandError(
                f"{len(problems)} value(s) skipped (listed above). Do not remove any key from "
                "FIELD_ENCRYPTION_KEYS or BLIND_INDEX_KEYS until they are repaired and a rerun reports none."
            )
