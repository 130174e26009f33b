"""The one authentication backend: Django's ModelBackend behind the login throttle, so every
password login (admin, merchant portal, any later one) is throttled and locked out alike."""

from __future__ import annotations

import logging

from django.contrib.auth.backends import ModelBackend

from hub.staff import throttle

logger = logging.getLogger("hub.staff")


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        ip = throttle.client_ip(request)
        if throttle.locked(username=username, ip=ip):
            logger.warning("login refused: locked out (ip %s)", ip)
            if request is not None:
                request.login_locked = True
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            throttle.count_failure(username=username, ip=ip)
            logger.info("login failed (ip %s)", ip)
        return user
