"""Fingerprints become a keyed HMAC (settings.FINGERPRINT_KEY): re-key the rows stored as a bare
SHA-256 of the request's JSON (which held the credential as sent, e.g. a mobile)."""

from django.db import migrations


def rekey(apps, schema_editor):
    from points.fingerprints import rekey_legacy_rows

    rekey_legacy_rows(apps.get_model("points", "Operation"))


class Migration(migrations.Migration):

    dependencies = [
        ("points", "0014_till_agreement_allow_mobile_lookup"),
    ]

    operations = [
        migrations.RunPython(rekey, migrations.RunPython.noop),
    ]
