"""pghistory's context (who, which URL) for the changes a staff page makes.

Only the ops site's pages (/admin/, /ops/, the second-factor pages) are wrapped: a till call
never pays for it (pghistory attaches the context to every statement of a wrapped request).
"""

from __future__ import annotations

from pghistory.middleware import HistoryMiddleware as _PghistoryMiddleware

STAFF_PREFIXES = ("/admin/", "/ops/", "/staff/")


class HistoryMiddleware(_PghistoryMiddleware):
    def __call__(self, request):
        if not request.path.startswith(STAFF_PREFIXES):
            return self.get_response(request)
        return super().__call__(request)
