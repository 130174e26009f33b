"""Every signed-in Django user must have passed a second factor before the session counts.

Installed after django_otp's OTPMiddleware. A user who gave the right password but no code yet
(or has no authenticator yet) is nobody: ``request.user`` is anonymous everywhere (the
second-factor pages find them in ``request.pending_user``), and a page of the admin or of the ops
site sends them to the code page (or to enrolment on first login). So any login of a Django user — admin, merchant portal,
API docs, whatever comes later — needs the second factor, with nothing to remember per view.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django.urls import reverse

SITE_PREFIXES = ("/admin/", "/ops/", "/api/docs/", "/api/schema/")
# The smart cloud POS: a cashier's second factor is the enrolled device (its own credential,
# checked by the gateway on every call, hub.vendors.cloudpos), so there the password session
# counts; it opens nothing outside /pos/ (every other path still treats it as nobody).
DEVICE_BOUND_PREFIXES = ("/pos/",)
SECOND_FACTOR_PREFIX = "/staff/2fa/"  # hub.urls mounts hub.staff.urls here
LOGOUT = "/admin/logout/"  # signing out needs no second factor (the CSRF check has run: POST only)


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:  # tills and the API: no session at all
            return self.get_response(request)
        user = request.user
        path = request.path
        if not user.is_authenticated or user.is_verified() or path.startswith(DEVICE_BOUND_PREFIXES):
            return self.get_response(request)
        request.pending_user = user  # for the second-factor pages only
        request.user = AnonymousUser()
        if path.startswith(SITE_PREFIXES) and not path.startswith(SECOND_FACTOR_PREFIX) and path != LOGOUT:
            return redirect(f"{reverse('staff:verify')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Signing out before the second factor: the admin's logout view refuses anyone without
        admin permission, so it is done here (after the CSRF check, which runs before this)."""
        if getattr(request, "pending_user", None) is not None and request.path == LOGOUT and request.method == "POST":
            auth.logout(request)
            return redirect(reverse("admin:login"))
        return None
