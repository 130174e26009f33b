"""The hub's routes and a bare Django view (a JSON answer, no database) for bench/miniprogram.py."""

from django.http import JsonResponse
from django.urls import include, path


def bare(request):
    return JsonResponse({"code": "SUCCESS", "message": "成功", "data": {}})


urlpatterns = [path("bench/bare", bare), path("", include("hub.urls"))]
