"""Demo and sandbox points: the postal points program, agreements for every merchant of the
network, and demo members 13800000001-13800000005 with 100,000 available postal points each.
Idempotent (called by hub.demo.seed after the network)."""

from __future__ import annotations

from hub.models import Merchant
from members.models import Member, Tier
from members.selectors import find_member
from members.services import register_member
from points import services
from points.models import Agreement, Operation, Program

POSTAL_PROGRAM = "POSTAL"
DEMO_MEMBERS = [
    ("PJX0000000001", "王小明", "13800000001", "gold"),
    ("PJX0000000002", "李华", "13800000002", "silver"),
    ("PJX0000000003", "张伟", "13800000003", "standard"),
    ("PJX0000000004", "刘芳", "13800000004", "platinum"),
    ("PJX0000000005", "陈静", "13800000005", "diamond"),
]
DEMO_POINTS = 100_000


def seed_points(issuer: Merchant) -> dict[str, int]:
    created = {"programs": 0, "agreements": 0, "members": 0, "grants": 0}
    program, made = Program.objects.get_or_create(
        code=POSTAL_PROGRAM,
        defaults={"issuer": issuer, "name": "邮政金融积分", "value_fen": 100, "value_points": 100,
                  "expiry_policy": Program.Expiry.YEAR_END_NEXT},
    )
    created["programs"] += made
    for merchant in Merchant.objects.filter(kind=Merchant.Kind.MERCHANT):
        _, made = Agreement.objects.get_or_create(
            merchant=merchant, program=program,
            defaults={"is_default": not Agreement.objects.filter(merchant=merchant, is_default=True).exists(),
                      "can_award": True, "can_accept": True, "earn_points": 1, "earn_per_fen": 100,
                      "maturation_days": 0, "acceptance_fee_bp": 60, "funding": Agreement.Funding.MERCHANT,
                      "issue_value_fen": 100, "issue_value_points": 100, "tier_multipliers": {"gold": 120, "diamond": 150}},
        )
        created["agreements"] += made
    for postal_no, name, mobile, tier_code in DEMO_MEMBERS:
        member = find_member(mobile=mobile) or Member.objects.filter(postal_no=postal_no).first()
        if member is None:
            member = register_member(postal_no=postal_no, name=name, mobile=mobile,
                                     tier=Tier.objects.get(code=tier_code))
            created["members"] += 1
        request_no = f"DEMO-GRANT-{postal_no}"
        if not Operation.objects.filter(merchant=issuer, request_no=request_no).exists():
            services.grant(program=program, member=member, points=DEMO_POINTS, request_no=request_no,
                           memo="沙箱演示积分")
            created["grants"] += 1
    return created
