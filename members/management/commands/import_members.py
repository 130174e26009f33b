"""Import members and their tiers from a postal-finance CSV export (format: docs/members.md)."""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from members.importer import ImportFileError, import_members


class Command(BaseCommand):
    help = (
        "Import members and tiers from a postal-finance CSV export (UTF-8 with or without BOM, or "
        "GBK). Each line is imported on its own; rejected lines are listed with line number and "
        "reason. Running the same file again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV file")
        parser.add_argument("--encoding", choices=["auto", "utf-8", "gbk"], default="auto")
        parser.add_argument("--report", help="also write the rejected lines to this CSV file (UTF-8 with BOM)")

    def handle(self, *args, path: str, encoding: str, report: str | None, **options):
        source = Path(path)
        if not source.is_file():
            raise CommandError(f"文件不存在：{path}")
        try:
            result = import_members(source, encoding=encoding, progress=options["verbosity"] > 0)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"encoding={result.encoding}")
        for rejection in result.rejected:
            self.stdout.write(f"line {rejection.line}: {rejection.reason}")
        if report:
            with open(report, "w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["行号", "邮政会员号", "原因"])
                for rejection in result.rejected:
                    writer.writerow([rejection.line, rejection.postal_no, rejection.reason])
            self.stdout.write(f"report written to {report}")
        self.stdout.write(result.summary())
