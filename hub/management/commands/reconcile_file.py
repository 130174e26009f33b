"""Reconcile a merchant's day-end file from the command line (the same service as the admin's
上传日结文件 form). Prints the differences; resolving them is for a person in the admin."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from hub.clearing.reconciliation import reconcile_file
from hub.errors import DomainError
from hub.models import Merchant


class Command(BaseCommand):
    help = "对账：将商户日结文件（CSV：请求单号,类型,积分,金额（分）,时间[,状态]）与中心交易核对。"

    def add_arguments(self, parser):
        parser.add_argument("merchant", help="商户编码")
        parser.add_argument("biz_date", help="营业日 YYYY-MM-DD")
        parser.add_argument("path", help="日结文件路径")
        parser.add_argument("--encoding", default="auto", choices=["auto", "utf-8", "gbk"])

    def handle(self, *args, merchant, biz_date, path, encoding, **options):
        party = Merchant.objects.filter(code=merchant).first()
        if party is None:
            raise CommandError(f"商户 {merchant} 不存在")
        try:
            day = date.fromisoformat(biz_date)
        except ValueError as exc:
            raise CommandError("营业日格式应为 YYYY-MM-DD") from exc
        try:
            with open(path, "rb") as fh:
                run = reconcile_file(merchant=party, biz_date=day, file=fh, file_name=path.rsplit("/", 1)[-1],
                                     encoding=encoding)
        except OSError as exc:
            raise CommandError(f"无法读取文件：{exc}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"对账记录 #{run.pk}：{run.row_count} 行，差异 {run.difference_count} 条"
                          f"{'（一致）' if run.matched else ''}")
        for d in run.differences.order_by("id"):
            self.stdout.write(f"  {d.get_kind_display()}\t{d.request_no or '-'}\t{d.field or '-'}\t"
                              f"收银={d.till_value or '-'}\t中心={d.hub_value or '-'}")
