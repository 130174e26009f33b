"""A model field that stores text encrypted with the vault's key ring."""

from __future__ import annotations

from django.db import models

from members import vault


class EncryptedTextField(models.TextField):
    """Plain ``str`` in Python, a Fernet token in the database. Never indexable: pair it with a
    blind-index column for lookups.

    A stored token that no key opens is read as ``vault.Unreadable`` (not an exception), so one
    corrupt column does not make the whole row unloadable for callers that never use it; saving
    it back writes the token unchanged.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return vault.decrypt_or_unreadable(value)

    def to_python(self, value):
        if vault.is_unreadable(value):
            return value
        return super().to_python(value)

    def get_prep_value(self, value):
        if vault.is_unreadable(value):
            return value.token  # kept as stored: never replace data with a placeholder
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return vault.encrypt(value)
