"""The ``/api/mp/v1/`` views: thin. Each one authenticates (``sessions``), rate-limits where the
contract says (``ratelimit``), reads the body, calls one selector or service and answers the
envelope. The member is always the token's; no view takes a member id from the client."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from hub.api.views import FirstRenderer
from hub.errors import CODES, ParamError, RightNotApplicable, VoucherExpired, VoucherUsed, to_domain_error
from members import codes
from members.miniprogram import qr, ratelimit, selectors, services, sessions
from members.miniprogram.schema import doc, path_id, query
from members.models import Consent
from rights import vouchers
from rights.models import Voucher

MAX_ID = 2**63 - 1


def consent_text() -> str:
    return settings.MINIPROGRAM_CONSENT_TEXT


def _id(value) -> int | None:
    return value if isinstance(value, int) and 0 < value <= MAX_ID else None


def error_body(error) -> tuple[dict, int]:
    return {"code": error.code, "message": error.message, "data": error.detail or {}}, error.http_status


class MpView(APIView):
    public = False  # True: no token needed
    bound = True  # the session must name a member (MEMBER_NOT_BOUND before auth/phone)
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    renderer_classes = (JSONRenderer,)
    parser_classes = (JSONParser,)
    content_negotiation_class = FirstRenderer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.auth = None
        self.member = None
        if not self.public:
            self.auth = sessions.authenticate(request.META.get("HTTP_AUTHORIZATION"))
            if self.bound:
                self.member = self.auth.require_member()

    def handle_exception(self, exc):
        error = to_domain_error(exc)
        set_rollback()
        body, status = error_body(error)
        response = Response(body, status=status)
        if error.code == "RATE_LIMITED":
            response["Retry-After"] = str(ratelimit.WINDOW)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="mp"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    def body(self) -> dict:
        data = self.request.data
        if not isinstance(data, dict):
            raise ParamError("请求体须为 JSON 对象")
        return data

    @staticmethod
    def ok(data: dict) -> Response:
        return Response({"code": "SUCCESS", "message": "成功", "data": data})


def text(data: dict, name: str, *, required: bool = True, max_length: int = 128) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length or not value.isprintable():
        raise ParamError(f"{name} 须为不超过 {max_length} 个字符的可见字符串")
    return value


def flag(data: dict, name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise ParamError(f"{name} 须为 true 或 false")
    return value


# ---- sign-in ------------------------------------------------------------------------------------

class Login(MpView):
    public = True

    @doc("login", "login", summary="Sign in with WeChat", request="login", public=True, tag="auth",
         description="Exchange the `js_code` of `wx.login()` for the hub's session token (shown once). "
                     "`need_phone` true: bind a phone next (`auth/phone`).",
         request_example={"js_code": "test:alice"},
         example={"token": "lbq_…", "expires_at": "2027-01-01T10:00:00+08:00", "bound": True, "need_phone": False,
                  "member": {"name_masked": "*明", "mobile_masked": "138****0001", "tier": "普卡"}})
    def post(self, request):
        ratelimit.check("login", request=request)
        token, session = sessions.login(js_code=text(self.body(), "js_code"))
        auth = sessions.Auth(session, session.identity)
        member = auth.member
        data = {"token": token, "expires_at": selectors.at(session.expires_at), "bound": member is not None,
                "need_phone": member is None}
        if member is not None:
            data["member"] = selectors.member_brief(member)
        return self.ok(data)


class Phone(MpView):
    bound = False

    @doc("phone", "phone", summary="Bind a phone", request="phone", tag="auth",
         description="Bind the signed-in WeChat user to the postal member with the mobile WeChat shares "
                     "(`getPhoneNumber` code), recording the consent version the member agreed to. "
                     "`PHONE_NOT_MEMBER` carries `data.join_text` (how to become a postal member).",
         request_example={"phone_code": "phone:13800000001", "consent_version": "v1"},
         example={"bound": True, "member": {"name_masked": "*明", "mobile_masked": "138****0001", "tier": "普卡"}})
    def post(self, request):
        data = self.body()
        phone_code, version = text(data, "phone_code"), text(data, "consent_version", max_length=16)
        ratelimit.check("phone", request=request, session=self.auth.session)
        member = sessions.bind_phone(auth=self.auth, phone_code=phone_code, version=version)
        return self.ok({"bound": True, "member": selectors.member_brief(member)})


class Logout(MpView):
    bound = False

    @doc("logout", "empty", summary="Log out", request="empty", tag="auth", example={},
         description="Revoke this session's token.")
    def post(self, request):
        sessions.revoke(session=self.auth.session)
        return self.ok({})


class LogoutAll(MpView):
    bound = False

    @doc("logout_all", "empty", summary="Log out everywhere", request="empty", tag="auth", example={},
         description="Revoke every session of the member (of this WeChat user when no phone is bound).")
    def post(self, request):
        sessions.revoke_all(identity=self.auth.identity)
        return self.ok({})


class ConsentText(MpView):
    public = True

    @doc("consent", "consent", summary="Current consent text", public=True, tag="auth",
         example={"version": "v1", "text": "……"})
    def get(self, request):
        return self.ok({"version": sessions.consent_version(), "text": consent_text()})


# ---- me -----------------------------------------------------------------------------------------

class Me(MpView):
    @doc("me", "me", summary="The member", description="Masked name and mobile, tier, tier benefits, consents.")
    def get(self, request):
        return self.ok(selectors.me(self.member, self.auth.identity))


class Consents(MpView):
    @doc("consents_list", "consents", summary="Consents given")
    def get(self, request):
        return self.ok({"items": selectors.consents(self.member)})

    @doc("consents_set", "consents", summary="Grant or withdraw a consent", request="consents",
         description="With `merchant_code`: data sharing with that merchant (`recognition`: member recognition "
                     "and points; `marketing`); withdrawing recognition also ends the link with that merchant. "
                     "Without it: the hub's own consent text (`version` of `GET consent`).",
         request_example={"merchant_code": "DEMO_FOOD", "scope": "marketing", "granted": True, "version": "v1",
                          "request_no": "C1"})
    def post(self, request):
        data = self.body()
        merchant_code = text(data, "merchant_code", required=False, max_length=32)
        scope = data.get("scope")
        if scope not in Consent.Scope.values:
            raise ParamError("scope 须为 recognition 或 marketing")
        granted, version = flag(data, "granted"), text(data, "version", max_length=16)
        if granted and version != sessions.consent_version():
            raise ParamError(f"version 须为当前授权协议版本 {sessions.consent_version()}")
        member, identity = self.member, self.auth.identity

        def do():
            services.set_consent(member=member, identity=identity, merchant_code=merchant_code, scope=scope,
                                 granted=granted, version=version)
            return {"items": selectors.consents(member)}

        return self.ok(services.once(member=member, request_no=data.get("request_no"), op="consent", do=do,
                                     content={"merchant": merchant_code, "scope": scope, "granted": granted,
                                              "version": version}))


class Memberships(MpView):
    @doc("memberships_list", "memberships", summary="Linked store memberships")
    def get(self, request):
        return self.ok({"items": selectors.memberships(self.member)})

    @doc("memberships_link", "link", summary="Link a store membership", request="link",
         description="`proof` `mobile_match`: the card number is the member's own bound mobile (most cashier "
                     "software numbers cards so). Records the recognition consent to that merchant.",
         request_example={"merchant_code": "SBX_KM", "card_no": "13800000001", "proof": "mobile_match",
                          "request_no": "L1"})
    def post(self, request):
        data = self.body()
        merchant_code, card_no = text(data, "merchant_code", max_length=32), text(data, "card_no", max_length=64)
        proof = text(data, "proof", max_length=32)
        member = self.member
        version = self.auth.identity.consent_version

        def do():
            link = services.link_membership(member=member, merchant_code=merchant_code, card_no=card_no, proof=proof,
                                            version=version)
            return selectors.link_item(link)

        return self.ok(services.once(member=member, request_no=data.get("request_no"), op="link", do=do,
                                     content={"merchant": merchant_code, "card": card_no, "proof": proof}))


class Membership(MpView):
    @doc("memberships_unlink", "empty", summary="Unlink a store membership", parameters=[path_id()], example={},
         description="The link ends; its record is kept (history).")
    def delete(self, request, id):
        services.unlink_membership(member=self.member, link_id=_id(id))
        return self.ok({})


class Balances(MpView):
    @doc("balances", "balances", summary="Balances with expiring points")
    def get(self, request):
        return self.ok({"items": selectors.balances(self.member)})


class Transactions(MpView):
    @doc("transactions", "transactions", summary="Points history",
         description="Newest first, keyset pages. `points` is the change of available + pending points.",
         parameters=[query("cursor", "next_cursor of the previous page"),
                     query("limit", "1–50 (20)", schema_type=int),
                     query("type", "only this type", enum=["earn", "redeem", "refund", "reverse", "expire", "convert",
                                                          "claim", "grant"]),
                     query("from", "from this time (RFC 3339 or date, +08:00 if none)"),
                     query("to", "before this time")])
    def get(self, request):
        q = request.query_params
        return self.ok(selectors.transactions(self.member, cursor=q.get("cursor"), limit=q.get("limit"),
                                              type=q.get("type"), since=q.get("from"), until=q.get("to")))


class MemberCode(MpView):
    @doc("member_code", "member_code", summary="Show the member code", request="empty",
         description="A fresh dynamic member code (18 digits, `96…`, one use, 60 s) with its QR image (PNG).")
    def post(self, request):
        ratelimit.check("member_code", request=request, session=self.auth.session)
        code, expires_at = codes.issue_member_code(member=self.member)
        row = codes.issued_code(code)
        return self.ok({"code_id": row.pk, "code": code, "expires_at": selectors.at(expires_at),
                        "qr_png_base64": qr.qr_png_base64(code)})


class MemberCodeStatus(MpView):
    @doc("member_code_status", "member_code_status", summary="Member code status", parameters=[path_id("code_id")],
         description="Whether a code shown was used, when and where (the page shows “已在某店使用”).",
         example={"used": True, "expired": False, "expires_at": "2026-12-02T10:01:00+08:00",
                  "used_at": "2026-12-02T10:00:21+08:00", "merchant_name": "科脉沙箱超市"})
    def get(self, request, code_id):
        return self.ok(selectors.member_code_status(self.member, _id(code_id)))


# ---- rights and vouchers ------------------------------------------------------------------------

class Rights(MpView):
    @doc("rights", "rights", summary="Rights catalogue", tag="rights",
         description="Active rights with the member's eligibility, stock and how many the member may still claim.",
         parameters=[query("scene", "supermarket, market, campus, restaurant, medical, other"),
                     query("kind", "amount_off, percent_off, scenic_ticket, gift, online_coupon"),
                     query("cursor", "next_cursor of the previous page"),
                     query("limit", "1–50 (20)", schema_type=int)])
    def get(self, request):
        q = request.query_params
        return self.ok(selectors.rights(self.member, scene=q.get("scene"), kind=q.get("kind"),
                                        cursor=q.get("cursor"), limit=q.get("limit")))


class RightDetail(MpView):
    @doc("right", "right", summary="A right", tag="rights", parameters=[path_id()],
         description="The right with its rules text, stores, stacking and funding text.")
    def get(self, request, id):
        return self.ok(selectors.right_detail(selectors.right_for(_id(id)), self.member))


class Claim(MpView):
    @doc("claim", "claim", summary="Claim a right", tag="rights", request="claim", parameters=[path_id()],
         request_example={"request_no": "R1"})
    def post(self, request, id):
        data = self.body()
        right = selectors.right_for(_id(id))
        ratelimit.check("claim", request=request, session=self.auth.session)
        member = self.member

        def do():
            voucher = services.claim_right(member=member, right=right, request_no=data.get("request_no"))
            return {"voucher": selectors.voucher_item(Voucher.objects.select_related("right").get(pk=voucher.pk))}

        return self.ok(services.once(member=member, request_no=data.get("request_no"), op="claim", do=do,
                                     content={"right": right.pk}))


class Vouchers(MpView):
    @doc("vouchers", "vouchers", summary="The member's vouchers", tag="rights",
         parameters=[query("state", "available, used or expired", enum=["available", "used", "expired"]),
                     query("cursor", "next_cursor of the previous page"),
                     query("limit", "1–50 (20)", schema_type=int)])
    def get(self, request):
        q = request.query_params
        return self.ok(selectors.member_vouchers(self.member, state=q.get("state"), cursor=q.get("cursor"),
                                                 limit=q.get("limit")))


def offline_ticket(voucher) -> str | None:
    """The gate's offline ticket (``LBQ2.…``) of a scenic ticket voucher, from ``rights.tickets``
    when that module exists; None otherwise (the gate then scans the display code online)."""
    try:
        from rights import tickets  # noqa: PLC0415 - built by the gate integration
    except ImportError:
        return None
    return tickets.issue_offline_ticket(voucher=voucher)


class Display(MpView):
    @doc("display", "display", summary="Show a voucher", tag="rights", request="display", parameters=[path_id()],
         description="A fresh display code (`97…`, one use, 60 s) with its QR image; `offline_ticket` (`LBQ2.…`) "
                     "for a scenic ticket when the hub issues offline tickets. Asking for one "
                     "(`offline_ticket: true`) where none can be issued is `RIGHT_NOT_APPLICABLE`.")
    def post(self, request, id):
        data = self.body()
        want_ticket = data.get("offline_ticket", False)
        if not isinstance(want_ticket, bool):
            raise ParamError("offline_ticket 须为 true 或 false")
        voucher = selectors.voucher_for(self.member, _id(id))
        state = selectors.voucher_state(voucher, timezone.now())
        if state == "used":
            raise VoucherUsed()
        if state == "expired":
            raise VoucherExpired()
        ratelimit.check("display", request=request, session=self.auth.session)
        code, expires_at = vouchers.issue_display_code(voucher=voucher)
        answer = {"code": code, "expires_at": selectors.at(expires_at), "qr_png_base64": qr.qr_png_base64(code)}
        ticket = offline_ticket(voucher) if voucher.right.kind == voucher.right.Kind.SCENIC_TICKET else None
        if ticket:
            answer["offline_ticket"] = ticket
        elif want_ticket:
            raise RightNotApplicable("该凭证暂不支持离线票，请在闸机扫描展示码")
        return self.ok(answer)


# ---- conversion, export, close ------------------------------------------------------------------

class Quote(MpView):
    @doc("conversion_quote", "quote", summary="Quote a conversion", request="quote",
         request_example={"from_program": "POSTAL", "to_program": "GWPOINTS", "points": 1000},
         description="What `points` of one program give in another at today's rate; the quote holds 5 minutes.")
    def post(self, request):
        data = self.body()
        return self.ok(services.quote_conversion(
            member=self.member, from_code=text(data, "from_program", max_length=32),
            to_code=text(data, "to_program", max_length=32), points=data.get("points")))


class Convert(MpView):
    @doc("conversion", "convert", summary="Convert as quoted", request="convert",
         request_example={"quote_id": "Q0123456789abcdef01234567", "request_no": "CV1"})
    def post(self, request):
        data = self.body()
        quote_id = text(data, "quote_id", max_length=64)
        member = self.member

        def do():
            result = services.convert(member=member, quote_id=quote_id, request_no=data.get("request_no"))
            return result

        return self.ok(services.once(member=member, request_no=data.get("request_no"), op="convert", do=do,
                                     content={"quote": quote_id}))


class Export(MpView):
    @doc("export", "export", summary="Export my data (PIPL)",
         description="Everything the hub holds about the member, unmasked: the one answer with the member's own "
                     "full mobile and ID number.")
    def get(self, request):
        return self.ok(selectors.export(self.member))


class Close(MpView):
    @doc("close", "empty", summary="Close my account", request="close", example={},
         request_example={"request_no": "X1", "confirm": True},
         description="Sessions revoked, links ended and consents withdrawn (their records kept), the member "
                     "closed; the ledger keeps its rows.")
    def post(self, request):
        data = self.body()
        if data.get("confirm") is not True:
            raise ParamError("请确认注销（confirm: true）")
        member = self.member

        def do():
            services.close_account(member=member)
            return {}

        return self.ok(services.once(member=member, request_no=data.get("request_no"), op="close", do=do,
                                     content={}))


@csrf_exempt  # a bearer-token API: no cookies, so no CSRF; a POST to a wrong path still gets the envelope
def not_found(request, *args, **kwargs):
    """Anything else under /api/mp/v1/: the envelope, never Django's HTML page."""
    return JsonResponse({"code": "NOT_FOUND", "message": CODES["NOT_FOUND"][1], "data": {}}, status=404,
                        json_dumps_params={"ensure_ascii": False}, headers={"Cache-Control": "no-store"})
