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
        "(needed after BLIND_INDEX_KEY changes). Safe to run again."
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
                    bar.update(result.rows)
                for key in counts:
                    totals[key] += counts[key]
                self.stdout.write(
                    f"{model._meta.label}: rows={counts['rows']} reencrypted={counts['reencrypted']} "
                    f"reindexed={counts['reindexed']}"
                )
        self.stdout.write(
            f"total: rows={totals['rows']} reencrypted={totals['reencrypted']} reindexed={totals['reindexed']}"
        )
