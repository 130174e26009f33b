"""对账: the tills' own books matched against the hub's operations, differences listed for people.

Two sources, both for one merchant and business day (``points_operation.business_date``):

- ``record_day_end``: a till's day-end totals (日结, through the gateway's ``day_end``): counts and
  points of earns, redemptions and refunds, compared with the hub's for that merchant, store and
  terminal. Answers ``{"matched", "differences": [{"request_no", "field", "till", "hub"}]}``.
- ``reconcile_file``: a merchant's day-end file, one line per request: request number, type,
  points, amount in fen, time, optionally a status. Loaded into ``ReconciliationRow`` and matched
  against the hub's operations with set-based SQL.

The hub counts an operation as done when it is an earn, redeem or refund with status success or
a freeze that was confirmed (a redemption in two steps). Every difference becomes a
``ReconciliationDifference`` row for a person to resolve (note, who, when): nothing is corrected
automatically.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import hashlib
import io
import json
import re
import tempfile
from datetime import date, datetime

from django.db import connection, transaction
from django.utils import timezone

from hub.clearing.models import ReconciliationDifference, ReconciliationRow, ReconciliationRun
from hub.clearing.services import SHANGHAI
from hub.errors import NoAuth, ParamError
from hub.gateway.canonical import DayEndTotals

Kind = ReconciliationDifference.Kind

# ---- till day-end totals -------------------------------------------------------------------------

_HUB_TOTALS = """
SELECT count(*) FILTER (WHERE kind = 'earn' AND status = 'success'),
       coalesce(sum(points) FILTER (WHERE kind = 'earn' AND status = 'success'), 0),
       count(*) FILTER (WHERE (kind = 'redeem' AND status = 'success') OR (kind = 'freeze' AND status = 'confirmed')),
       coalesce(sum(points) FILTER (WHERE (kind = 'redeem' AND status = 'success')
                                       OR (kind = 'freeze' AND status = 'confirmed')), 0),
       count(*) FILTER (WHERE kind = 'refund' AND status = 'success'),
       coalesce(sum(points) FILTER (WHERE kind = 'refund' AND status = 'success'), 0)
  FROM points_operation
 WHERE merchant_id = %s AND business_date = %s
"""
TOTAL_FIELDS = [f.name for f in dataclasses.fields(DayEndTotals)]


def hub_totals(*, merchant, biz_date: date, store=None, terminal=None) -> DayEndTotals:
    sql, params = _HUB_TOTALS, [merchant.pk, biz_date]
    if store is not None:
        sql, params = sql + " AND store_id = %s", [*params, store.pk]
    if terminal is not None:
        sql, params = sql + " AND terminal_id = %s", [*params, terminal.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return DayEndTotals(*(int(v) for v in cursor.fetchone()))


def _check_day(biz_date) -> date:
    """A business day up to today (Asia/Shanghai): a day that has not begun has no day-end."""
    if not isinstance(biz_date, date) or isinstance(biz_date, datetime):
        raise ParamError("营业日格式错误")
    if biz_date > timezone.now().astimezone(SHANGHAI).date():
        raise ParamError("营业日不能晚于今天")
    return biz_date


def _check_place(merchant, store, terminal) -> None:
    """The store is the merchant's and the terminal the store's (or, without a store, the
    merchant's): the same rule the gateway applies, held here for every caller."""
    if store is not None and store.merchant_id != merchant.pk:
        raise NoAuth("门店不存在或不属于该商户")
    if terminal is not None:
        if store is not None and terminal.store_id != store.pk:
            raise NoAuth("终端不存在或不属于该门店")
        if store is None and terminal.store.merchant_id != merchant.pk:
            raise NoAuth("终端不存在或不属于该商户")


def _lock_day(merchant, biz_date: date) -> None:
    """One reconciliation of a merchant's day at a time (two identical day-ends at once record one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"recon:{merchant.pk}:{biz_date}"])


@transaction.atomic
def record_day_end(*, merchant, store, terminal, biz_date: date, totals: DayEndTotals) -> dict:
    """日结: compare a till's totals for ``biz_date`` with the hub's (same merchant, store and
    terminal) and record the comparison. Sending the same totals again while the hub's side is
    unchanged records nothing new and answers the same."""
    _check_day(biz_date)
    _check_place(merchant, store, terminal)
    for name in TOTAL_FIELDS:
        value = getattr(totals, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FILE_NUMBER:
            raise ParamError(f"日结汇总 {name} 必须为非负整数（不超过 {MAX_DIGITS} 位）")
    _lock_day(merchant, biz_date)
    hub = hub_totals(merchant=merchant, biz_date=biz_date, store=store, terminal=terminal)
    differences = [{"request_no": "", "field": name, "till": getattr(totals, name), "hub": getattr(hub, name)}
                   for name in TOTAL_FIELDS if getattr(totals, name) != getattr(hub, name)]
    answer = {"matched": not differences, "differences": differences}

    till_json, hub_json = dataclasses.asdict(totals), dataclasses.asdict(hub)
    digest = hashlib.sha256(json.dumps({"store": getattr(store, "pk", None), "terminal": getattr(terminal, "pk", None),
                                        "totals": till_json}, sort_keys=True).encode()).hexdigest()
    last = (ReconciliationRun.objects.filter(source=ReconciliationRun.Source.DAY_END, merchant=merchant,
                                             biz_date=biz_date, store=store, terminal=terminal)
            .order_by("-id").first())
    if last is not None and last.sha256 == digest and last.hub_totals == hub_json:
        return answer
    run = ReconciliationRun.objects.create(
        source=ReconciliationRun.Source.DAY_END, merchant=merchant, store=store, terminal=terminal, biz_date=biz_date,
        sha256=digest, till_totals=till_json, hub_totals=hub_json, matched=not differences,
        difference_count=len(differences))
    ReconciliationDifference.objects.bulk_create([
        ReconciliationDifference(run=run, merchant=merchant, biz_date=biz_date, kind=Kind.TOTALS_DIFFER,
                                 field=d["field"], till_value=str(d["till"]), hub_value=str(d["hub"]))
        for d in differences])
    return answer


# ---- day-end files -------------------------------------------------------------------------------

TYPES = {
    "earn": "earn", "累计": "earn", "积分累计": "earn",
    "redeem": "redeem", "抵扣": "redeem", "积分抵扣": "redeem", "通兑": "redeem",
    "refund": "refund", "退货": "refund",
}
STATUSES = {"": "success", "success": "success", "成功": "success",
            "reversed": "reversed", "冲正": "reversed", "已冲正": "reversed"}
HEADER_FIRST_CELLS = {"请求单号", "交易单号", "request_no", "out_trade_no", "单号"}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S")
CHUNK = 2000
MAX_DIGITS = 15  # points and fen in a day-end file: up to 999,999,999,999,999, far inside bigint
MAX_FILE_NUMBER = 10**MAX_DIGITS - 1
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def _spool(file) -> tuple[tempfile.SpooledTemporaryFile, str]:
    """Copy ``file`` (bytes or a binary file) to a spooled temporary file, hashing it."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    digest = hashlib.sha256()
    if isinstance(file, bytes | bytearray):
        chunks = [bytes(file)]
    else:
        chunks = iter(lambda: file.read(1 << 16), b"")
    for chunk in chunks:
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest()


def _sniff_encoding(spool) -> str:
    head = spool.read(1 << 16)
    spool.seek(0)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"  # a superset of GBK


def _parse_time(raw: str, line_no: int) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isascii():  # strptime's \d would read other scripts' digits
        raise ParamError(f"第 {line_no} 行：时间格式应为 YYYY-MM-DD HH:MM:SS")
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=SHANGHAI)
        except ValueError:
            continue
    raise ParamError(f"第 {line_no} 行：时间格式应为 YYYY-MM-DD HH:MM:SS")


def _parse_int(raw: str, line_no: int, name: str) -> int:
    """ASCII digits only (``isdigit`` admits ² and ٣), at most MAX_DIGITS of them (bigint-safe)."""
    raw = raw.strip()
    if not _DIGITS.fullmatch(raw):
        raise ParamError(f"第 {line_no} 行：{name}必须为非负整数（ASCII 数字，不超过 {MAX_DIGITS} 位）")
    return int(raw)


def _rows(text, run: ReconciliationRun):
    """ReconciliationRow objects from the CSV lines (comments ``#…`` and a header line skipped)."""
    seen: dict[str, int] = {}
    first = True
    reader = csv.reader(text)
    for record in reader:
        line_no = reader.line_num
        cells = [cell.strip() for cell in record]
        if not cells or not any(cells) or cells[0].lstrip("\ufeff").startswith("#"):
            continue
        if first:
            first = False
            if cells[0].lstrip("\ufeff").lower() in HEADER_FIRST_CELLS:
                continue
        if len(cells) < 5:
            raise ParamError(f"第 {line_no} 行：应为 请求单号,类型,积分,金额（分）,时间[,状态]")
        request_no = cells[0]
        if not request_no or len(request_no) > 64:
            raise ParamError(f"第 {line_no} 行：请求单号不能为空且不超过 64 个字符")
        if request_no in seen:
            raise ParamError(f"第 {line_no} 行：请求单号 {request_no} 与第 {seen[request_no]} 行重复")
        seen[request_no] = line_no
        kind = TYPES.get(cells[1].lower())
        if kind is None:
            raise ParamError(f"第 {line_no} 行：类型应为 累计/抵扣/退货（earn/redeem/refund）")
        status = STATUSES.get(cells[5].lower() if len(cells) > 5 else "")
        if status is None:
            raise ParamError(f"第 {line_no} 行：状态应为 成功/冲正（success/reversed）")
        yield ReconciliationRow(run=run, line_no=line_no, request_no=request_no, kind=kind,
                                points=_parse_int(cells[2], line_no, "积分"),
                                amount_fen=_parse_int(cells[3], line_no, "金额（分）"),
                                occurred_at=_parse_time(cells[4], line_no), status=status)


# The hub's view of an operation: its type as the till names it, and whether it is done.
_HUB_KIND = "CASE WHEN o.kind = 'freeze' THEN 'redeem' ELSE o.kind END"
_HUB_STATUS = """CASE WHEN o.kind = 'tombstone' THEN 'reversed'
                      WHEN o.kind = 'freeze' AND o.status = 'confirmed' THEN 'success'
                      ELSE o.status END"""
_SUMMARY = "{k} || ' ' || {p} || '积分 ' || {a} || '分'"

_DIFFERENCES = f"""
INSERT INTO hub_recon_difference (run_id, merchant_id, biz_date, kind, request_no, field, till_value, hub_value,
                                  operation_id, resolution_note)
-- at the till, never seen by the hub
SELECT %(run)s, %(merchant)s, %(day)s, 'missing_at_hub', r.request_no, '',
       {_SUMMARY.format(k='r.kind', p='r.points', a='r.amount_fen')}, '', NULL, ''
  FROM hub_recon_row r
 WHERE r.run_id = %(run)s AND r.status = 'success'
   AND NOT EXISTS (SELECT 1 FROM points_operation o WHERE o.merchant_id = %(merchant)s AND o.request_no = r.request_no)
UNION ALL
-- at both: status, and for requests both sides count as done, type, points, amount and day
SELECT %(run)s, %(merchant)s, %(day)s, d.kind, j.request_no, d.field, d.till, d.hub, j.op_id, ''
  FROM (SELECT r.id, r.request_no, r.kind, r.points, r.amount_fen, r.status, o.id AS op_id,
               {_HUB_KIND} AS hub_kind, {_HUB_STATUS} AS hub_status, o.points AS hub_points,
               o.amount_fen AS hub_amount, o.business_date AS hub_day
          FROM hub_recon_row r
          JOIN points_operation o ON o.merchant_id = %(merchant)s AND o.request_no = r.request_no
         WHERE r.run_id = %(run)s) j
 CROSS JOIN LATERAL (VALUES
       -- a status difference is one side done and the other not: refused, released or still frozen at
       -- the hub and reversed at the till is nothing on either side
       ('status_differ', 'status', j.status, j.hub_status, (j.status = 'success') <> (j.hub_status = 'success')),
       ('type_differ', 'type', j.kind, j.hub_kind, j.status = j.hub_status AND j.status = 'success'
                                                      AND j.kind <> j.hub_kind),
       ('points_differ', 'points', j.points::text, j.hub_points::text,
        j.status = j.hub_status AND j.status = 'success' AND j.points <> j.hub_points),
       ('amount_differ', 'amount_fen', j.amount_fen::text, j.hub_amount::text,
        j.status = j.hub_status AND j.status = 'success' AND j.amount_fen <> j.hub_amount),
       ('date_differ', 'business_date', %(day)s::date::text, j.hub_day::text,
        j.status = j.hub_status AND j.status = 'success' AND j.hub_day <> %(day)s::date)
       ) AS d(kind, field, till, hub, differs)
 WHERE d.differs
UNION ALL
-- done at the hub that day, not in the till's file
SELECT %(run)s, %(merchant)s, %(day)s, 'missing_at_till', o.request_no, '', '',
       {_SUMMARY.format(k=_HUB_KIND, p='o.points', a='o.amount_fen')}, o.id, ''
  FROM points_operation o
 WHERE o.merchant_id = %(merchant)s AND o.business_date = %(day)s
   AND ((o.kind IN ('earn', 'redeem', 'refund') AND o.status = 'success') OR (o.kind = 'freeze' AND o.status = 'confirmed'))
   AND NOT EXISTS (SELECT 1 FROM hub_recon_row r WHERE r.run_id = %(run)s AND r.request_no = o.request_no)
"""


@transaction.atomic
def reconcile_file(*, merchant, biz_date: date, file, file_name: str = "", encoding: str | None = None,
                   actor=None) -> ReconciliationRun:
    """Match a merchant's day-end file for ``biz_date`` against the hub's operations and record
    every difference. The same file (same bytes) for the same day again returns the first run.

    ``encoding``: "utf-8", "gbk" or None to detect (UTF-8 with or without BOM, else GBK/GB18030).
    """
    _check_day(biz_date)
    spool, digest = _spool(file)
    _lock_day(merchant, biz_date)
    previous = ReconciliationRun.objects.filter(source=ReconciliationRun.Source.FILE, merchant=merchant,
                                                biz_date=biz_date, sha256=digest).first()
    if previous is not None:
        spool.close()
        return previous
    if encoding in (None, "", "auto"):
        encoding = _sniff_encoding(spool)
    elif encoding.lower() in ("gbk", "gb2312", "gb18030"):
        encoding = "gb18030"
    elif encoding.lower() in ("utf-8", "utf8", "utf-8-sig"):
        encoding = "utf-8-sig"
    else:
        raise ParamError("文件编码应为 UTF-8 或 GBK")

    run = ReconciliationRun.objects.create(source=ReconciliationRun.Source.FILE, merchant=merchant, biz_date=biz_date,
                                           file_name=file_name[:255], sha256=digest, matched=False, created_by=actor)
    text = io.TextIOWrapper(spool, encoding=encoding, newline="")
    count = 0
    batch: list[ReconciliationRow] = []
    try:
        for row in _rows(text, run):
            batch.append(row)
            if len(batch) >= CHUNK:
                ReconciliationRow.objects.bulk_create(batch)
                count += len(batch)
                batch = []
    except UnicodeDecodeError as exc:
        raise ParamError(f"文件不是 {encoding.upper()} 编码") from exc
    finally:
        text.close()
    ReconciliationRow.objects.bulk_create(batch)
    count += len(batch)

    with connection.cursor() as cursor:
        cursor.execute(_DIFFERENCES, {"run": run.pk, "merchant": merchant.pk, "day": biz_date})
        differences = cursor.rowcount
    ReconciliationRun.objects.filter(pk=run.pk).update(row_count=count, difference_count=differences,
                                                       matched=differences == 0)
    run.refresh_from_db()
    return run


# ---- people resolve differences ------------------------------------------------------------------

RESOLVERS = ("运营", "财务")


def may_resolve(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and (
        user.has_perm("clearing.resolve_reconciliationdifference") or user.groups.filter(name__in=RESOLVERS).exists()))


@transaction.atomic
def resolve_difference(*, difference: ReconciliationDifference, user, note: str,
                       now: datetime | None = None) -> ReconciliationDifference:
    """A person records how a difference was dealt with (note, who, when)."""
    note = (note or "").strip()
    if not note:
        raise ParamError("请填写处理说明")
    if not may_resolve(user):
        raise NoAuth("无权处理对账差异")
    difference = ReconciliationDifference.objects.select_for_update().get(pk=difference.pk)
    if difference.resolved_at is not None:
        raise ParamError("该差异已处理")
    ReconciliationDifference.objects.filter(pk=difference.pk).update(
        resolved_at=now or timezone.now(), resolved_by=user, resolution_note=note)
    difference.refresh_from_db()
    return difference
