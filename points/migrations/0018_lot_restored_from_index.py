"""The clawback of a refund or reverse follows an earned lot's restored_from chain: index it (partial,
only re-credited lots), since without it every clawback scanned all of points_lot (20 ms at 10^6
postings, the p99 growth of bench/ledger.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('points', '0017_rights_claims_and_funding_items'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='lot',
            index=models.Index(condition=models.Q(('restored_from__isnull', False)), fields=['restored_from'], name='lot_restored_from'),
        ),
    ]
