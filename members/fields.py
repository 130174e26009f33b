"""A model field that stores text encrypted with the vault's key ring."""

from __future__ import annotations

from django.db import models

from members import vault


class EncryptedTextField(models.TextField):
    """Plain ``str`` in Python, a Fernet token in the database. Never indexable: pair it with a
    blind-index column for lookups."""

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return vault.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return vault.encrypt(value)
