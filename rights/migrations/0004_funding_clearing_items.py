"""Rights funding flows into clearing: each funding row (funder ≠ provider) gets its
``rights_funding`` clearing item (points_clearing_item, no ledger transaction, no program), and
a claim for points names its ledger operation. Funding rows written before this migration get
their items here (created at the funding row's time, so they fall into the batch of that day,
or are late items of the next close); the append-only trigger is set aside for that one UPDATE."""

import django.db.models.deletion
from django.db import migrations, models


BACKFILL = """
ALTER TABLE rights_rightsfunding DISABLE TRIGGER rights_funding_append_only;
WITH src AS (
    SELECT f.id, f.funder_id, f.provider_id, f.amount_fen, f.created_at,
           nextval(pg_get_serial_sequence('points_clearing_item', 'id')) AS item_id
      FROM rights_rightsfunding f
     WHERE f.clearing_item_id IS NULL AND f.funder_id <> f.provider_id
), items AS (
    INSERT INTO points_clearing_item (id, txn_id, operation_id, payer_id, payee_id, program_id, kind, points,
                                      amount_fen, fee_fen, created_at)
    SELECT item_id, NULL, NULL, funder_id, provider_id, NULL, 'rights_funding', 0, amount_fen, 0, created_at FROM src
)
UPDATE rights_rightsfunding f SET clearing_item_id = src.item_id FROM src WHERE f.id = src.id;
ALTER TABLE rights_rightsfunding ENABLE TRIGGER rights_funding_append_only;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('points', '0016_rights_claims_and_funding_items'),
        ('rights', '0003_rights_schedules'),
    ]

    operations = [
        migrations.AddField(
            model_name='claimrequest',
            name='points_operation',
            field=models.OneToOneField(blank=True, help_text='积分兑换：扣减会员积分的账务交易（与凭证同一事务）', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='points.operation', verbose_name='积分兑换交易'),
        ),
        migrations.AddField(
            model_name='rightsfunding',
            name='clearing_item',
            field=models.OneToOneField(blank=True, help_text='写入清算批次的明细（出资方与提供方为同一商户时无）', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='points.clearingitem', verbose_name='清算明细'),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
