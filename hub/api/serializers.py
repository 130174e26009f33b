"""The native till API's bodies, described for the OpenAPI schema (drf-spectacular).

These serializers document; they do not validate. Requests are parsed by the native adapter
(``hub.vendors.native``), whose rules are stricter than DRF's (no numeric strings, no floats, no
unknown fields); tests keep the two field lists equal.
"""

from __future__ import annotations

from rest_framework import serializers

from hub.api import vouchers as voucher_docs
from hub.errors import CODES
from hub.vendors.native.batch import ITEM_OPS, MAX_ITEMS
from hub.vendors.native.fields import MAX_AMOUNT_FEN, MAX_POINTS

CODE_PATTERN = r"^[A-Za-z0-9_\-]+$"
# Choice sets, named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
SUCCESS_CODE = ["SUCCESS"]
ERROR_CODES = list(CODES)
RESULT_CODES = [*SUCCESS_CODE, *ERROR_CODES]


def _code(help_text: str, *, max_length: int = 64, required: bool = True):
    return serializers.RegexField(CODE_PATTERN, max_length=max_length, required=required, help_text=help_text)


def _fen(help_text: str, *, required: bool = True):
    return serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_FEN, required=required, help_text=help_text)


def _points(help_text: str, *, minimum: int = 0, required: bool = True):
    return serializers.IntegerField(min_value=minimum, max_value=MAX_POINTS, required=required, help_text=help_text)


MEMBER_HELP = ("The member: the member_ref from identify, a dynamic member code (18 digits starting 96, one use), "
               "an 11-digit mobile (where the merchant's agreement allows it) or the merchant's own card number.")


class SiteRequest(serializers.Serializer):
    store_code = _code("Store code (of this merchant).", max_length=32)
    terminal_code = _code("Till code (of that store).", max_length=32)
    operator = serializers.CharField(max_length=32, required=False, help_text="Cashier number, for the record only.")


class OptionalSiteRequest(serializers.Serializer):
    store_code = _code("Store code; when given it must be this merchant's.", max_length=32, required=False)
    terminal_code = _code("Till code; needs store_code.", max_length=32, required=False)
    operator = serializers.CharField(max_length=32, required=False, help_text="Cashier number, for the record only.")


class IdentifyRequest(SiteRequest):
    member = serializers.CharField(max_length=64, help_text=MEMBER_HELP)


class EarnRequest(SiteRequest):
    request_no = _code("This sale's request number (unique per merchant).")
    member = serializers.CharField(max_length=64, help_text=MEMBER_HELP)
    amount_fen = _fen("Amount paid other than with points, in fen.")
    business_time = serializers.DateTimeField(required=False, help_text="When the sale happened, RFC 3339 with offset; defaults to receipt time.")


class SpendRequest(SiteRequest):
    request_no = _code("This payment's request number (unique per merchant).")
    member = serializers.CharField(max_length=64, help_text=MEMBER_HELP)
    points = _points("Points to spend.", minimum=1)
    amount_fen = _fen("The value in fen the till expects for these points; refused if it differs from the hub's.", required=False)
    sale_amount_fen = _fen("The whole sale in fen, for agreements that cap points as a share of the sale.", required=False)


class RefundRequest(OptionalSiteRequest):
    request_no = _code("The refund's own request number (unique per merchant).")
    original_request_no = _code("Request number of the sale (earn or redeem) being refunded.")
    amount_fen = _fen("Refund amount in fen.")
    points = _points("Spent points to give back; by default in proportion to the amount.", required=False)


class TotalsRequest(serializers.Serializer):
    earn_count = _points("Number of earns.")
    earn_points = _points("Points earned.")
    redeem_count = _points("Number of redemptions.")
    redeem_points = _points("Points redeemed.")
    refund_count = _points("Number of refunds.")
    refund_points = _points("Points moved by refunds.")


class DayEndRequest(SiteRequest):
    biz_date = serializers.DateField(help_text="Business day, yyyy-MM-dd.")
    totals = TotalsRequest(help_text="The till's own totals for that day.")


class BatchItemRequest(serializers.Serializer):
    op = serializers.ChoiceField(choices=ITEM_OPS, help_text="earn, refund or reverse.")
    request_no = _code("The record's request number; for reverse, the number of the request to undo.")
    member = serializers.CharField(max_length=64, required=False, help_text="earn: required. " + MEMBER_HELP)
    amount_fen = _fen("earn, refund: required. Amount in fen.", required=False)
    original_request_no = _code("refund: required. The sale being refunded.", required=False)
    points = _points("refund: optional. Spent points to give back.", required=False)
    business_time = serializers.DateTimeField(help_text="When the till did it, RFC 3339 with offset. Earn points are computed and dated at this time.")


class BatchRequest(SiteRequest):
    items = BatchItemRequest(many=True, min_length=1, max_length=MAX_ITEMS,
                             help_text=f"The records queued while offline, oldest first; 1 to {MAX_ITEMS}.")


# ---- data of successful answers (the canonical result fields, hub.gateway.canonical) -----------

class RightData(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    discount_rate = serializers.CharField(help_text='Discount rate as a string, e.g. "0.95".')


class IdentifyData(serializers.Serializer):
    member_ref = serializers.CharField(help_text="Opaque member id, scoped to this merchant; use it in later calls.")
    name_masked = serializers.CharField(help_text="Masked name, e.g. *明.")
    mobile_masked = serializers.CharField(help_text="Masked mobile, e.g. 138****1234.")
    tier = serializers.CharField(help_text="Tier name.")
    points = serializers.IntegerField(help_text="Available points.")
    points_value_fen = serializers.IntegerField(help_text="Their value in fen.")
    point_value_fen_per_100 = serializers.IntegerField(help_text="Fen per 100 points.")
    pending_points = serializers.IntegerField(help_text="Points not yet available.")
    frozen_points = serializers.IntegerField(help_text="Points held by open freezes.")
    redeemable_points = serializers.IntegerField(help_text="Points usable now under the merchant's agreement.")
    rights = RightData(many=True, help_text="Member rights.")


class EarnData(serializers.Serializer):
    request_no = serializers.CharField()
    points_earned = serializers.IntegerField(help_text="Points earned by this sale.")
    points_balance = serializers.IntegerField(help_text="Available points afterwards.")


class RedeemData(serializers.Serializer):
    request_no = serializers.CharField()
    points = serializers.IntegerField(help_text="Points spent.")
    amount_fen = serializers.IntegerField(help_text="Their value in fen.")
    points_balance = serializers.IntegerField(help_text="Available points afterwards.")


class FreezeData(serializers.Serializer):
    request_no = serializers.CharField()
    points = serializers.IntegerField(help_text="Points held.")
    amount_fen = serializers.IntegerField(help_text="Their value in fen.")
    expires_at = serializers.DateTimeField(help_text="When the hold lapses if not confirmed.")
    points_balance = serializers.IntegerField(help_text="Available points afterwards.")


class UnfreezeData(serializers.Serializer):
    request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["UNFROZEN"])
    points_balance = serializers.IntegerField()


class RefundData(serializers.Serializer):
    refund_no = serializers.CharField(help_text="The refund's request number.")
    request_no = serializers.CharField(help_text="The refunded sale's request number.")
    points_clawed_back = serializers.IntegerField(help_text="Earned points taken back.")
    points_returned = serializers.IntegerField(help_text="Spent points given back.")
    amount_fen = serializers.IntegerField(help_text="Refund amount in fen.")
    points_balance = serializers.IntegerField()


class ReverseData(serializers.Serializer):
    request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["REVERSED"])
    action = serializers.ChoiceField(choices=["reverse", "tombstone"],
                                     help_text="reverse: the request was undone; tombstone: it was never seen and will be refused (ORDER_REVERSED) if it arrives.")


class QueryRefundData(serializers.Serializer):
    refund_no = serializers.CharField()
    amount_fen = serializers.IntegerField()
    points_clawed_back = serializers.IntegerField()
    points_returned = serializers.IntegerField()
    status = serializers.CharField()


class QueryData(serializers.Serializer):
    request_no = serializers.CharField()
    type = serializers.CharField(help_text="earn, redeem, freeze, refund; unknown for a reverse whose original never arrived.")
    status = serializers.ChoiceField(choices=["SUCCESS", "FROZEN", "UNFROZEN", "REVERSED", "REFUNDED",
                                              "PART_REFUNDED"])
    points = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    refunds = QueryRefundData(many=True)


class DifferenceData(serializers.Serializer):
    request_no = serializers.CharField()
    field = serializers.CharField(help_text="The total that differs, e.g. earn_points.")
    till = serializers.IntegerField(help_text="The till's value.")
    hub = serializers.IntegerField(help_text="The hub's value.")


class DayEndData(serializers.Serializer):
    matched = serializers.BooleanField()
    differences = DifferenceData(many=True)


class BatchItemResult(serializers.Serializer):
    request_no = serializers.CharField()
    code = serializers.ChoiceField(choices=RESULT_CODES, help_text="This item's result code.")
    message = serializers.CharField()
    data = serializers.DictField(help_text="On success, the data of a single earn/refund/reverse; otherwise details of the refusal (usually {}).")


class BatchData(serializers.Serializer):
    items = BatchItemResult(many=True, help_text="One result per item, in the order of the request.")


DATA = {"identify": IdentifyData, "earn": EarnData, "redeem": RedeemData, "freeze": FreezeData,
        "confirm": RedeemData, "unfreeze": UnfreezeData, "refund": RefundData, "reverse": ReverseData,
        "query": QueryData, "day_end": DayEndData, "batch": BatchData}
REQUEST = {"identify": IdentifyRequest, "earn": EarnRequest, "redeem": SpendRequest, "freeze": SpendRequest,
           "confirm": OptionalSiteRequest, "unfreeze": OptionalSiteRequest, "refund": RefundRequest,
           "reverse": OptionalSiteRequest, "query": None, "day_end": DayEndRequest, "batch": BatchRequest}
DATA.update(voucher_docs.DATA)  # the voucher endpoints (hub.api.vouchers)
REQUEST.update(voucher_docs.REQUEST)


def _envelope(op: str) -> type[serializers.Serializer]:
    name = "".join(part.capitalize() for part in op.split("_")) + "Response"
    return type(name, (serializers.Serializer,), {
        "code": serializers.ChoiceField(choices=SUCCESS_CODE),
        "message": serializers.CharField(help_text="成功 (success)."),
        "data": DATA[op](),
        "__doc__": f"The answer to a successful {op}.",
    })


RESPONSE = {op: _envelope(op) for op in DATA}


class ErrorResponse(serializers.Serializer):
    """Any refusal: the canonical code, a Chinese message for the cashier, details if any."""

    code = serializers.ChoiceField(choices=ERROR_CODES)
    message = serializers.CharField(help_text="Chinese text the till can show the cashier.")
    data = serializers.DictField(help_text="Details, usually {}.")
