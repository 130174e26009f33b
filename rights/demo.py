"""The sandbox rights for `make run`: ``seed_rights()``, called after the network, members and
points are seeded (hub.demo.seed). Idempotent: creates what is missing, leaves the rest alone
(an operator's edits survive a restart). Writes go through the services.

- ``SBX_R95``   会员九五折: a 95 折 tier discount for 金卡 and above at every sandbox merchant,
  funded entirely by the postal issuer (funded share 10000 bp of the discount);
- ``SBX_M50_10`` 满 50 减 10: a free voucher right without a per-member limit (claimable on every
  try), 30 days after claim, the issuer paying the merchant 10 元 per use, returned on a full refund;
- ``SBX_TICKET`` 景区免费门票: a free ticket for 2 people at the demo scenic spot's gate;
- ``SBX_ONLINE`` 线上 5 元券: an online coupon used through the native API's sandbox merchant.

Demo members 13800000001-13800000005 each hold one 满 50 减 10 voucher and one ticket.

The demo scenic spot ``DEMO_SCENIC`` has gate ``G01`` (terminal ``GATE1``/``G01``) and its own native
sandbox credential (app key ``gate_test_app``, secret ``gate-test-secret-0001``) for the gate API
(``/api/v1/gate/``, docs/rights.md "Gate protocol"); like every sandbox credential it works only
while DEBUG is on.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from hub.credentials import issue_credential
from hub.errors import ParamError
from hub.models import Credential, Merchant, Store, Terminal, Vendor
from members.models import Member, Tier
from members.selectors import find_member
from rights import catalogue, vouchers
from rights.models import Gate, Right

SANDBOX_MERCHANTS = ("SBX_ZBW", "SBX_KM", "M0001", "SBX_FX", "SBX_HUB")
ISSUER_CODE = "CPJX"
SCENIC_CODE = "DEMO_SCENIC"
CHECKER_USERNAME = "sandbox_rights_checker"
GATE_CODE = "G01"
GATE_APP_KEY = "gate_test_app"
GATE_SECRET = "gate-test-secret-0001"

RIGHTS = [
    {"code": "SBX_R95", "name": "会员九五折（金卡及以上）", "kind": Right.Kind.TIER_DISCOUNT, "rate_bp": 9500,
     "funded_share_bp": 10000, "tiers": ("gold", "platinum", "diamond"), "where": SANDBOX_MERCHANTS,
     "description": "金卡及以上会员在沙箱商户享受 95 折，优惠由邮政金融全额出资"},
    {"code": "SBX_M50_10", "name": "满 50 减 10 券", "kind": Right.Kind.AMOUNT_OFF, "off_fen": 1000,
     "threshold_fen": 5000, "settlement_fen": 1000, "valid_days": 30, "return_on_refund": True,
     "stack_group": "coupon", "where": SANDBOX_MERCHANTS, "description": "免费领取，不限领取次数；整单退货退回"},
    {"code": "SBX_TICKET", "name": "景区免费门票（2 人）", "kind": Right.Kind.SCENIC_TICKET, "people": 2,
     "settlement_fen": 6000, "valid_days": 90, "where": (SCENIC_CODE,), "scenes": ["other"],
     "member_limit": 5, "description": "示范景区闸机核销，每张可入园 2 人"},
    {"code": "SBX_ONLINE", "name": "线上商城 5 元券", "kind": Right.Kind.ONLINE_COUPON, "off_fen": 500,
     "settlement_fen": 500, "valid_days": 30, "where": ("SBX_HUB",), "description": "合作线上平台通过原生接口核销"},
]
DEMO_MOBILES = [f"1380000000{n}" for n in range(1, 6)]


def _checker():
    """The sandbox's named approver (cannot sign in): demo rights pass the same maker-checker
    workflow as any other, created by the system and approved by this account."""
    user, _ = get_user_model().objects.get_or_create(
        username=CHECKER_USERNAME, defaults={"is_active": False, "first_name": "沙箱权益审核（系统）"})
    if user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _scenic_spot(created: dict) -> Merchant:
    merchant, was = Merchant.objects.get_or_create(
        code=SCENIC_CODE, defaults={"name": "示范景区·梅岭", "scene": Merchant.Scene.OTHER})
    created["merchants"] += int(was)
    store, was = Store.objects.get_or_create(merchant=merchant, code="GATE1", defaults={"name": "梅岭东门"})
    created["stores"] += int(was)
    terminal, was = Terminal.objects.get_or_create(store=store, code="G01", defaults={"kind": Terminal.Kind.POS})
    created["terminals"] += int(was)
    Gate.objects.get_or_create(merchant=merchant, code=GATE_CODE, defaults={"name": "梅岭东门 1 号闸机",
                                                                           "terminal": terminal})
    vendor = Vendor.objects.filter(code="native").first()
    if vendor is not None and not Credential.objects.filter(app_key=GATE_APP_KEY).exists():
        issue_credential(merchant=merchant, vendor=vendor, app_key=GATE_APP_KEY, secret=GATE_SECRET, is_sandbox=True)
        created["credentials"] += 1
    return merchant


@transaction.atomic
def seed_rights() -> dict[str, int]:
    """Returns how many rights, vouchers, merchants, stores, terminals and credentials this run created."""
    created = {"rights": 0, "vouchers": 0, "merchants": 0, "stores": 0, "terminals": 0, "credentials": 0}
    issuer = Merchant.objects.filter(code=ISSUER_CODE).first()
    if issuer is None:
        return created  # the network step did not run
    _scenic_spot(created)
    checker = _checker()
    for spec in RIGHTS:
        spec = dict(spec)
        if Right.objects.filter(code=spec["code"]).exists():
            continue
        providers = list(Merchant.objects.filter(code__in=spec.pop("where")))
        tiers = list(Tier.objects.filter(code__in=spec.pop("tiers", ())))
        if not providers:
            continue
        right = catalogue.create_right(funder=issuer, providers=providers, tiers=tiers, **spec)
        catalogue.submit_for_review(right=right, actor=None)
        catalogue.approve_right(right=right, actor=checker)
        created["rights"] += 1
    for mobile in DEMO_MOBILES:
        member = find_member(mobile=mobile)
        if member is None:
            continue
        for code in ("SBX_M50_10", "SBX_TICKET"):
            right = Right.objects.filter(code=code, status=Right.Status.ACTIVE).first()
            if right is None:
                continue
            request_no = f"DEMO-{code}-1"
            if right.claims.filter(member=member, request_no=request_no).exists():
                continue
            vouchers.claim(member=member, right=right, request_no=request_no)
            created["vouchers"] += 1
    return created


def ensure_usable_voucher(*, member: Member, right_code: str | None = None):
    """A usable voucher of the member (of ``right_code`` if given), claiming the free voucher
    right (满 50 减 10 unless named) for them first if they hold none."""
    right = None
    if right_code:
        right = Right.objects.filter(code=right_code).first()
        if right is None:
            raise ParamError("权益不存在")
    found = vouchers.usable_vouchers(member=member, right=right).first()
    if found is not None:
        return found
    right = right or Right.objects.filter(code="SBX_M50_10").first()
    if right is None:
        raise ParamError("会员没有可用凭证，且沙箱免费券不存在")
    return vouchers.claim(member=member, right=right, request_no=f"CLI-{secrets.token_hex(8)}")
