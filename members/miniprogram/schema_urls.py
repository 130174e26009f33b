"""The urlconf the mini-program's schema is generated from: only ``/api/mp/v1/``."""

from django.urls import include, path

urlpatterns = [path("api/mp/v1/", include("members.miniprogram.urls"))]
