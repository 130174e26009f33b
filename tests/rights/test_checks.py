"""check_rights fails loudly, by name, on each breach it claims to detect: one test per
invariant, each corrupting rows by raw SQL (constraints and append-only triggers set aside inside
the test's transaction) on an otherwise clean world; and the nightly job runs it."""

from __future__ import annotations

import pytest
from django.db import connection

from hub.clearing.jobs import run_ledger_check
from points import services as points_services
from points.checks import check_ledger
from points.models import Program
from rights import redemption, vouchers
from rights.checks import INVARIANTS, check_rights
from rights.models import ClaimRequest, Right, RightsFunding
from tests.rights.conftest import local

NOW = local(2026, 11, 20, 10, 0)


def sql(statement, params=()):
    with connection.cursor() as c:
        c.execute(statement, params)


def raw(statement, params=()):
    """A write no service would make: constraints deferred to nothing, triggers off, for one statement."""
    sql("SET session_replication_role = replica")
    try:
        sql(statement, params)
    finally:
        sql("SET session_replication_role = origin")


def failing() -> set[str]:
    return set(check_rights())


@pytest.fixture
def clean(world):
    """A used voucher with its funding and clearing item, a second one used and part-refunded, a
    reserved one, an available one, and one bought with points; budget and total counters."""
    program = Program.objects.create(issuer=world.issuer, code=f"PK{world.issuer.pk}", name="邮政金融积分",
                                     value_fen=100, value_points=100)
    right = world.right(settlement_fen=1000, budget_fen=100000, total_limit=100)
    paid = world.right(claim_mode=Right.ClaimMode.POINTS, claim_program=program, claim_points=200)
    held = [vouchers.claim(member=world.member(), right=right, request_no=f"C{i}", now=NOW) for i in range(4)]
    buyer = world.member()
    points_services.grant(program=program, member=buyer, points=500, request_no="G1", now=NOW)
    bought = vouchers.claim(member=buyer, right=paid, request_no="P1", now=NOW)
    for i, no in ((0, "U1"), (1, "U2")):
        redemption.redeem(merchant=world.shop, store=world.store, terminal=world.till, request_no=no,
                          voucher=held[i], sale_fen=6000, discount_fen=1000, now=NOW)
    redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U2", refund_fen=1000, now=NOW)
    redemption.reserve(merchant=world.shop, store=world.store, terminal=world.till, request_no="R1", voucher=held[2],
                       sale_fen=6000, discount_fen=1000, now=NOW)
    assert check_rights() == {} and check_ledger() == {}
    return {"right": right, "held": held, "bought": bought, "use": RightsFunding.objects.filter(reason="use").first()}


def test_every_invariant_has_a_corruption_test():
    tested = {name[len("test_catches_"):] for name in globals() if name.startswith("test_catches_")}
    assert set(INVARIANTS) <= tested


def test_catches_counters_within_limits(clean):
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # no pending deferred checks before the DDL
    sql("ALTER TABLE rights_quotacounter DROP CONSTRAINT quota_counter_within_limit")
    sql("UPDATE rights_quotacounter SET used = limit_value + 1 WHERE scope = 'total'")
    assert "counters_within_limits" in failing()


def test_catches_one_successful_use_per_voucher(clean):
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    sql("DROP INDEX redemption_one_live_use_per_voucher")
    first, second = clean["held"][0], clean["held"][1]
    sql("UPDATE rights_redemption SET voucher_id = %s WHERE voucher_id = %s AND kind = 'use'", [first.pk, second.pk])
    assert "one_successful_use_per_voucher" in failing()


def test_catches_used_vouchers_have_their_use(clean):
    sql("UPDATE rights_voucher SET state = 'used', used_at = now() WHERE id = %s", [clean["held"][3].pk])
    assert "used_vouchers_have_their_use" in failing()


def test_catches_funding_nets_to_the_uses(clean):
    sql("UPDATE rights_redemption SET settlement_fen = settlement_fen + 1 WHERE request_no = 'U1'")
    assert "funding_nets_to_the_uses" in failing()


def test_catches_budget_matches_funding(clean):
    sql("UPDATE rights_quotacounter SET used = used - 1 WHERE scope = 'budget'")
    assert "budget_matches_funding" in failing()


def test_catches_claims_within_total(clean):
    sql("UPDATE rights_quotacounter SET used = used - 1 WHERE scope = 'total'")
    assert "claims_within_total" in failing()


def test_catches_events_follow_states(clean):
    sql("""INSERT INTO rights_voucherevent (voucher_id, from_state, to_state, action, request_no, reason, at)
           VALUES (%s, 'available', 'expired', 'expire', '', '', now())""", [clean["held"][3].pk])
    assert "events_follow_states" in failing()


def test_catches_funding_has_its_clearing_item(clean):
    sql("UPDATE points_clearing_item SET amount_fen = amount_fen + 1 WHERE id = %s", [clean["use"].clearing_item_id])
    assert "funding_has_its_clearing_item" in failing()


def test_catches_funding_without_its_clearing_item(clean):
    raw("UPDATE rights_rightsfunding SET clearing_item_id = NULL WHERE id = %s", [clean["use"].pk])
    problems = failing()
    assert "funding_has_its_clearing_item" in problems and "rights_clearing_items_have_their_funding" in problems


def test_catches_rights_clearing_items_have_their_funding(clean, world):
    sql("""INSERT INTO points_clearing_item (payer_id, payee_id, kind, points, amount_fen, fee_fen, created_at)
           VALUES (%s, %s, 'rights_funding', 0, 500, 0, now())""", [world.issuer.pk, world.shop.pk])
    assert "rights_clearing_items_have_their_funding" in failing()


def test_catches_points_claims_paid(clean):
    op = ClaimRequest.objects.get(voucher=clean["bought"]).points_operation_id
    sql("UPDATE points_operation SET status = 'reversed' WHERE id = %s", [op])
    assert "points_claims_paid" in failing()


def test_catches_a_points_voucher_without_its_operation(clean):
    raw("UPDATE rights_claimrequest SET points_operation_id = NULL WHERE voucher_id = %s", [clean["bought"].pk])
    assert "points_claims_paid" in failing()


def test_catches_references_exist(clean):
    sql("UPDATE rights_redemption SET store_id = 999999999 WHERE request_no = 'U1'")
    assert "references_exist" in failing()


def test_the_nightly_check_runs_check_rights(clean):
    assert run_ledger_check().ok
    sql("UPDATE rights_quotacounter SET used = used - 1 WHERE scope = 'budget'")
    run = run_ledger_check()
    assert not run.ok and "rights.budget_matches_funding" in run.problems
