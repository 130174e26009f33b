"""The registered till adapters, configured like Django's own backends:

    HUB_TILL_ADAPTERS = {"kemai": "hub.vendors.kemai.adapter.KemaiAdapter", ...}

Adding a fifth vendor is one package and one entry here: its URLs are mounted at
``gateway/<code>/`` (or the adapter's ``mount``) and the contract test suite runs over it.
"""

from __future__ import annotations

from functools import cache, partial

from django.conf import settings
from django.urls import include, path
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt


@cache
def adapters() -> dict:
    return {code: import_string(dotted)() for code, dotted in settings.HUB_TILL_ADAPTERS.items()}


def get_adapter(code: str):
    return adapters()[code]


def gateway_view(request, *, adapter, **kwargs):
    from hub.gateway.service import handle

    return handle(adapter, request, **kwargs)


def urlpatterns() -> list:
    patterns = []
    for code, adapter in adapters().items():
        view = csrf_exempt(partial(gateway_view, adapter=adapter))
        patterns.append(path(getattr(adapter, "mount", f"gateway/{code}/"), include(adapter.get_urls(view))))
    return patterns
