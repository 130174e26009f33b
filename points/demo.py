"""Demo and sandbox points: the postal points program, agreements for every merchant of the
network, and 100,000 available postal points for each demo member (members.demo: 13800000001-5).
Idempotent (called by hub.demo.seed after the network)."""

from __future__ import annotations

from hub.demo import sandbox_merchants
from hub.models import Merchant
from members.credentials import MemberName
from members.demo import DEMO_MEMBERS
from members.models import Member
from points import till
from points.models import Agreement, Operation, Program

POSTAL_PROGRAM = "POSTAL"
DEMO_POINTS = 100_000


def seed_points(issuer: Merchant) -> dict[str, int]:
    created = {"programs": 0, "agreements": 0, "grants": 0}
    program, made = Program.objects.get_or_create(
        code=POSTAL_PROGRAM,
        defaults={"issuer": issuer, "name": "邮政金融积分", "value_fen": 100, "value_points": 100,
                  "expiry_policy": Program.Expiry.YEAR_END_NEXT},
    )
    created["programs"] += made
    sandbox_codes = {s.code for s in sandbox_merchants()}
    for merchant in Merchant.objects.filter(kind=Merchant.Kind.MERCHANT):
        _, made = Agreement.objects.get_or_create(
            merchant=merchant, program=program,
            defaults={"is_default": not Agreement.objects.filter(merchant=merchant, is_default=True).exists(),
                      "can_award": True, "can_accept": True, "earn_points": 1, "earn_per_fen": 100,
                      "maturation_days": 0, "acceptance_fee_bp": 60, "funding": Agreement.Funding.MERCHANT,
                      "issue_value_fen": 100, "issue_value_points": 100,
                      "tier_multipliers": {"gold": 120, "diamond": 150},
                      # the sandbox documentation promises vendors identify/earn by the demo mobiles
                      "allow_mobile_lookup": merchant.code in sandbox_codes},
        )
        created["agreements"] += made
    for postal_no, *_ in DEMO_MEMBERS:
        member = Member.objects.filter(postal_no=postal_no).first()
        request_no = f"DEMO-GRANT-{postal_no}"
        if member is not None and not Operation.objects.filter(merchant=issuer, request_no=request_no).exists():
            till.grant(place=till.Place(merchant=issuer), member=MemberName.verified(member), program=program,
                       points=DEMO_POINTS, request_no=request_no, memo="沙箱演示积分")
            created["grants"] += 1
    return created
