from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from hub.gateway import registry

admin.site.site_header = "邮政智慧场景积分清算中心"
admin.site.site_title = "积分清算中心"
admin.site.index_title = "运营管理"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *registry.urlpatterns(),
]
