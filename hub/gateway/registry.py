"""The registered till adapters, configured like Django's own backends:

    HUB_TILL_ADAPTERS = {"kemai": "hub.vendors.kemai.adapter.KemaiAdapter", ...}

An adapter describes itself (hub.gateway.base.Adapter): its code and name, auth scheme,
operations, mount, body limit, how it names a merchant, how it treats a repeated nonce, its
sandbox merchant and credentials, and helpers for tests. Everything else follows from the
registry: the URL mounts (``urlpatterns``), the ``Vendor`` rows (``sync_vendors``, after every
``migrate``), ``Vendor.code``'s choices, the sandbox seeding (hub.demo), the contract and
end-to-end test suites and the HTTP benchmark. A new vendor is one package and one entry here.
"""

from __future__ import annotations

import logging
from functools import cache, partial

from django.conf import settings
from django.urls import include, path
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger("hub.gateway")


@cache
def adapters() -> dict:
    found = {}
    for code, dotted in settings.HUB_TILL_ADAPTERS.items():
        adapter = import_string(dotted)()
        if adapter.code != code:
            raise ValueError(f"HUB_TILL_ADAPTERS[{code!r}] is an adapter for {adapter.code!r}")
        found[code] = adapter
    return found


def get_adapter(code: str):
    return adapters()[code]


def mount(adapter) -> str:
    """Where the adapter's URLs live, relative to the site root (no leading slash)."""
    return getattr(adapter, "mount", None) or f"gateway/{adapter.code}/"


def vendor_choices() -> list[tuple[str, str]]:
    return [(code, adapter.name) for code, adapter in adapters().items()]


def sync_vendors(vendor_model=None, *, using: str = "default") -> int:
    """Create the Vendor row of every registered adapter that lacks one, and keep each row's auth
    scheme that of its dialect (it belongs to the protocol, not to operators). Names an operator
    changed are left alone. Returns how many rows were created."""
    if vendor_model is None:
        from hub.models import Vendor as vendor_model
    created = 0
    for code, adapter in adapters().items():
        vendor, was_created = vendor_model.objects.using(using).get_or_create(
            code=code, defaults={"name": adapter.name, "auth_scheme": adapter.auth_scheme})
        created += int(was_created)
        if vendor.auth_scheme != adapter.auth_scheme:
            vendor.auth_scheme = adapter.auth_scheme
            vendor.save(update_fields=["auth_scheme"])
    return created


def sync_vendors_after_migrate(sender, *, apps=None, using="default", **kwargs) -> None:
    """post_migrate (after migrate, and after a flush): the registry's vendors exist in every
    migrated database."""
    if apps is None:
        from django.apps import apps
    try:
        vendor_model = apps.get_model("hub", "Vendor")
    except LookupError:  # migrating backwards past the model
        return
    sync_vendors(vendor_model, using=using)


def gateway_view(request, *, adapter, **kwargs):
    from hub.gateway.service import handle

    return handle(adapter, request, **kwargs)


def urlpatterns() -> list:
    patterns = []
    for adapter in adapters().values():
        view = csrf_exempt(partial(gateway_view, adapter=adapter))
        patterns.append(path(mount(adapter), include(adapter.get_urls(view))))
    return patterns
