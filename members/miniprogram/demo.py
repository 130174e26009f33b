"""The mini-program's sandbox data (hub.demo.seed, after the points step): a second points
program so the conversion pages have something to convert into — 赣味小馆积分 (``GWPOINTS``,
issued by the demo restaurant chain ``DEMO_FOOD``) — and the two issuers' rates (100 postal points
→ 100 赣味 points, at least 100; 100 赣味 points → 50 postal points). Idempotent."""

from __future__ import annotations

from hub.models import Merchant
from points.models import ConversionRate, Program

PROGRAM = "GWPOINTS"


def seed_miniprogram() -> dict[str, int]:
    created = {"programs": 0, "conversion_rates": 0}
    postal = Program.objects.filter(code="POSTAL").first()
    issuer = Merchant.objects.filter(code="DEMO_FOOD").first()
    if postal is None or issuer is None:
        return created
    program, made = Program.objects.get_or_create(
        code=PROGRAM, defaults={"issuer": issuer, "name": "赣味小馆积分", "value_fen": 100, "value_points": 100,
                                "expiry_policy": Program.Expiry.YEAR_END_NEXT})
    created["programs"] += made
    for source, target, give, get in ((postal, program, 100, 100), (program, postal, 100, 50)):
        _, made = ConversionRate.objects.get_or_create(
            from_program=source, to_program=target,
            defaults={"from_points": give, "to_points": get, "min_points": give})
        created["conversion_rates"] += made
    return created
