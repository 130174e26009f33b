"""The clearing models now belong to the ``clearing`` app (hub.clearing): removed from the hub
app's state only. The tables stay (see hub/clearing/migrations/0001_initial.py)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('hub', '0006_clearing_schedules'),
        ('clearing', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
                migrations.DeleteModel(name='SettlementInstruction'),
                migrations.DeleteModel(name='ReconciliationDifference'),
                migrations.DeleteModel(name='ReconciliationRow'),
                migrations.DeleteModel(name='ReconciliationRun'),
                migrations.DeleteModel(name='ClearingPosition'),
                migrations.DeleteModel(name='ClearingLine'),
                migrations.DeleteModel(name='ClearingDocument'),
                migrations.DeleteModel(name='ClearingBatchItem'),
                migrations.DeleteModel(name='ClearingBatch'),
                migrations.DeleteModel(name='LedgerCheckRun'),
        ], database_operations=[]),
    ]
