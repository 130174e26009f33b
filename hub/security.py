"""Security headers Django 5.2 does not set by itself."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse


class ContentSecurityPolicyMiddleware:
    """``Content-Security-Policy: settings.CONTENT_SECURITY_POLICY`` on every answer that has none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def staff_only_docs(view):
    """The API schema and docs, for signed-in staff only when ``settings.API_DOCS_STAFF_ONLY``
    (production): others are sent to the admin's sign-in page (the schema answers 403)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = getattr(request, "user", None)
        if getattr(settings, "API_DOCS_STAFF_ONLY", False) and not (user and user.is_active and user.is_staff):
            if request.path.startswith("/api/docs/") and not request.GET:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
