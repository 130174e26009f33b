"""The files of a closed batch: a statement (对账单) per party and the settlement instructions
(结算指令), as CSV in the style of Chinese payment channels' bills — ``#`` header lines, a column
header, detail rows, ``#`` summary lines — in UTF-8 or GBK.

Every file is streamed: detail rows come from a server-side cursor in one pass over the batch
(sorted by party by PostgreSQL) and go straight to a temporary file while their SHA-256 is
computed, so memory does not grow with the number of items. A file's content depends only on the
closed batch (no "exported at" time), so it can be rebuilt and compared with its recorded hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction

from hub.clearing.models import (
    ClearingBatch,
    ClearingDocument,
    ClearingLine,
    ClearingPosition,
    SettlementInstruction,
)
from hub.clearing.services import SHANGHAI
from hub.errors import ParamError
from hub.models import Merchant
from points.models import ClearingItem, Program

logger = logging.getLogger("hub.clearing")

ENCODINGS = ("utf-8", "gbk")
KIND_NAMES = dict(ClearingItem.Kind.choices)
FETCH = 5000


def yuan(fen: int) -> str:
    """Integer fen as a yuan string: 12345 -> "123.45", -5 -> "-0.05" (no floats)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _local(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else ""


class Party:
    """A party as the batch's files name it: code and name at the close (ClearingBatch.names)."""

    __slots__ = ("code", "name")

    def __init__(self, code: str, name: str):
        self.code, self.name = code, name


def _party(party: Party) -> str:
    return f"{party.name}（{party.code}）"


def batch_names(batch: ClearingBatch, party_ids, program_ids) -> tuple[dict[int, Party], dict[int, str]]:
    """The parties' codes and names and the programs' names the batch's files show: the snapshot
    taken at the close, so a rename afterwards changes no file (and the UTF-8 and GBK files of a
    batch always agree). Batches closed before the snapshot existed fall back to today's names."""
    snap = batch.names or {}
    parties = {int(pk): Party(code, name) for pk, (code, name) in (snap.get("parties") or {}).items()}
    programs = {int(pk): name for pk, name in (snap.get("programs") or {}).items()}
    missing = set(party_ids) - set(parties)
    for merchant in Merchant.objects.filter(pk__in=missing):
        parties[merchant.pk] = Party(merchant.code, merchant.name)
    missing = set(program_ids) - set(programs)
    for program in Program.objects.filter(pk__in=missing):
        programs[program.pk] = program.name
    return parties, programs


# OWASP CSV injection: a cell a spreadsheet would read as a formula is prefixed with "'" (our own
# amounts like "-5.00" and plain integers are left as numbers).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def cell(value):
    """``value`` safe for a spreadsheet: text starting with = + - @ (or tab/CR) gets a leading "'"."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class Unencodable(Exception):
    """A file cannot be written in its encoding; ``message`` (Chinese) names the file and value."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _HashingSink(io.RawIOBase):
    """A binary sink that hashes and counts what it passes on to ``raw``."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)


class _CsvFile:
    """A CSV being written to a temporary file in ``encoding``, with its SHA-256."""

    def __init__(self, encoding: str, label: str):
        self.encoding, self.label = encoding, label
        self.tmp = tempfile.TemporaryFile()
        self.sink = _HashingSink(self.tmp)
        self.text = io.TextIOWrapper(io.BufferedWriter(self.sink, 1 << 16), encoding=encoding, newline="")
        self.writer = csv.writer(self.text, lineterminator="\r\n")
        self.rows = 0

    def line(self, text: str) -> None:
        self._write([text])

    def row(self, values: Iterable) -> None:
        self._write([cell(v) for v in values])

    def _write(self, values: list) -> None:
        try:
            self.writer.writerow(values)
        except UnicodeEncodeError as exc:  # the file is dropped; name the value that failed it
            self.close()
            bad = exc.object[exc.start:exc.end]
            value = next((v for v in values if isinstance(v, str) and bad in v), bad)
            raise Unencodable(f"{self.label}未生成：“{value.lstrip('#')}”含有 {self.encoding.upper()} "
                              f"无法表示的字符（{bad}），请使用 UTF-8 版本") from exc

    def close(self) -> None:
        self.tmp.close()

    def finish(self) -> tuple[File, str, int]:
        self.text.flush()
        self.tmp.seek(0)
        return File(self.tmp), self.sink.sha256.hexdigest(), self.sink.size


# ---- one pass over the batch -------------------------------------------------------------------

_DETAIL = """
SELECT x.party_id, x.dir, c.id, c.created_at, coalesce(o.request_no, rr.request_no, ''),
       coalesce(o.merchant_id, rr.merchant_id), coalesce(om.code, ''), c.kind,
       c.program_id, c.payer_id, c.payee_id, c.points, c.amount_fen, c.fee_fen
  FROM hub_clearing_batch_item m
  JOIN points_clearing_item c ON c.id = m.item_id
  LEFT JOIN points_operation o ON o.id = c.operation_id
  LEFT JOIN rights_rightsfunding rf ON c.operation_id IS NULL AND rf.clearing_item_id = c.id
  LEFT JOIN rights_redemption rr ON rr.id = rf.redemption_id
  LEFT JOIN hub_merchant om ON om.id = coalesce(o.merchant_id, rr.merchant_id)
 CROSS JOIN LATERAL (VALUES (c.payer_id, 'pay'), (c.payee_id, 'receive')) AS x(party_id, dir)
 WHERE m.batch_id = %s
 ORDER BY x.party_id, c.created_at, c.id, x.dir
"""

STATEMENT_COLUMNS = ["清算流水号", "记账时间", "交易请求单号", "交易商户", "清算类型", "积分计划", "付款方", "收款方",
                     "收付方向", "积分", "金额（元）", "手续费（元）", "净额（元）"]
SUMMARY_COLUMNS = ["对方编码", "对方名称", "积分计划", "清算类型", "收付方向", "笔数", "积分", "金额（元）",
                   "手续费（元）", "净额（元）"]
INSTRUCTION_COLUMNS = ["序号", "付款方编码", "付款方名称", "收款方编码", "收款方名称", "金额（元）", "金额（分）", "摘要"]


def _detail_rows(batch_id: int):
    """(party_id, row values) for every side of every item of the batch, sorted by party, read
    through a server-side cursor."""
    connection.ensure_connection()
    with connection.connection.cursor(name=f"clearing_statement_{batch_id}") as cursor:
        cursor.itersize = FETCH
        cursor.execute(_DETAIL, [batch_id])
        yield from cursor


def _header(out: _CsvFile, title: str, batch: ClearingBatch, extra: list[str]) -> None:
    out.line(f"#{title}")
    out.line(f"#清算批次：[{batch.pk}]")
    out.line(f"#清算日：[{batch.clearing_date:%Y年%m月%d日}]")
    for text in extra:
        out.line(text)
    start = _local(batch.period_start) if batch.period_start else "首个批次"
    out.line(f"#起始时间：[{start}]   截止时间：[{_local(batch.cutoff_at)}]")
    out.line(f"#关闭时间：[{_local(batch.closed_at)}]")


class _Statements:
    """Writes one party's statement at a time as the sorted detail rows arrive."""

    def __init__(self, batch: ClearingBatch, encoding: str, parties: dict, programs: dict):
        self.batch, self.encoding, self.parties, self.programs = batch, encoding, parties, programs
        # (line, the party receives) per party; a line a party owes itself shows both sides
        self.lines: dict[int, list[tuple[ClearingLine, bool]]] = defaultdict(list)
        for line in ClearingLine.objects.filter(batch=batch).order_by("payer_id", "payee_id", "program_id", "kind"):
            self.lines[line.payer_id].append((line, False))
            self.lines[line.payee_id].append((line, True))
        self.positions = {p.party_id: p for p in ClearingPosition.objects.filter(batch=batch)}
        self.done: list[tuple[int, File, str, int, int]] = []
        self.failed: dict[int, str] = {}
        self.out: _CsvFile | None = None
        self.party_id: int | None = None

    def start(self, party_id: int) -> None:
        party = self.parties[party_id]
        self.party_id = party_id
        self.out = _CsvFile(self.encoding, f"{_party(party)}的{self.encoding.upper()}对账单")
        self._guard(self._start, party)

    def _start(self, party) -> None:
        _header(self.out, "积分清算对账单", self.batch, [f"#参与方：[{_party(party)}]"])
        self.out.line("#-----------------------------------------清算明细列表-----------------------------------------")
        self.out.row(STATEMENT_COLUMNS)

    def _guard(self, write, *args) -> None:
        """Write to the current party's file; a value its encoding cannot show fails that file
        only (the rest of its rows are skipped), the other parties' statements go on."""
        if self.out is None:
            return
        try:
            write(*args)
        except Unencodable as exc:
            self.failed[self.party_id] = exc.message
            self.out = None

    def detail(self, row: tuple) -> None:
        self._guard(self._detail, row)

    def _detail(self, row: tuple) -> None:
        (_, direction, item_id, created_at, request_no, op_merchant_id, op_code, kind, program_id, payer, payee, points,
         amount, fee) = row
        sign = 1 if direction == "receive" else -1
        op_party = self.parties.get(op_merchant_id)
        self.out.row([item_id, _local(created_at), request_no, op_party.code if op_party else op_code,
                      KIND_NAMES.get(kind, kind), self.programs.get(program_id, ""), self.parties[payer].code,
                      self.parties[payee].code, "收" if sign > 0 else "付", points, yuan(amount), yuan(fee),
                      yuan(sign * (amount - fee))])
        self.out.rows += 1

    def finish(self) -> None:
        self._guard(self._finish)
        self.out = self.party_id = None

    def _finish(self) -> None:
        out, party_id = self.out, self.party_id
        out.line("#-----------------------------------------清算明细列表结束-------------------------------------")
        out.line("#汇总")
        out.row(SUMMARY_COLUMNS)
        for line, receives in self.lines[party_id]:
            other = self.parties[line.payer_id if receives else line.payee_id]
            out.row([other.code, other.name, self.programs.get(line.program_id, ""), KIND_NAMES.get(line.kind, line.kind),
                     "收" if receives else "付", line.item_count, line.points, yuan(line.gross_fen),
                     yuan(line.fee_fen), yuan(line.net_fen if receives else -line.net_fen)])
        pos = self.positions[party_id]
        out.line(f"#应收合计：金额{yuan(pos.receivable_fen)}元，被扣手续费{yuan(pos.fee_deducted_fen)}元，"
                 f"应收净额{yuan(pos.receivable_fen - pos.fee_deducted_fen)}元")
        out.line(f"#应付合计：金额{yuan(pos.payable_fen)}元，留存手续费{yuan(pos.fee_retained_fen)}元，"
                 f"应付净额{yuan(pos.payable_fen - pos.fee_retained_fen)}元")
        out.line(f"#净头寸：{'应收' if pos.net_fen >= 0 else '应付'}{yuan(abs(pos.net_fen))}元（{yuan(pos.net_fen)}）")
        out.line(f"#明细笔数：{out.rows}笔")
        file, sha, size = out.finish()
        self.done.append((party_id, file, sha, size, out.rows))


def _write_instructions(batch: ClearingBatch, encoding: str, parties: dict) -> tuple[File, str, int, int]:
    out = _CsvFile(encoding, f"{encoding.upper()}结算指令")
    _header(out, "积分清算结算指令", batch, [])
    out.line("#-----------------------------------------结算指令列表-----------------------------------------")
    out.row(INSTRUCTION_COLUMNS)
    memo = f"积分清算{batch.clearing_date:%Y%m%d}批次{batch.pk}"
    total = 0
    instructions = sorted(SettlementInstruction.objects.filter(batch=batch),
                          key=lambda i: (parties[i.payer_id].code, parties[i.payee_id].code))
    for n, ins in enumerate(instructions, 1):
        payer, payee = parties[ins.payer_id], parties[ins.payee_id]
        out.row([n, payer.code, payer.name, payee.code, payee.name, yuan(ins.amount_fen), ins.amount_fen, memo])
        total += ins.amount_fen
        out.rows += 1
    out.line("#-----------------------------------------结算指令列表结束-------------------------------------")
    out.line(f"#合计：{out.rows}笔，金额{yuan(total)}元")
    file, sha, size = out.finish()
    return file, sha, size, out.rows


def _path(batch: ClearingBatch, kind: str, code: str, encoding: str) -> str:
    """clearing/<date>-<batch>/<kind>-<party>-<date>-batch<batch>-<encoding>.csv: a downloaded
    file names its batch, so two batches of one clearing date (after a cut-off change) never
    give two files the same name."""
    label = f"{batch.clearing_date:%Y%m%d}-batch{batch.pk}"
    base = default_storage.get_valid_name(f"{kind}-{code}-{label}-{encoding}.csv")
    return f"clearing/{batch.clearing_date:%Y%m%d}-{batch.pk}/{base}"


def _encodings(encodings) -> tuple[str, ...]:
    chosen = tuple(encodings or getattr(settings, "CLEARING_DOCUMENT_ENCODINGS", ENCODINGS))
    unknown = [e for e in chosen if e not in ENCODINGS]
    if unknown:
        raise ParamError(f"不支持的编码：{', '.join(unknown)}（可选 UTF-8、GBK）")
    return chosen


@transaction.atomic
def build_documents(*, batch: ClearingBatch, encodings: Iterable[str] | None = None) -> list[ClearingDocument]:
    """Write the statements and the settlement instructions of a closed batch in each encoding
    (default settings.CLEARING_DOCUMENT_ENCODINGS, else UTF-8 and GBK), with the names of the
    close. Documents that exist are kept: safe to run twice. A file its encoding cannot show is
    recorded once as not written (``error``), logged at ERROR, and not tried again; the other
    files are written. Returns the documents written now (failed ones included)."""
    batch = ClearingBatch.objects.select_for_update().get(pk=batch.pk)  # one builder per batch
    if batch.status == ClearingBatch.Status.OPEN:
        raise ParamError("批次尚未关闭，不能生成对账单")
    positions = list(ClearingPosition.objects.filter(batch=batch).values_list("party_id", flat=True))
    parties, programs = batch_names(batch, positions,
                                    ClearingLine.objects.filter(batch=batch).values_list("program_id", flat=True))
    written: list[ClearingDocument] = []
    saved: list[str] = []
    try:
        for encoding in _encodings(encodings):
            have = set(ClearingDocument.objects.filter(batch=batch, encoding=encoding).values_list("kind", "party_id"))
            if (ClearingDocument.Kind.INSTRUCTIONS, None) not in have:
                try:
                    file, sha, size, rows = _write_instructions(batch, encoding, parties)
                except Unencodable as exc:
                    written.append(_failed(batch, ClearingDocument.Kind.INSTRUCTIONS, None, encoding, exc.message))
                else:
                    written.append(_save(batch, ClearingDocument.Kind.INSTRUCTIONS, None, "ALL", encoding,
                                         file, sha, size, rows, saved))
            missing = {p for p in positions if (ClearingDocument.Kind.STATEMENT, p) not in have}
            if not missing:
                continue
            writer = _Statements(batch, encoding, parties, programs)
            for row in _detail_rows(batch.pk):
                party_id = row[0]
                if party_id not in missing:
                    continue
                if party_id != writer.party_id:
                    if writer.party_id is not None:
                        writer.finish()
                    writer.start(party_id)
                writer.detail(row)
            if writer.party_id is not None:
                writer.finish()
            for party_id, file, sha, size, rows in writer.done:
                written.append(_save(batch, ClearingDocument.Kind.STATEMENT, party_id, parties[party_id].code,
                                     encoding, file, sha, size, rows, saved))
            for party_id, message in writer.failed.items():
                written.append(_failed(batch, ClearingDocument.Kind.STATEMENT, party_id, encoding, message))
    except BaseException:
        for name in saved:  # the rows roll back; do not leave their files behind
            default_storage.delete(name)
        raise
    logger.info("clearing batch %s: %d documents written", batch.pk, len(written))
    return written


def _failed(batch, kind, party_id, encoding, message) -> ClearingDocument:
    logger.error("clearing batch %s: %s", batch.pk, message)
    return ClearingDocument.objects.create(batch=batch, kind=kind, party_id=party_id, encoding=encoding, file="",
                                           sha256="", size=0, row_count=0, error=message)


def batches_missing_documents() -> list[int]:
    """Closed batches that lack a document (written or recorded as not written) in an encoding
    of settings.CLEARING_DOCUMENT_ENCODINGS."""
    wanted = _encodings(None)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT b.id FROM hub_clearing_batch b
                WHERE b.status <> 'open'
                  AND (SELECT count(*) FROM hub_clearing_document d WHERE d.batch_id = b.id AND d.encoding = ANY(%s))
                      < ((SELECT count(*) FROM hub_clearing_position p WHERE p.batch_id = b.id) + 1) * %s
                ORDER BY b.id""", [list(wanted), len(wanted)])
        return [row[0] for row in cursor.fetchall()]


def _save(batch, kind, party_id, code, encoding, file, sha, size, rows, saved) -> ClearingDocument:
    path = _path(batch, kind, code, encoding)
    if default_storage.exists(path) and not ClearingDocument.objects.filter(file=path).exists():
        # Left by a build that died before its rows committed (a killed worker cleans nothing up);
        # this builder holds the batch's lock, so no other build is writing it: replace it, so the
        # file keeps the name an uninterrupted build gives it.
        default_storage.delete(path)
    try:
        name = default_storage.save(path, file)
    finally:
        file.close()
    saved.append(name)
    return ClearingDocument.objects.create(batch=batch, kind=kind, party_id=party_id, encoding=encoding, file=name,
                                           sha256=sha, size=size, row_count=rows)


def verify_document(*, document: ClearingDocument) -> bool:
    """Whether the stored file still has the SHA-256 recorded when it was written (a document
    recorded as not written has no file: False)."""
    if document.failed:
        return False
    digest = hashlib.sha256()
    with document.file.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest() == document.sha256
