from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hub.gateway import registry
from hub.monitoring import views as monitoring
from hub.security import staff_only_docs
from hub.vendors.native import gates as gate_api

admin.site.site_header = "邮政智慧场景积分清算中心"
admin.site.site_title = "积分清算中心"
admin.site.index_title = "运营管理"
# The sidebar repeats the index's app list and takes a sixth of a 1280 px screen from the change
# lists' columns (hub/static/hub/admin.css): the breadcrumbs and the index are the way around.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ops/", include("hub.ops.urls")),  # dashboards (看板) and the merchant portal
    path("staff/2fa/", include("hub.staff.urls")),  # hub.staff.middleware.SECOND_FACTOR_PREFIX
    path("healthz", monitoring.healthz, name="healthz"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
    path("api/schema/", staff_only_docs(SpectacularAPIView.as_view()), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the CSP
    # can forbid them.
    path("api/docs/", staff_only_docs(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    *registry.urlpatterns(),
    # The member mini-program (members.miniprogram): its own envelope, schema and docs.
    path("api/mp/v1/", include("members.miniprogram.urls")),
    path(gate_api.GateAdapter.mount, include(gate_api.urlpatterns())),  # scenic-spot gates (rights.gates)
    path("pos/", include("hub.vendors.cloudpos.urls")),  # the smart cloud POS pages (its API: the registry's)
    # Static files (admin, Swagger UI) from the app while DEBUG is on, so `make run` needs no
    # web server in front of gunicorn; empty otherwise.
    *staticfiles_urlpatterns(),
]
