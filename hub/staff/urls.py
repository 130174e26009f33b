from django.urls import path

from hub.staff import views

app_name = "staff"

urlpatterns = [
    path("", views.verify, name="verify"),
    path("setup/", views.setup, name="setup"),
    path("backup-codes/", views.backup_codes, name="backup-codes"),
]
