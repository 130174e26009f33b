"""The one authentication backend: Django's ModelBackend behind the login throttle, so every
password login (admin, merchant portal, any later one) is throttled and locked out alike.

The signed-in user of a session is read with one prepared statement (``hub.db.load_prepared``),
not the ORM's compiler: every cloud-POS call asks (the same row, the same
``user_can_authenticate`` rule as ModelBackend)."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connection

from hub.db import load_prepared
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

    def get_user(self, user_id):
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        found = load_prepared(model, f"WHERE x.{connection.ops.quote_name(model._meta.pk.column)} = %s", [pk])
        return found[0] if found and self.user_can_authenticate(found[0]) else None
