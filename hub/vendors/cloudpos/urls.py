"""/pos/: the cloud-POS pages and reads (its till operations are the gateway's ``/pos/api/<op>``,
mounted by the adapter registry)."""

from django.urls import path

from hub.vendors.cloudpos import views

urlpatterns = [
    path("", views.till_view, name="cloudpos-till"),
    path("login/", views.login_view, name="cloudpos-login"),
    path("logout/", views.logout_view, name="cloudpos-logout"),
    path("enrol/", views.enrol_view, name="cloudpos-enrol"),
    path("read/today", views.today_view, name="cloudpos-today"),
    path("read/quote", views.quote_view, name="cloudpos-quote"),
]
