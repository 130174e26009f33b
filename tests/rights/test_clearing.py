"""Rights funding in the daily clearing: each write-off's rights_funding item (funder → provider,
the settlement fixed at use) is taken by the day's batch with the ledger's items; reverses and
refunds are negative items; partial refunds add back exactly; statements and settlement
instructions include them."""

from __future__ import annotations

import pytest
from django.db import connection

from hub.clearing import services as clearing
from hub.clearing import statements
from hub.clearing.models import ClearingLine, ClearingPosition, SettlementInstruction
from hub.models import Store
from points.checks import check_ledger
from points.models import ClearingItem
from rights import redemption, vouchers
from rights.checks import check_rights
from rights.models import Right, RightsFunding
from tests.rights.conftest import local

DAY = local(2026, 11, 20, 10, 0)
CUTOFF = local(2026, 11, 21)  # the 00:00 cut-off closing the batch of 20 Nov
NEXT_CUTOFF = local(2026, 11, 22)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _use(world, right, no, *, merchant=None, store=None, sale=6000, discount=1000, at=DAY):
    voucher = vouchers.claim(member=world.member(), right=right, request_no=f"C{no}", now=at)
    return redemption.redeem(merchant=merchant or world.shop, store=store or world.store, terminal=None,
                             request_no=no, voucher=voucher, sale_fen=sale, discount_fen=discount, now=at)


def _lines(batch):
    return {(line.payer_id, line.payee_id, line.kind): (line.item_count, line.gross_fen, line.net_fen)
            for line in ClearingLine.objects.filter(batch=batch)}


def test_a_day_of_rights_uses_clears_to_the_fen(world, media):
    gate = Store.objects.create(merchant=world.other, code="GATE1", name="东门")
    coupon = world.right(settlement_fen=1001)  # issuer → shop
    ticket = world.right(kind=Right.Kind.SCENIC_TICKET, off_fen=None, threshold_fen=None, settlement_fen=6000,
                         people=2, providers=[world.other])  # issuer → the scenic spot
    own = world.right(settlement_fen=500)  # the shop funds its own coupon: nothing between parties
    Right.objects.filter(pk=own.pk).update(funder=world.shop)
    own.refresh_from_db()

    _use(world, coupon, "U1")
    _use(world, coupon, "U2")
    _use(world, coupon, "U3")
    redemption.reverse(merchant=world.shop, request_no="U3", now=DAY)  # the till never got the answer
    redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U2", refund_fen=2000, now=DAY)
    _use(world, ticket, "G1", merchant=world.other, store=gate, sale=0, discount=0)
    _use(world, own, "O1")
    assert RightsFunding.objects.filter(right=own).get().clearing_item_id is None

    batch = clearing.close_batch(cutoff_at=CUTOFF, now=local(2026, 11, 21, 0, 5))
    # coupon: 1001 + 1001 + 1001 − 1001 (reverse) − 334 (refund 2000 of 6000, largest remainder)
    assert _lines(batch) == {
        (world.issuer.pk, world.shop.pk, "rights_funding"): (5, 1001 * 2 - 334, 1001 * 2 - 334),
        (world.issuer.pk, world.other.pk, "rights_funding"): (1, 6000, 6000),
    }
    assert ClearingLine.objects.filter(batch=batch).values_list("program_id", flat=True).distinct().get() is None
    positions = {p.party_id: p.net_fen for p in ClearingPosition.objects.filter(batch=batch)}
    assert positions == {world.issuer.pk: -(1668 + 6000), world.shop.pk: 1668, world.other.pk: 6000}
    assert sum(positions.values()) == 0
    assert sorted(SettlementInstruction.objects.filter(batch=batch).values_list("payer_id", "payee_id", "amount_fen")) \
        == sorted([(world.issuer.pk, world.shop.pk, 1668), (world.issuer.pk, world.other.pk, 6000)])
    assert batch.item_count == 6 and batch.gross_fen == 7668

    statements.build_documents(batch=batch, encodings=["utf-8"])
    shop_file = batch.documents.get(kind="statement", party=world.shop)
    text = shop_file.file.open("rb").read().decode("utf-8")
    rows = [line for line in text.splitlines() if ",权益出资," in line]
    assert len(rows) == 5 + 1  # five detail rows and the summary line
    assert any(",U1,SHOP" in r and r.endswith(",10.01,0.00,10.01") for r in rows), rows
    assert any(",U3,SHOP" in r and r.endswith(",-10.01,0.00,-10.01") for r in rows), rows
    assert any(",T1,SHOP" in r and r.endswith(",-3.34,0.00,-3.34") for r in rows), rows
    assert "#净头寸：应收16.68元（16.68）" in text
    assert check_ledger() == {} and check_rights() == {}


def test_partial_refunds_across_two_batches_add_back_exactly(world, media):
    coupon = world.right(settlement_fen=1001)
    _use(world, coupon, "U1", sale=5999, discount=1000)
    redemption.refund(merchant=world.shop, request_no="T1", original_request_no="U1", refund_fen=1999, now=DAY)
    first = clearing.close_batch(cutoff_at=CUTOFF, now=local(2026, 11, 21, 0, 5))
    later = local(2026, 11, 21, 15, 0)
    returned = [redemption.refund(merchant=world.shop, request_no=f"T{k}", original_request_no="U1", refund_fen=fen,
                                  now=later)["settlement_fen_returned"] for k, fen in ((2, 1), (3, 2000), (4, 1999))]
    second = clearing.close_batch(cutoff_at=NEXT_CUTOFF, now=local(2026, 11, 22, 0, 5))
    key = (world.issuer.pk, world.shop.pk, "rights_funding")
    day1, day2 = _lines(first)[key], _lines(second)[key]
    # 1001 × 1999/5999 = 333.56 → 334 the first day; what the later refunds give back is the rest
    assert day1[1] == 1001 - 334
    assert sum(returned) == 667 and all(r >= 0 for r in returned)
    assert day1[1] + day2[1] == 0  # the use and all its refunds net to nothing, to the fen
    assert sum(RightsFunding.objects.values_list("amount_fen", flat=True)) == 0
    assert check_rights() == {}


def test_largest_remainder_split_adds_up_exactly():
    assert redemption.largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert redemption.largest_remainder(1001, [2000, 4000]) == [334, 667]
    assert redemption.largest_remainder(7, [0, 5, 0]) == [0, 7, 0]
    for total in (0, 1, 999, 1001, 123457):
        for weights in ([1], [3, 7], [1, 1, 1, 1, 1, 1, 1], [10**9, 1, 2]):
            parts = redemption.largest_remainder(total, weights)
            assert sum(parts) == total and all(p >= 0 for p in parts)
    with pytest.raises(ValueError):
        redemption.largest_remainder(10, [0, 0])
    # the refunded share never decreases as more is refunded, and is the whole at the end
    shares = [redemption.refunded_settlement(settlement_fen=1001, sale_fen=5999, refunded_fen=r) for r in range(6000)]
    assert shares[0] == 0 and shares[-1] == 1001 and all(a <= b for a, b in zip(shares, shares[1:], strict=False))


def test_rights_items_are_frozen_once_their_batch_closed(world):
    coupon = world.right(settlement_fen=1000)
    _use(world, coupon, "U1")
    clearing.close_batch(cutoff_at=CUTOFF, now=local(2026, 11, 21, 0, 5))
    item = ClearingItem.objects.get(kind="rights_funding")
    with pytest.raises(Exception, match="belongs to clearing batch"), connection.cursor() as cursor:
        cursor.execute("UPDATE points_clearing_item SET amount_fen = 1 WHERE id = %s", [item.pk])
