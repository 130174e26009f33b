"""The native till API at /api/v1/till/: the native adapter's URLs, answered by the gateway.

Included from hub/urls.py at ``NativeAdapter.mount``. The registry also mounts every adapter at
``gateway/<code>/``; the schema leaves those out (hub.api.schema) so the page shows one address.
"""

from functools import partial

from django.views.decorators.csrf import csrf_exempt

from hub.gateway import registry

app_name = "till"

urlpatterns = registry.get_adapter("native").get_urls(
    csrf_exempt(partial(registry.gateway_view, adapter=registry.get_adapter("native"))))
