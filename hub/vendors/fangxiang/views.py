"""``GET gateway/fangxiang/public-key``: the hub's response-signing public key, PEM.

A plain view, not a till call: no credential, no signature, nothing recorded.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from hub.vendors.fangxiang import keys


@require_safe
def public_key(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(keys.hub_public_key_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="fangxiang_hub_public.pem"'
    return response
