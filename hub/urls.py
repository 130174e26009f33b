from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hub.gateway import registry
from hub.security import staff_only_docs
from hub.vendors.native import gates as gate_api

admin.site.site_header = "邮政智慧场景积分清算中心"
admin.site.site_title = "积分清算中心"
admin.site.index_title = "运营管理"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", staff_only_docs(SpectacularAPIView.as_view()), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the CSP
    # can forbid them.
    path("api/docs/", staff_only_docs(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    *registry.urlpatterns(),
    # The member mini-program (members.miniprogram): its own envelope, schema and docs.
    path("api/mp/v1/", include("members.miniprogram.urls")),
    path(gate_api.GateAdapter.mount, include(gate_api.urlpatterns())),  # scenic-spot gates (rights.gates)
    # Static files (admin, Swagger UI) from the app while DEBUG is on, so `make run` needs no
    # web server in front of gunicorn; empty otherwise.
    *staticfiles_urlpatterns(),
]
