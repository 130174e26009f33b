"""Import of members and their tiers from a postal-finance CSV export (docs/members.md).

The file is streamed line by line, twice: once to count lines and detect the encoding, once to
import. Each data line is one record (no line breaks inside cells) and is imported in its own
transaction through ``members.services.import_member``; a bad line is reported with its line
number and a Chinese reason and does not stop the others. Importing the same file again changes
nothing.

A file's mobile changes are resolved as a set: a line refused only because another member holds
the mobile is retried once the file's other lines are in (a member of a later line may free it),
and lines that free each other's mobiles (a swap) are imported together in one transaction. So
the outcome does not depend on line order and a second run is a no-op.

Reasons never echo a value that may be a mobile or ID number (a shifted row puts one in any
column): such values are masked in the stdout listing and the report alike.
"""

from __future__ import annotations

import codecs
import csv
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import transaction
from tqdm import tqdm

from hub.errors import ParamError
from members import services
from members.models import Member, Tier
from members.validation import (
    DUPLICATE_MOBILE,
    POSTAL_NO_RE,
    clean_id_number,
    clean_mobile,
    clean_name,
    clean_postal_no,
    nfkc,
)

HEADERS = {
    "邮政会员号": "postal_no",
    "姓名": "name",
    "手机号": "mobile",
    "身份证号": "id_number",
    "会员等级": "tier",
    "postal_no": "postal_no",
    "name": "name",
    "mobile": "mobile",
    "id_number": "id_number",
    "tier": "tier",
}
REQUIRED = ("postal_no", "name", "mobile", "tier")
# What a user may ask for -> the codec used. GB18030 is the superset of GBK: same bytes, same
# characters, plus the rare characters some names need.
CODECS = {"utf-8": "utf-8", "gbk": "gb18030"}
LABELS = {"utf-8": "UTF-8", "gbk": "GBK"}
_CHINESE_HEADERS = tuple(h for h in HEADERS if not h.isascii())
_LONG_DIGITS_RE = re.compile(r"[0-9]{5,}")
_PII_LIKE_RE = re.compile(r"^(1[0-9]{10}|[0-9]{17}[0-9X])$")
ECHO_MAX = 20


def mask_echo(value: str) -> str:
    """A cell as a reason may quote it: runs of 5 digits or more (a mobile, an ID number) keep
    only their last 4 digits, and long values are cut."""
    value = nfkc(value)

    def hide(match: re.Match) -> str:
        digits = match.group(0)
        return "*" * (len(digits) - 4) + digits[-4:]

    masked = _LONG_DIGITS_RE.sub(hide, value)
    return masked if len(masked) <= ECHO_MAX else masked[:ECHO_MAX] + "…"


def safe_postal_no(value: str) -> str:
    """The postal number column of the report, unless it holds what looks like a mobile or an
    ID number (a row shifted by a missing cell): then masked like one."""
    return mask_echo(value) if _PII_LIKE_RE.match(nfkc(value).upper()) else value


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable header); message in Chinese."""


@dataclass
class Rejection:
    line: int
    postal_no: str
    reason: str


@dataclass
class ImportReport:
    encoding: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"created={self.created} updated={self.updated} unchanged={self.unchanged} "
            f"rejected={len(self.rejected)}"
        )


@dataclass
class _Scan:
    lines: int = 0
    bom: bool = False
    header: bytes = b""
    utf8_ok: int = 0  # non-ASCII lines that are valid UTF-8
    utf8_bad: int = 0  # lines that are not


def _scan(path: Path) -> _Scan:
    scan = _Scan()
    with path.open("rb") as fh:
        for raw in fh:
            scan.lines += 1
            if scan.lines == 1:
                scan.bom = raw.startswith(codecs.BOM_UTF8)
                raw = raw.removeprefix(codecs.BOM_UTF8)
                scan.header = raw
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                scan.utf8_ok += 1
            except UnicodeDecodeError:
                scan.utf8_bad += 1
    return scan


def _header_says(header: bytes, encoding: str) -> bool:
    try:
        text = header.decode(CODECS[encoding])
    except UnicodeDecodeError:
        return False
    return any(name in text for name in _CHINESE_HEADERS)


def detect_encoding(scan: _Scan) -> str:
    """``utf-8`` or ``gbk``.

    UTF-8 if there is a BOM or every line decodes as UTF-8. Otherwise a Chinese header row
    decides; failing that, the majority of the non-ASCII lines. So a UTF-8 export with a few
    lines pasted in from a GBK file stays UTF-8, and those lines are reported as wrong encoding.
    """
    if scan.bom or scan.utf8_bad == 0:
        return "utf-8"
    if _header_says(scan.header, "utf-8"):
        return "utf-8"
    if _header_says(scan.header, "gbk"):
        return "gbk"
    return "utf-8" if scan.utf8_ok > scan.utf8_bad else "gbk"


def _lines(path: Path, codec: str) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, decoded text or None if it does not decode, raw bytes), one at a time."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield number, raw.decode(codec).rstrip("\r\n"), raw
            except UnicodeDecodeError:
                yield number, None, raw


def _is_utf8_text(raw: bytes) -> bool:
    """Non-ASCII and valid UTF-8: in a GBK file such a line was pasted in from a UTF-8 one (GBK
    text is almost never valid UTF-8) and would decode as garbled characters (张三 → 寮犱笁)."""
    if raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _BadLine(Exception):
    pass


def _cells(text: str) -> list[str]:
    if "\r" in text or "\n" in text:
        raise _BadLine("该行格式不正确：单元格中含有换行符（回车）")
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error:
        raise _BadLine("该行格式不正确：引号不匹配或单元格中含有换行符") from None


def parse_header(text: str | None) -> list[str | None]:
    """The record field of each column (``None`` for columns that are ignored)."""
    if text is None:
        raise ImportFileError("表头无法按该编码解码，请用 --encoding 指定正确的文件编码")
    if "\r" in text:
        raise ImportFileError(
            "文件的换行符无法识别（只有回车符CR，旧式 Mac 格式）：请另存为以 CRLF 或 LF 换行的 CSV 文件"
        )
    try:
        header_cells = _cells(text)
    except _BadLine as exc:
        raise ImportFileError(f"表头{exc}") from None
    columns: list[str | None] = []
    for cell in header_cells:
        key = HEADERS.get(cell.strip().lstrip("\ufeff")) or HEADERS.get(cell.strip().lower())
        if key is not None and key in columns:
            raise ImportFileError(f"表头中的列重复：{mask_echo(cell.strip())}")
        columns.append(key)
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ImportFileError("表头缺少必需的列：" + "、".join(missing) + "（见 docs/members.md）")
    return columns


def _tier_lookup() -> dict[str, Tier]:
    lookup: dict[str, Tier] = {}
    for tier in Tier.objects.all():
        lookup[tier.name] = tier
        lookup[tier.code.lower()] = tier
    return lookup


def _postal_no_guess(raw: bytes, columns: list[str | None]) -> str:
    """The postal number of an undecodable line, if its (ASCII) cell survives intact."""
    text = raw.decode("ascii", errors="replace").rstrip("\r\n")
    try:
        cells = _cells(text)
    except _BadLine:
        return ""
    position = columns.index("postal_no")
    candidate = cells[position].strip() if position < len(cells) else ""
    return safe_postal_no(candidate) if POSTAL_NO_RE.match(candidate) else ""


def import_members(
    path: str | Path, *, encoding: str = "auto", actor=None, progress: bool = True, progress_file: TextIO | None = None
) -> ImportReport:
    """Import a postal-finance member export; see the module docstring and docs/members.md."""
    path = Path(path)
    scan = _scan(path)
    if encoding == "auto":
        encoding = detect_encoding(scan)
    if encoding not in CODECS:
        raise ImportFileError(f"不支持的编码：{encoding}（可选 auto、utf-8、gbk）")
    codec, label = CODECS[encoding], LABELS[encoding]
    report = ImportReport(encoding=encoding)
    tiers = _tier_lookup()
    first_seen: dict[str, int] = {}  # postal number -> line where the file first gave it
    lines = _lines(path, codec)
    first = next(lines, None)
    if first is None:
        raise ImportFileError("文件为空")
    columns = parse_header(first[1])

    def reject(number: int, postal_no: str, reason: str) -> None:
        report.rejected.append(Rejection(line=number, postal_no=postal_no, reason=reason))

    deferred: list[_Pending] = []  # lines refused only because another member holds the mobile

    bar = tqdm(
        total=scan.lines, initial=1, unit="行", file=progress_file or sys.stderr, disable=not progress
    )
    with bar:
        for number, text, raw in lines:
            bar.update(1)
            if text is None:
                reject(number, _postal_no_guess(raw, columns), f"编码错误：该行不是{label}编码（整个文件按{label}读取）")
                continue
            if encoding == "gbk" and _is_utf8_text(raw):
                reject(number, _postal_no_guess(raw, columns), "编码错误：该行是UTF-8编码（整个文件按GBK读取），请统一文件编码")
                continue
            if not text.strip():
                continue
            try:
                cells = _cells(text)
            except _BadLine as exc:
                reject(number, _postal_no_guess(text.encode("ascii", errors="replace"), columns), str(exc))
                continue
            while len(cells) > len(columns) and not cells[-1].strip():
                cells.pop()  # trailing empty cells, as spreadsheet exports add them
            if len(cells) != len(columns):
                reject(number, "", f"列数不正确（应为{len(columns)}列，实际{len(cells)}列）")
                continue
            record = {key: cell.strip() for key, cell in zip(columns, cells, strict=True) if key}
            outcome = _import_record(number, record, tiers, first_seen, actor)
            if isinstance(outcome, Rejection):
                report.rejected.append(outcome)
            elif isinstance(outcome, _Pending):
                deferred.append(outcome)
            else:
                setattr(report, outcome, getattr(report, outcome) + 1)
    _resolve_mobile_moves(deferred, report, actor)
    report.rejected.sort(key=lambda rejection: rejection.line)
    return report


@dataclass
class _Pending:
    line: int
    clean: dict
    tier: Tier


class _GroupFailed(Exception):
    pass


def _resolve_mobile_moves(pending: list[_Pending], report: ImportReport, actor) -> None:
    """Import the lines refused for a mobile held by another member, as a set.

    First each is retried on its own until no more go in (a later line freed the mobile: a
    chain). What is left may be a cycle (two members swapping mobiles): those lines go in
    together in one transaction, with their members' mobile indexes released first. A line that
    still fails leaves the group (rolled back) with its reason, and the rest is tried again.
    """

    def counted(outcome: str) -> None:
        setattr(report, outcome, getattr(report, outcome) + 1)

    progress = True
    while pending and progress:
        progress, still = False, []
        for item in pending:
            try:
                _, outcome = services.import_member(tier=item.tier, actor=actor, **item.clean)
            except ParamError as exc:
                if exc.message == DUPLICATE_MOBILE:
                    still.append(item)
                else:
                    report.rejected.append(Rejection(item.line, item.clean["postal_no"], exc.message))
                continue
            counted(outcome)
            progress = True
        pending = still
    while pending:
        failures: list[tuple[_Pending, str]] = []
        outcomes: list[str] = []
        try:
            with transaction.atomic():
                postal_nos = [item.clean["postal_no"] for item in pending]
                list(Member.objects.select_for_update().filter(postal_no__in=postal_nos).order_by("pk"))
                Member.objects.filter(postal_no__in=postal_nos).update(mobile_index=None)
                for item in pending:
                    try:
                        outcomes.append(services.import_member(tier=item.tier, actor=actor, **item.clean)[1])
                    except ParamError as exc:
                        failures.append((item, exc.message))
                if failures:
                    raise _GroupFailed
        except _GroupFailed:
            for item, message in failures:
                report.rejected.append(Rejection(item.line, item.clean["postal_no"], message))
            failed = {id(item) for item, _ in failures}
            pending = [item for item in pending if id(item) not in failed]
            continue
        for outcome in outcomes:
            counted(outcome)
        break


_CHECKS = (
    ("postal_no", clean_postal_no),
    ("name", clean_name),
    ("mobile", clean_mobile),
    ("id_number", clean_id_number),
)


def _import_record(number: int, record: dict, tiers: dict, first_seen: dict, actor) -> str | Rejection | _Pending:
    reasons: list[str] = []
    clean: dict[str, str] = {}
    for key, check in _CHECKS:
        try:
            clean[key] = check(record.get(key, ""))
        except ParamError as exc:
            reasons.append(exc.message)
    postal_no = clean.get("postal_no", "")
    if postal_no:
        if postal_no in first_seen:
            reasons.insert(0, f"邮政会员号在文件中重复（首次出现在第{first_seen[postal_no]}行）")
        else:
            first_seen[postal_no] = number
    tier_cell = record.get("tier", "")
    tier = tiers.get(tier_cell) or tiers.get(tier_cell.lower())
    if tier is None:
        reasons.append(f"未知会员等级：{mask_echo(tier_cell)}" if tier_cell else "会员等级不能为空")
    if reasons:
        return Rejection(
            line=number,
            postal_no=safe_postal_no(postal_no or _ascii_only(record.get("postal_no", ""))),
            reason="；".join(reasons),
        )
    try:
        _, outcome = services.import_member(tier=tier, actor=actor, **clean)
    except ParamError as exc:
        if exc.message == DUPLICATE_MOBILE:
            return _Pending(line=number, clean=clean, tier=tier)
        return Rejection(line=number, postal_no=safe_postal_no(postal_no), reason=exc.message)
    return outcome


def _ascii_only(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value)[:32]
