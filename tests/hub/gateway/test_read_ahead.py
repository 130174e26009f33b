"""Reads ahead (hub.db.read_ahead): the admitting statement of a till call also reads what the
operation reads first (its request number's operation, its member named by ref), and the
operation's own statements are then answered from that read, once, within the call.

What must hold: the same answers as without it, one round trip less per read, nothing kept past
the call, nothing read for a call that was not admitted, and a read that must see the database as
it is now (a lock) always going to the database."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from hub import db
from hub.gateway import service
from members.codes import issue_member_code
from members.selectors import find_member
from points.common import existing_operation, operation_lookup
from points.models import Operation
from tests.hub.gateway.conftest import unique


@pytest.fixture
def till(sandbox):
    return sandbox["native"]


class _Counting(db.ServerBindingCursor):
    sent: list[str] = []

    def execute(self, query, params=None, **kwargs):
        _Counting.sent.append(" ".join(str(query).split())[:60])
        return super().execute(query, params, **kwargs)


@pytest.fixture
def sent(monkeypatch):
    """The statements hub.db.fetch_prepared really sends to the database."""
    _Counting.sent = []
    monkeypatch.setattr(db, "ServerBindingCursor", _Counting)
    return _Counting.sent


def _strong_ref(till) -> str:
    shown = till.send("identify", member=issue_member_code(member=find_member(mobile="13800000001"))[0])
    assert shown.ok, shown
    return shown.data["member_ref"]


def _without_reads_ahead(monkeypatch) -> None:
    monkeypatch.setattr(service, "reads_ahead", lambda merchant_id, command: [])


def test_an_earn_by_ref_reads_its_operation_and_member_in_the_admitting_statement(till, sent, monkeypatch):
    ref = _strong_ref(till)
    sent.clear()
    first = till.send("earn", request_no=unique("RA"), member=ref, amount_fen=1000)
    assert first.ok, first
    with_reads = list(sent)
    assert not any(s.startswith("SELECT m.id") or s.startswith('SELECT x."id"') for s in with_reads), with_reads

    _without_reads_ahead(monkeypatch)
    sent.clear()
    second = till.send("earn", request_no=unique("RA"), member=ref, amount_fen=1000)
    assert second.ok, second
    assert len(sent) == len(with_reads) + 2, (sent, with_reads)  # the operation and the member, each one round trip
    same = {"request_no", "points_balance"}
    assert {k: v for k, v in first.data.items() if k not in same} == \
        {k: v for k, v in second.data.items() if k not in same}
    assert second.data["points_balance"] == first.data["points_balance"] + first.data["points_earned"]


def test_a_replay_is_answered_from_the_operation_read_ahead_with_the_first_answer(till, sent):
    ref = _strong_ref(till)
    fields = {"request_no": unique("RA"), "member": ref, "amount_fen": 2500}
    first = till.send("earn", **fields)
    assert first.ok, first
    sent.clear()
    again = till.send("earn", **fields)  # a retry: new nonce, same request
    assert again.ok and again.data == first.data, (again, first)
    assert not any(s.startswith('SELECT x."id"') for s in sent), sent
    assert Operation.objects.filter(request_no=fields["request_no"]).count() == 1


def test_an_identify_by_ref_reads_the_member_with_what_it_masks(till, sent):
    ref = _strong_ref(till)
    sent.clear()
    again = till.send("identify", member=ref)
    assert again.ok, again
    assert again.data["mobile_masked"] == find_member(mobile="13800000001").masked_mobile
    assert not any(s.startswith("SELECT m.id") for s in sent), sent


def test_nothing_is_read_for_a_replayed_nonce_and_nothing_is_kept_after_the_call(till, monkeypatch):
    ref = _strong_ref(till)
    kept = []
    original = db.keep_ahead

    def spy(lookups, rows, *, after):
        original(lookups, rows, after=after)
        kept.append(dict(db._ahead.get() or {}))

    monkeypatch.setattr(service, "keep_ahead", spy)
    command = till.command("earn", request_no=unique("RA"), member=ref, amount_fen=1000)
    _, first = till.send_raw(command, nonce="fixednonce000001")
    assert till.read(first).ok
    _, replayed = till.send_raw(command, nonce="fixednonce000001")
    assert not till.read(replayed).ok and till.read(replayed).code.endswith("NONCE_REUSED")
    assert len(kept) == 2 and len(kept[0]) == 2  # the first call read its operation and member
    assert db._ahead.get() is None  # the scope ended with the call


@pytest.mark.django_db(transaction=True)
def test_a_read_ahead_is_answered_once_and_a_locking_read_always_goes_to_the_database(sandbox, sent):
    till = sandbox["native"]
    number = unique("RA")
    earned = till.send("earn", request_no=number, member="13800000001", amount_fen=1000)
    assert earned.ok, earned
    op = Operation.objects.get(request_no=number)
    lookup = operation_lookup(op.merchant_id, op.request_no)
    with db.read_ahead():
        db.keep_ahead([lookup], [("x", "y", True, *[None] * lookup.width)], after=2)  # found, all NULL
        with pytest.raises(ValueError):  # a width that is not the lookup's is refused, not misread
            db.keep_ahead([lookup], [("x", True, *[None] * lookup.width)], after=2)
        sent.clear()
        with transaction.atomic():
            locked = existing_operation(op.merchant_id, op.request_no, for_update=True)
            inside = existing_operation(op.merchant_id, op.request_no)
        assert locked.pk == op.pk  # FOR UPDATE is another statement: not answered ahead
        assert inside.pk == op.pk  # nor is any read inside a transaction the call opened
        assert len(sent) == 2
        assert existing_operation(op.merchant_id, op.request_no).pk is None  # answered from the read, once
        assert existing_operation(op.merchant_id, op.request_no).pk == op.pk  # then from the database
        assert len(sent) == 3
    assert connection.in_atomic_block is False


def test_a_refund_reads_whether_its_sale_used_rights_in_the_admitting_statement(till, sent, monkeypatch):
    def refund_once() -> list[str]:
        sale = unique("RA")
        assert till.send("earn", request_no=sale, member="13800000001", amount_fen=3000).ok
        sent.clear()
        back = till.send("refund", request_no=unique("RF"), original_request_no=sale, amount_fen=1000)
        assert back.ok, back
        return list(sent)

    asks = "SELECT EXISTS (SELECT 1 FROM rights_redemption"
    with_reads = refund_once()
    assert not any(s.startswith(asks) for s in with_reads), with_reads
    _without_reads_ahead(monkeypatch)
    without = refund_once()
    assert sum(s.startswith(asks) for s in without) == 1, without
    assert len(without) == len(with_reads) + 2  # the refund's own operation and the sale's rights
