"""check_ledger fails loudly, by name, on each corruption it claims to detect: one test per
invariant, each corrupting one row by raw SQL on an otherwise clean ledger."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from points import contract, reversal, services
from points.checks import INVARIANTS, check_ledger
from points.models import Account, Operation
from tests.points.conftest import roll_up_finished_days


def sql(statement, params=()):
    with connection.cursor() as c:
        c.execute(statement, params)


def failing() -> set[str]:
    return set(check_ledger())


@pytest.fixture
def busy(world):
    """A clean ledger with one of everything: earns, a redemption and its refunds (one reversed), a
    hold, a conversion, a reversed earn, and a finished day rolled up."""
    m = world.member()
    for days in (4, 3, 2):  # three finished days, rolled up below
        world.earn(m, 50000 // 3, f"OLD{days}", now=timezone.now() - timedelta(days=days))
    world.earn(m, 100000, "E")
    world.redeem(m, 300, "P")
    world.refund("P", 100, "T1")
    world.refund("P", 100, "T2")
    reversal.reverse(merchant=world.shop, request_no="T1")
    world.refund("P", 200, "T3")  # P fully refunded
    world.freeze(m, 50, "F")
    world.earn(m, 2000, "GONE")
    reversal.reverse(merchant=world.shop, request_no="GONE")
    from points.models import Agreement

    Agreement.objects.create(merchant=world.other, program=world.store_points, is_default=False)
    services.earn(merchant=world.other, store=None, terminal=None, member=m, amount_fen=10000, request_no="SP",
                  program=world.store_points)
    services.convert(merchant=world.issuer, member=m, from_program=world.store_points, to_program=world.postal,
                     points=50, request_no="C")
    roll_up_finished_days()
    assert check_ledger() == {}
    return world, m


def test_every_invariant_has_a_corruption_test():
    here = Path(__file__).read_text()
    for name in INVARIANTS:
        assert f'"{name}"' in here, f"no corruption test names {name}"


def test_balanced_transactions(busy):
    sql("INSERT INTO points_posting (txn_id, account_id, amount, created_at) "
        "SELECT txn_id, account_id, 0, now() FROM points_posting LIMIT 1")  # allowed, still balanced
    assert failing() == set()
    sql("SET LOCAL session_replication_role = replica")  # past the database's own guards
    sql("INSERT INTO points_posting (txn_id, account_id, amount, created_at) "
        "SELECT txn_id, account_id, 7, p.created_at FROM points_posting p JOIN points_account a ON a.id = p.account_id "
        "WHERE a.kind = %s LIMIT 1", [Account.Kind.ISSUER_LIABILITY])
    sql("SET LOCAL session_replication_role = origin")
    assert "balanced_transactions" in failing()


def test_the_trigger_refuses_every_statement_that_would_unbalance_a_transaction(busy):
    """The balance trigger sums only the inserting statement's rows; with postings append-only that
    is the whole invariant. Raw inserts around the ORM: a new unbalanced transaction, one leg added
    to an old balanced one, and a COPY are refused; a balanced pair added to an old one is not
    (the transaction still sums to zero) and check_ledger stays green."""
    from django.db import DatabaseError, transaction

    liability = Account.objects.filter(kind=Account.Kind.ISSUER_LIABILITY).first()
    available = Account.objects.filter(kind=Account.Kind.AVAILABLE).first()
    before = Account.objects.get(pk=available.pk).balance
    old_txn = connection.cursor()
    old_txn.execute("SELECT min(txn_id) FROM points_posting")
    old = old_txn.fetchone()[0]
    for statement, params in [
        ("WITH t AS (INSERT INTO points_txn (kind, created_at) VALUES ('adjust', now()) RETURNING id) "
         "INSERT INTO points_posting (txn_id, account_id, amount, created_at) "
         "SELECT id, %s, 5, now() FROM t UNION ALL SELECT id, %s, -4, now() FROM t", [available.pk, liability.pk]),
        ("INSERT INTO points_posting (txn_id, account_id, amount, created_at) VALUES (%s, %s, 1, now())",
         [old, available.pk]),
    ]:
        with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
            sql(statement, params)
    import psycopg

    with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"), transaction.atomic():
        with connection.cursor() as c:  # the raw psycopg cursor: COPY is not wrapped by Django
            with c.cursor.copy("COPY points_posting (txn_id, account_id, amount, created_at) FROM STDIN") as copy:
                copy.write_row((old, available.pk, 3, timezone.now()))
    sql("INSERT INTO points_posting (txn_id, account_id, amount, created_at) VALUES "
        "(%s, %s, 0, now()), (%s, %s, 0, now())", [old, available.pk, old, liability.pk])
    assert Account.objects.get(pk=available.pk).balance == before
    assert failing() == set()


def test_balanced_per_program(busy):
    world, m = busy
    # one transaction moving 5 points from the postal issuer's liability to the store issuer's:
    # balanced overall (the trigger accepts it), not within either program
    postal = Account.objects.get(kind=Account.Kind.ISSUER_LIABILITY, program=world.postal)
    store = Account.objects.get(kind=Account.Kind.ISSUER_LIABILITY, program=world.store_points)
    sql("INSERT INTO points_txn (kind, operation_id, created_at) VALUES ('adjust', NULL, now())")
    sql("INSERT INTO points_posting (txn_id, account_id, amount, created_at) "
        "SELECT max(id), %s, 5, now() FROM points_txn UNION ALL SELECT max(id), %s, -5, now() FROM points_txn",
        [postal.pk, store.pk])
    assert failing() == {"balanced_per_program"}


def test_member_balances_match_postings(busy):
    world, m = busy
    sql("UPDATE points_account SET balance = balance + 1 WHERE member_id = %s AND kind = %s",
        [m.pk, Account.Kind.HELD])
    assert "member_balances_match_postings" in failing()


def test_lots_match_balances(busy):
    world, m = busy
    sql("UPDATE points_lot SET remaining = remaining + 1 WHERE id = (SELECT max(id) FROM points_lot WHERE remaining > 0)")
    assert "lots_match_balances" in failing()


def test_nothing_negative(busy):
    world, m = busy
    sql("SET LOCAL session_replication_role = replica")  # past the append-only trigger
    sql("UPDATE points_lot_usage SET amount = -amount WHERE id = (SELECT min(id) FROM points_lot_usage WHERE amount > 0)")
    sql("SET LOCAL session_replication_role = origin")
    assert "nothing_negative" in failing()


def test_lots_account_for_their_points(busy):
    sql("UPDATE points_lot SET expired = expired + 1 WHERE id = (SELECT min(id) FROM points_lot)")
    assert "lots_account_for_their_points" in failing()


def test_references_exist(busy):
    sql("UPDATE points_operation SET store_id = 999999 WHERE request_no = 'E'")
    assert failing() == {"references_exist"}


def test_rollups_match_postings_amount(busy):
    sql("UPDATE points_counterparty_rollup SET amount = amount + 1 WHERE id = (SELECT min(id) FROM points_counterparty_rollup)")
    assert failing() == {"rollups_match_postings"}


def test_rollups_match_postings_count(busy):
    sql("UPDATE points_counterparty_rollup SET postings = postings + 1 WHERE id = (SELECT min(id) FROM points_counterparty_rollup)")
    assert failing() == {"rollups_match_postings"}


def test_rollups_complete(busy):
    sql("DELETE FROM points_counterparty_rollup WHERE business_date = "
        "(SELECT min(business_date) + 1 FROM points_counterparty_rollup)")  # the middle day of three
    assert failing() == {"rollups_complete"}


def test_rollups_complete_does_not_wait_for_today_or_yesterday(world):
    m = world.member()
    world.earn(m, 1000, now=timezone.now() - timedelta(days=5))
    roll_up_finished_days()  # the daily rollup runs from that day on
    world.earn(m, 1000)
    world.earn(m, 1000, now=timezone.now() - timedelta(days=1))  # yesterday: the 00:30 job may not have run
    assert "rollups_complete" not in failing()
    world.earn(m, 1000, now=timezone.now() - timedelta(days=2))  # the day before yesterday is due
    assert "rollups_complete" in failing()


def test_held_matches_holds(busy):
    sql("UPDATE points_operation SET status = 'released' WHERE request_no = 'F'")
    assert failing() == {"held_matches_holds"}


def test_refunded_totals_match_refunds_fen(busy):
    sql("UPDATE points_operation SET refunded_fen = refunded_fen - 1 WHERE request_no = 'P'")
    assert "refunded_totals_match_refunds" in failing()


def test_refunded_totals_match_refunds_points(busy):
    sql("UPDATE points_operation SET refunded_points = refunded_points - 1 WHERE request_no = 'P'")
    assert failing() == {"refunded_totals_match_refunds"}


def test_undone_clearing_nets_zero_fully_refunded(busy):
    sql("UPDATE points_clearing_item SET fee_fen = fee_fen + 1 WHERE id = (SELECT max(c.id) FROM points_clearing_item c "
        "JOIN points_operation o ON o.id = c.operation_id WHERE o.request_no = 'T3')")
    assert failing() == {"undone_clearing_nets_zero"}


def test_undone_clearing_nets_zero_reversed(busy):
    sql("UPDATE points_clearing_item SET amount_fen = amount_fen + 1 WHERE id = (SELECT min(c.id) FROM points_clearing_item c "
        "JOIN points_operation o ON o.id = c.operation_id WHERE o.request_no = 'GONE')")
    assert failing() == {"undone_clearing_nets_zero"}


# ---- the contract in code ----------------------------------------------------------------------

def test_account_kinds_are_defined_once():
    assert {k.name: k.value for k in Account.Kind} == {k.name: k.value for k in contract.AccountKind}
    assert tuple(Account.MEMBER_KINDS) == contract.MEMBER_KINDS
    assert tuple(Account.SHARED_KINDS) == contract.SHARED_KINDS


def test_ledger_sql_uses_no_literal_account_kind_and_handles_every_lot_mode():
    text = (Path(contract.__file__).parent / "sql" / "ledger.sql").read_text()
    code = "\n".join(line.split("--")[0] for line in text.splitlines())
    assert not re.search(r"kind\s*(=|<|>|<=|>=|IN \()\s*\d", code), "a literal account kind in ledger.sql"
    assert not re.search(r"points_account_id\(\d", code), "a literal account kind in ledger.sql"
    apply = code[code.index("FUNCTION points_apply"):]
    apply = apply[:apply.index("CREATE OR REPLACE FUNCTION")]
    modes = set(re.findall(r"v_leg \? '(\w+)'", apply))
    assert modes == {mode.value for mode in contract.LotMode}
    keys = set(re.findall(r"\bp \? '(\w+)'", apply)) | set(re.findall(r"\bp->>?'(\w+)'", apply))
    assert keys <= contract.PAYLOAD_KEYS, keys - contract.PAYLOAD_KEYS
    rendered = contract.render_sql(text)
    assert "__" not in re.sub(r"'[^']*'", "", "\n".join(line.split("--")[0] for line in rendered.splitlines()))
    with pytest.raises(contract.ContractError):
        contract.render_sql("SELECT __NO_SUCH_KIND__")


@pytest.mark.parametrize("payload, message", [
    ({"now": "x", "txn_kind": "earn", "legs": [], "op_id": 1, "oops": 1}, "unknown keys"),
    ({"now": "x", "txn_kind": "earn", "legs": []}, "exactly one of op and op_id"),
    ({"now": "x", "txn_kind": "earn", "op_id": 1, "legs": [{"account": [1, 1, 1, None], "amount": -1, "tkae": True}]},
     "unknown keys"),
    ({"now": "x", "txn_kind": "earn", "op_id": 1, "legs": [{"account": [7, 1, 1, None], "amount": 1}]}, "known kind"),
    ({"now": "x", "txn_kind": "earn", "op_id": 1, "legs": [{"account": [10, 1, 1, None], "amount": 1}]},
     "shared accounts a party"),
    ({"now": "x", "txn_kind": "earn", "op_id": 1, "legs": [{"account": [3, 1, 1, None], "amount": -1, "take": True}]},
     "without lots"),
    ({"now": "x", "txn_kind": "earn", "op_id": 1, "legs": [{"account": [1, 1, 1, None], "amount": 1, "take": True}]},
     "negative amount"),
    ({"now": "x", "txn_kind": "earn", "op_id": 1,
      "legs": [{"account": [1, 1, 1, None], "amount": -1, "claw": {"lot": 1, "owed": 1, "counter": 5}}]}, "counter"),
])
def test_payloads_are_validated(payload, message):
    with pytest.raises(contract.ContractError, match=message):
        contract.validate(payload)


def test_a_bad_payload_never_reaches_the_database(world):
    from points import ledger

    entry = ledger.Entry(now=timezone.now(), txn_kind="earn", op_id=1,
                         legs=[ledger.Posting([1, world.postal.pk, 1, None], -1, {"take_lots": True})])
    with pytest.raises(contract.ContractError):
        ledger.apply(entry)
    assert Operation.objects.count() == 0

