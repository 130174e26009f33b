"""The OpenAPI description of the native voucher endpoints (hub.vendors.native.vouchers):
summaries, bodies and examples, registered in hub.api.views / serializers / examples."""

from __future__ import annotations

from rest_framework import serializers

from hub.vendors.native.fields import MAX_AMOUNT_FEN

CODE_PATTERN = r"^[A-Za-z0-9_\-]+$"
VOUCHER_HELP = ("The voucher: a display code the member shows (18 digits starting 97, one use, about a minute), "
                "the voucher_ref this merchant was given (V + 26 characters), or an online coupon's voucher code.")


def _code(help_text: str, *, max_length: int = 64, required: bool = True):
    return serializers.RegexField(CODE_PATTERN, max_length=max_length, required=required, help_text=help_text)


def _fen(help_text: str, *, required: bool = True):
    return serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_FEN, required=required, help_text=help_text)


class _Site(serializers.Serializer):
    store_code = _code("Store code (of this merchant).", max_length=32)
    terminal_code = _code("Terminal code (of that store).", max_length=32)
    operator = serializers.CharField(max_length=32, required=False, help_text="Operator, for the record only.")


class _OptionalSite(serializers.Serializer):
    store_code = _code("Store code; when given it must be this merchant's.", max_length=32, required=False)
    terminal_code = _code("Terminal code; needs store_code.", max_length=32, required=False)
    operator = serializers.CharField(max_length=32, required=False, help_text="Operator, for the record only.")


class VoucherQueryRequest(_Site):
    voucher = serializers.CharField(max_length=64, help_text=VOUCHER_HELP)


class VoucherRedeemRequest(_Site):
    request_no = _code("This use's request number (unique per merchant).")
    voucher = serializers.CharField(max_length=64, help_text=VOUCHER_HELP)
    order_no = serializers.CharField(max_length=64, required=False, help_text="The platform's order number.")
    amount_fen = _fen("The order amount in fen (for a threshold and partial returns); 0 if none.", required=False)
    discount_fen = _fen("The discount the voucher gave, in fen (not above what the right allows).", required=False)


class VoucherReturnRequest(_OptionalSite):
    request_no = _code("The return's own request number (unique per merchant).")
    original_request_no = _code("Request number of the use being returned.")
    amount_fen = _fen("The part of the order amount returned; absent for a use without an amount (whole).",
                      required=False)


class VoucherQueryData(serializers.Serializer):
    voucher_ref = serializers.CharField(help_text="The voucher's reference at this merchant (use it in later calls).")
    right_code = serializers.CharField()
    right_name = serializers.CharField()
    kind = serializers.CharField(help_text="amount_off, percent_off, scenic_ticket, gift, online_coupon.")
    state = serializers.ChoiceField(choices=["pending", "available", "reserved", "used", "expired", "deactivated"])
    usable = serializers.BooleanField(help_text="Whether it can be written off here now.")
    valid_from = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="First instant it is no longer valid.")
    valid_until = serializers.DateField(help_text="Last valid day (Asia/Shanghai).")
    discount_bp = serializers.IntegerField(required=False, help_text="Rate in basis points (9500 = 95 折).")
    discount_fen = serializers.IntegerField(required=False, help_text="Fixed discount in fen.")
    threshold_fen = serializers.IntegerField(required=False)
    cap_fen = serializers.IntegerField(required=False)
    people = serializers.IntegerField(required=False, help_text="Scenic ticket: people admitted.")
    used_at = serializers.DateTimeField(required=False)


class VoucherRedeemData(serializers.Serializer):
    request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["SUCCESS"])
    voucher_ref = serializers.CharField()
    right_code = serializers.CharField()
    right_name = serializers.CharField()
    discount_fen = serializers.IntegerField()
    order_no = serializers.CharField(required=False)
    people = serializers.IntegerField(required=False)


class VoucherReverseData(serializers.Serializer):
    request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["REVERSED"])
    action = serializers.ChoiceField(choices=["reverse", "tombstone"])


class VoucherReturnData(serializers.Serializer):
    request_no = serializers.CharField()
    original_request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["REFUNDED"])
    amount_fen = serializers.IntegerField()
    voucher_returned = serializers.BooleanField(help_text="A full return gave the voucher back (return_on_refund).")


SUMMARIES = {
    "voucher_query": ("Query a voucher", "What a voucher is, its state and validity, and whether it can be used here "
                      "now; nothing of the member. A display code is looked at, not used up."),
    "voucher_redeem": ("Write off a voucher", "Use a voucher without a points sale (a gift, a ticket at a counter) or "
                       "report a use on an online platform, with its order number and amount. Idempotent by "
                       "request_no; VOUCHER_USED, VOUCHER_EXPIRED, RIGHT_NOT_APPLICABLE, QUOTA_EXHAUSTED refuse."),
    "voucher_reverse": ("Reverse a voucher use", "Undo use `request_no` when its outcome is unknown; always accepted, "
                        "an unseen number leaves a tombstone (the late original is refused ORDER_REVERSED)."),
    "voucher_return": ("Return a voucher use", "The order of a use was refunded, in full or in part: the funding goes "
                       "down in proportion; a full return gives the voucher back when the right says so."),
}
REQUEST = {"voucher_query": VoucherQueryRequest, "voucher_redeem": VoucherRedeemRequest,
           "voucher_reverse": _OptionalSite, "voucher_return": VoucherReturnRequest}
DATA = {"voucher_query": VoucherQueryData, "voucher_redeem": VoucherRedeemData,
        "voucher_reverse": VoucherReverseData, "voucher_return": VoucherReturnData}

SITE = {"store_code": "S001", "terminal_code": "P03"}
REF = "V0K3W8Q2M4R6T9X1Z5B7D9F2H4J"
EXAMPLE_REQUESTS = {
    "voucher_query": {**SITE, "voucher": "970123456789012345"},
    "voucher_redeem": {**SITE, "request_no": "ONL20261125000001", "voucher": REF, "order_no": "PO8812345",
                       "amount_fen": 8800, "discount_fen": 500},
    "voucher_reverse": {},
    "voucher_return": {"request_no": "ONLR20261125000001", "original_request_no": "ONL20261125000001",
                       "amount_fen": 4400},
}
EXAMPLE_DATA = {
    "voucher_query": {"voucher_ref": REF, "right_code": "SBX_ONLINE", "right_name": "线上商城 5 元券",
                      "kind": "online_coupon", "state": "available", "usable": True,
                      "valid_from": "2026-11-20T10:00:00+08:00", "expires_at": "2026-12-20T00:00:00+08:00",
                      "valid_until": "2026-12-19", "discount_bp": None, "discount_fen": 500, "threshold_fen": None,
                      "cap_fen": None, "people": None, "used_at": None},
    "voucher_redeem": {"request_no": "ONL20261125000001", "status": "SUCCESS", "voucher_ref": REF,
                       "right_code": "SBX_ONLINE", "right_name": "线上商城 5 元券", "discount_fen": 500,
                       "order_no": "PO8812345", "people": None},
    "voucher_reverse": {"request_no": "ONL20261125000001", "status": "REVERSED", "action": "reverse"},
    "voucher_return": {"request_no": "ONLR20261125000001", "original_request_no": "ONL20261125000001",
                       "status": "REFUNDED", "amount_fen": 4400, "voucher_returned": False},
}
