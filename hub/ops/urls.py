from django.urls import path

from hub.ops import views

app_name = "ops"

urlpatterns = [
    path("", views.dashboard_page, name="dashboard"),
    path("scene/<str:scene>/", views.dashboard_page, name="scene"),
    path("merchant/<int:merchant_id>/", views.dashboard_page, name="merchant"),
    path("store/<int:store_id>/", views.dashboard_page, name="store"),
    path("export.csv", views.export_csv, name="export"),
    path("login/", views.OpsLoginView.as_view(), name="login"),
    path("logout/", views.OpsLogoutView.as_view(), name="logout"),
    path("portal/", views.portal_home, name="portal"),
    path("portal/statements/<int:pk>/download", views.portal_statement, name="portal-statement"),
    path("portal/cashiers/new/", views.portal_cashier_new, name="portal-cashier-new"),
    path("portal/cashiers/<int:pk>/active", views.portal_cashier_active, name="portal-cashier-active"),
    path("portal/<slug:slug>/", views.portal_list, name="portal-list"),
]
