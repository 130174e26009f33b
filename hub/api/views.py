"""One DRF view per native endpoint, for the OpenAPI schema; the gateway answers every call.

Each view's handler hands the Django request to the gateway view bound to the native adapter
(``hub.gateway.service.handle``), so authentication, nonces, recording and dispatch are the
gateway's and there is one code path. DRF adds nothing to the request: no authentication,
permission, throttle or content negotiation of its own; a method the endpoint does not take is
also passed to the gateway, whose adapter refuses it (PARAM_ERROR) and records the call.
"""

from __future__ import annotations

from functools import cache

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from hub.api import examples, serializers
from hub.api.vouchers import SUMMARIES as VOUCHER_SUMMARIES
from hub.errors import CODES
from hub.vendors.native.batch import MAX_ITEMS
from hub.vendors.native.endpoints import ENDPOINTS, PATH_OPS

SUMMARIES = {
    "identify": ("Identify a member", "Identify the member behind a scanned or typed credential. Answers the "
                 "member_ref to name the member in later calls, masked name and mobile, tier and balances; never "
                 "a full mobile, ID number or postal member number."),
    "earn": ("Earn points for a sale", "Award points for the amount paid other than with points."),
    "redeem": ("Pay with points", "Spend points as payment in one step. A mobile alone cannot spend points "
               "unless the merchant's agreement allows it (NO_AUTH): use a dynamic member code or a member_ref "
               "obtained from one."),
    "freeze": ("Hold points for a payment", "Two-phase payment, step one: hold points until `expires_at`. "
               "Confirm or unfreeze the hold by its request number; an unconfirmed hold lapses by itself."),
    "confirm": ("Confirm a hold", "Two-phase payment, step two: turn the hold `request_no` into a payment. "
                "FREEZE_EXPIRED once the hold has lapsed."),
    "unfreeze": ("Release a hold", "Give the points held by `request_no` back to the member."),
    "refund": ("Refund a sale", "Refund all or part of an earlier earn or payment, under the refund's own "
               "request number: earned points are taken back and spent points given back in proportion; the "
               "last partial refund settles rounding. REFUND_EXCEEDS_ORIGINAL beyond the original."),
    "reverse": ("Reverse a request", "Undo request `request_no` when its outcome is unknown (timeout, no "
                "answer). Always accepted: a request the hub has not seen is recorded as reversed and refused "
                "(ORDER_REVERSED) if it arrives later. Allowed until the end of the next business day; after "
                "that, refund."),
    "query": ("Query a request", "The state of request `request_no`, with its refunds."),
    "day_end": ("Day-end reconciliation", "Compare the till's totals for a business day with the hub's; "
                "`matched` false lists the differences. Sending the same totals again is harmless."),
    "batch": ("Batch upload (store-and-forward)", f"Up to {MAX_ITEMS} earn/refund/reverse records a till queued "
              "while offline, oldest first, each with its own request number and original business time "
              "(body up to 512 KiB). Each item runs exactly as the single call would and is idempotent by its "
              "request number, so resending the batch (after a timeout, say) returns the same per-item results "
              "without doing anything twice. The call answers SUCCESS with one result per item, in order; an "
              "item's refusal, a bad field included (PARAM_ERROR naming `items[i].field`), is that item's "
              "`code` and does not stop the others. The batch itself is refused only for what concerns it as "
              "a whole: signature, store, a bad top-level field, no items or more than the limit."),
}
SUMMARIES.update(VOUCHER_SUMMARIES)  # the voucher endpoints (hub.api.vouchers)

SIGNATURE_HEADERS = [
    OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, response=True, description=text)
    for name, text in (
        ("Hub-Timestamp", "Unix seconds when the hub signed the answer."),
        ("Hub-Nonce", "Random string of the answer's signature."),
        ("Hub-Signature", "Base64(HMAC-SHA256(secret, Hub-Timestamp + \"\\n\" + Hub-Nonce + \"\\n\" + BODY + "
                          "\"\\n\")). Absent when the request could not be authenticated. Treat an unsigned or "
                          "wrongly signed 200 as no answer: query or reverse."),
    )
]
REQUEST_NO = OpenApiParameter("request_no", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=serializers.CODE_PATTERN,
                              description="Request number of the earlier request this call acts on (1–64 of "
                                          "A–Z a–z 0–9 _ -).")


def _responses(op: str) -> dict:
    by_status: dict[int, list[str]] = {}
    for code, (status, message) in CODES.items():
        by_status.setdefault(status, []).append(f"`{code}` {message}")
    responses = {200: OpenApiResponse(serializers.RESPONSE[op], description="成功 (success)")}
    for status, codes in sorted(by_status.items()):
        responses[status] = OpenApiResponse(serializers.ErrorResponse, description="; ".join(codes))
    return responses


class FirstRenderer(BaseContentNegotiation):
    """The gateway answers JSON whatever the Accept header says; never a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TillEndpointView(APIView):
    gateway = None  # the gateway view bound to the native adapter, given to as_view()
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    renderer_classes = (JSONRenderer,)
    parser_classes = (JSONParser,)  # never run: the adapter reads the body; this documents it
    content_negotiation_class = FirstRenderer

    def answer(self, request, *args, **kwargs):
        return self.gateway(request._request, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        return self.answer(request, *args, **kwargs)


@cache
def endpoint_view(op: str) -> type[TillEndpointView]:
    """The documented view class of endpoint ``op`` (one class per endpoint, made once)."""
    endpoint = ENDPOINTS[op]
    method = endpoint.method.lower()
    summary, description = SUMMARIES[op]

    def handler(self, request, *args, **kwargs):
        return self.answer(request, *args, **kwargs)

    handler.__name__ = method
    documented = extend_schema(
        operation_id=f"till_{op}", summary=summary, description=description, tags=["till"], auth=[{"HubHmac": []}],
        request=serializers.REQUEST[op], responses=_responses(op), examples=examples.examples(op),
        parameters=[*SIGNATURE_HEADERS, *([REQUEST_NO] if op in PATH_OPS else [])],
    )(handler)
    name = "".join(part.capitalize() for part in op.split("_")) + "TillView"
    return type(name, (TillEndpointView,), {"http_method_names": [method], method: documented,
                                            "__doc__": summary, "__module__": __name__})
