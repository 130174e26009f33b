"""Statements and settlement instructions: CSV content, SHA-256, GBK, idempotent building."""

from __future__ import annotations

import hashlib

import pytest

from hub.clearing import services, statements
from hub.clearing.models import ClearingDocument
from hub.errors import ParamError
from tests.hub.clearing.conftest import next_day


@pytest.fixture
def batch(day, media):
    return services.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))


def read(doc: ClearingDocument) -> bytes:
    with doc.file.open("rb") as fh:
        return fh.read()


def test_yuan():
    assert [statements.yuan(v) for v in (0, 5, -5, 100, 12345, -12345)] == [
        "0.00", "0.05", "-0.05", "1.00", "123.45", "-123.45"]


def test_instructions_csv(day, batch):
    docs = statements.build_documents(batch=batch, encodings=["utf-8"])
    assert len(docs) == 4  # instructions + one statement per party
    doc = ClearingDocument.objects.get(batch=batch, kind="instructions", encoding="utf-8")
    w = day.world
    iss, shop, other = (f"{m.code},{m.name}" for m in (w.issuer, w.shop, w.other))
    memo = f"积分清算20260302批次{batch.pk}"
    pairs = sorted([(w.shop.code, w.issuer.code, shop, iss, "3.82", 382),
                    (w.other.code, w.issuer.code, other, iss, "3.00", 300),
                    (w.shop.code, w.other.code, shop, other, "4.95", 495)])
    rows = [f"{n},{payer},{payee},{yuan},{fen},{memo}" for n, (_, _, payer, payee, yuan, fen) in enumerate(pairs, 1)]
    expected = "\r\n".join([
        "#积分清算结算指令",
        f"#清算批次：[{batch.pk}]",
        "#清算日：[2026年03月02日]",
        "#起始时间：[首个批次]   截止时间：[2026-03-03 00:00:00]",
        "#关闭时间：[2026-03-03 00:05:00]",
        "#-----------------------------------------结算指令列表-----------------------------------------",
        "序号,付款方编码,付款方名称,收款方编码,收款方名称,金额（元）,金额（分）,摘要",
        *rows,
        "#-----------------------------------------结算指令列表结束-------------------------------------",
        "#合计：3笔，金额11.77元",
    ]) + "\r\n"
    body = read(doc)
    assert body.decode("utf-8") == expected
    assert doc.sha256 == hashlib.sha256(body).hexdigest()
    assert (doc.size, doc.row_count) == (len(body), 3)


def test_statement_csv(day, batch):
    statements.build_documents(batch=batch, encodings=["utf-8"])
    w = day.world
    doc = ClearingDocument.objects.get(batch=batch, kind="statement", party=w.other, encoding="utf-8")
    text = read(doc).decode("utf-8")
    lines = text.split("\r\n")
    assert lines[:8] == [
        "#积分清算对账单",
        f"#清算批次：[{batch.pk}]",
        "#清算日：[2026年03月02日]",
        f"#参与方：[绿野菜场（{w.other.code}）]",
        "#起始时间：[首个批次]   截止时间：[2026-03-03 00:00:00]",
        "#关闭时间：[2026-03-03 00:05:00]",
        "#-----------------------------------------清算明细列表-----------------------------------------",
        ",".join(statements.STATEMENT_COLUMNS),
    ]
    details = lines[8:13]
    # E2, R2, E3, E3 reversed, R4 — in time order, from other's point of view
    assert [row.split(",")[2:] for row in details] == [
        ["E2", w.other.code, "积分发放出资", "邮政金融积分", w.other.code, w.issuer.code, "付", "500", "5.00", "0.00", "-5.00"],
        ["R2", w.other.code, "抵扣结算", "邮政金融积分", w.issuer.code, w.other.code, "收", "200", "2.00", "0.00", "2.00"],
        ["E3", w.other.code, "积分发放出资", "邮政金融积分", w.other.code, w.issuer.code, "付", "200", "2.00", "0.00", "-2.00"],
        ["E3", w.other.code, "积分发放出资", "邮政金融积分", w.other.code, w.issuer.code, "付", "-200", "-2.00", "0.00", "2.00"],
        ["R4", w.other.code, "抵扣结算", "新阳光积分", w.shop.code, w.other.code, "收", "500", "5.00", "0.05", "4.95"],
    ]
    assert details[0].split(",")[1] == "2026-03-02 09:30:00"
    summary = lines[13:]
    assert summary[:2] == [
        "#-----------------------------------------清算明细列表结束-------------------------------------", "#汇总"]
    assert sorted(summary[3:6]) == sorted([
        f"{w.issuer.code},中国邮政江西省分公司,邮政金融积分,抵扣结算,收,1,200,2.00,0.00,2.00",
        f"{w.shop.code},新阳光超市,新阳光积分,抵扣结算,收,1,500,5.00,0.05,4.95",
        f"{w.issuer.code},中国邮政江西省分公司,邮政金融积分,积分发放出资,付,3,500,5.00,0.00,-5.00",
    ])
    assert summary[6:] == [
        "#应收合计：金额7.00元，被扣手续费0.05元，应收净额6.95元",
        "#应付合计：金额5.00元，留存手续费0.00元，应付净额5.00元",
        "#净头寸：应收1.95元（1.95）",
        "#明细笔数：5笔",
        "",
    ]
    assert doc.row_count == 5


def test_gbk_files_match_utf8_and_hash(day, batch):
    statements.build_documents(batch=batch)  # UTF-8 and GBK
    assert ClearingDocument.objects.filter(batch=batch).count() == 8
    for utf8 in ClearingDocument.objects.filter(batch=batch, encoding="utf-8"):
        gbk = ClearingDocument.objects.get(batch=batch, kind=utf8.kind, party=utf8.party, encoding="gbk")
        body = read(gbk)
        assert body.decode("gbk") == read(utf8).decode("utf-8")
        assert gbk.sha256 == hashlib.sha256(body).hexdigest() != utf8.sha256
        assert statements.verify_document(document=gbk)


def test_building_twice_keeps_the_first_files(day, batch):
    first = statements.build_documents(batch=batch)
    assert statements.build_documents(batch=batch) == []
    assert ClearingDocument.objects.filter(batch=batch).count() == len(first) == 8
    # a file changed on disk no longer matches its recorded hash
    doc = first[0]
    with open(doc.file.path, "ab") as fh:
        fh.write(b"x")
    assert not statements.verify_document(document=doc)


def test_documents_are_for_closed_batches_and_written_once(day, media):
    batch = services._batch_for(next_day("00:00"))
    with pytest.raises(ParamError, match="尚未关闭"):
        statements.build_documents(batch=batch)
    batch = services.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    doc = statements.build_documents(batch=batch, encodings=["utf-8"])[0]
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="written once"), transaction.atomic():
        ClearingDocument.objects.filter(pk=doc.pk).update(sha256="0" * 64)


def test_gbk_refuses_what_it_cannot_show(day, media):
    w = day.world
    type(w.other).objects.filter(pk=w.other.pk).update(name="绿野菜场😀")
    batch = services.close_batch(cutoff_at=next_day("00:00"), now=next_day("00:05"))
    docs = statements.build_documents(batch=batch, encodings=["gbk"])
    assert len(docs) == 4 and all("GBK 无法表示" in d.error and not d.file for d in docs)  # all name 绿野菜场
    assert not statements.verify_document(document=docs[0])
    assert len(statements.build_documents(batch=batch, encodings=["utf-8"])) == 4


def test_a_build_killed_midway_leaves_no_file_behind_and_changes_no_name(day, batch, media):
    """A worker SIGKILLed while building (tests/faults does it for real) has stored some files but
    committed no rows: nothing cleaned up after it. The next build must write the files under the
    names an uninterrupted build gives them, not beside the leftovers as ``…_AbC123x.csv``, and
    leave no file without its document."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    leftover = statements._path(batch, ClearingDocument.Kind.INSTRUCTIONS, "ALL", "utf-8")
    assert default_storage.save(leftover, ContentFile(b"half a file")) == leftover
    docs = statements.build_documents(batch=batch, encodings=["utf-8"])
    instructions = next(d for d in docs if d.kind == ClearingDocument.Kind.INSTRUCTIONS)
    assert instructions.file.name == leftover
    assert statements.verify_document(document=instructions)
    folder = leftover.rsplit("/", 1)[0]
    stored = {f"{folder}/{name}" for name in default_storage.listdir(folder)[1]}
    assert stored == {d.file.name for d in docs}
