"""The served OpenAPI of ``/api/mp/v1/`` and its Swagger UI (drf-spectacular, offline: the UI's
files come from drf-spectacular-sidecar).

Who may read them: ``settings.MINIPROGRAM_DOCS_PUBLIC`` (on by default, so the front-end team can
read them in the sandbox and in DEBUG; production keeps it on unless set to 0, because the
contract is public to every mini-program client anyway and holds no secret). When it is off, they
follow ``hub.security.staff_only_docs`` like the till API's.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hub.security import staff_only_docs
from members.miniprogram.schema import SETTINGS

_schema = SpectacularAPIView.as_view(urlconf="members.miniprogram.schema_urls", custom_settings=SETTINGS)
_swagger = SpectacularSwaggerSplitView.as_view(url_name="mp-schema")
_schema_staff, _swagger_staff = staff_only_docs(_schema), staff_only_docs(_swagger)


def schema_view(request, *args, **kwargs):
    view = _schema if getattr(settings, "MINIPROGRAM_DOCS_PUBLIC", True) else _schema_staff
    return view(request, *args, **kwargs)


def swagger_view(request, *args, **kwargs):
    view = _swagger if getattr(settings, "MINIPROGRAM_DOCS_PUBLIC", True) else _swagger_staff
    return view(request, *args, **kwargs)
