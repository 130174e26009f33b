"""Routes of ``/api/mp/v1/`` (included by hub.urls)."""

from django.urls import path, re_path

from members.miniprogram import views
from members.miniprogram.docs import schema_view, swagger_view

urlpatterns = [
    path("auth/wechat/login", views.Login.as_view()),
    path("auth/phone", views.Phone.as_view()),
    path("auth/logout", views.Logout.as_view()),
    path("auth/logout-all", views.LogoutAll.as_view()),
    path("consent", views.ConsentText.as_view()),
    path("me", views.Me.as_view()),
    path("me/consents", views.Consents.as_view()),
    path("me/memberships", views.Memberships.as_view()),
    path("me/memberships/<int:id>", views.Membership.as_view()),
    path("me/balances", views.Balances.as_view()),
    path("me/transactions", views.Transactions.as_view()),
    path("me/member-code", views.MemberCode.as_view()),
    path("me/member-code/<int:code_id>", views.MemberCodeStatus.as_view()),
    path("rights", views.Rights.as_view()),
    path("rights/<int:id>", views.RightDetail.as_view()),
    path("rights/<int:id>/claim", views.Claim.as_view()),
    path("me/vouchers", views.Vouchers.as_view()),
    path("me/vouchers/<int:id>/display", views.Display.as_view()),
    path("me/conversions/quote", views.Quote.as_view()),
    path("me/conversions", views.Convert.as_view()),
    path("me/export", views.Export.as_view()),
    path("me/close", views.Close.as_view()),
    path("schema/", schema_view, name="mp-schema"),
    path("docs/", swagger_view, name="mp-docs"),
    re_path(r"^.*$", views.not_found),
]
