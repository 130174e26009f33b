"""Merchant-scoped voucher references: opaque, stable, and resolving only where they were made."""

from __future__ import annotations

from rights import references, vouchers


def test_reference_resolves_only_at_its_merchant(world):
    right = world.right()
    member = world.member()
    voucher = vouchers.claim(member=member, right=right, request_no="C1")
    ref = references.voucher_reference(voucher, world.shop)
    assert references.is_reference(ref) and len(ref) == 27
    assert references.voucher_reference(voucher.pk, world.shop.pk) == ref  # stable
    assert references.resolve_reference(ref, world.shop).pk == voucher.pk
    assert references.resolve_reference(ref, world.other) is None  # another merchant's does not resolve
    other_ref = references.voucher_reference(voucher, world.other)
    assert other_ref != ref
    assert references.resolve_reference(other_ref, world.shop) is None
    assert references.resolve_reference(other_ref, world.other).pk == voucher.pk


def test_forged_and_malformed_references_do_not_resolve(world):
    right = world.right()
    voucher = vouchers.claim(member=world.member(), right=right, request_no="C1")
    ref = references.voucher_reference(voucher, world.shop)
    for i in range(1, len(ref)):  # every single-character change
        forged = ref[:i] + ("0" if ref[i] != "0" else "1") + ref[i + 1:]
        assert references.resolve_reference(forged, world.shop) is None
    for bad in ("", None, 12, ref.lower(), ref + "0", "M" + ref[1:], "VZZZZZZZZZZZZZZZZZZZZZZZZZZ"):
        assert references.resolve_reference(bad, world.shop) is None
    # consecutive vouchers have unrelated references (the id is not readable from them)
    second = vouchers.claim(member=voucher.member, right=right, request_no="C2")
    other = references.voucher_reference(second, world.shop)
    assert sum(a != b for a, b in zip(ref[2:], other[2:], strict=True)) > 15
