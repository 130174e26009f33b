"""Django's database sessions, read with one prepared statement.

Every cloud-POS call carries the cashier's session, and the ORM's statement compiler was a
visible part of that call's cost (bench/till_profile.py: the session's ``SELECT`` and the
user's were the costliest statements the ORM still built on the till path). Same table, same
rows, same expiry rule as ``django.contrib.sessions.backends.db``: only the read differs, so
switching ``SESSION_ENGINE`` to this module keeps every session that exists.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

from hub.db import fetch_prepared

_READ = 'SELECT s."session_data" FROM "django_session" s WHERE s."session_key" = %s AND s."expire_date" > %s'


class SessionStore(DatabaseSessionStore):
    def load(self):
        rows = fetch_prepared(_READ, [self.session_key, timezone.now()]) if self.session_key else []
        if not rows:
            self._session_key = None  # as the ORM read does: a fresh key on the next save
            return {}
        return self.decode(rows[0][0])
