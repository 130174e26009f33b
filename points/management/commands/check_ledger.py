from django.core.management.base import BaseCommand, CommandError

from points.checks import INVARIANTS, check_ledger


class Command(BaseCommand):
    help = "Check the points ledger's invariants; exits non-zero if any does not hold."

    def handle(self, *args, **options):
        problems = check_ledger()
        for name, (description, _) in INVARIANTS.items():
            mark = "FAIL" if name in problems else "ok"
            self.stdout.write(f"[{mark}] {description}")
            for row in problems.get(name, []):
                self.stdout.write(f"       {row}")
        if problems:
            raise CommandError(f"ledger invariants broken: {', '.join(problems)}")
        self.stdout.write(self.style.SUCCESS("账本检查通过 / ledger consistent"))
