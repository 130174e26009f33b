"""The clearing models move from the ``hub`` app to ``clearing`` (hub.clearing), tables kept.

State only: the tables, constraints, indexes and triggers made by hub/migrations/0004_clearing.py
and 0005_clearing_sql.py stay exactly as they are (``db_table`` keeps their ``hub_`` names;
constraint and index names are the models' own). ``hub.0007_clearing_models_moved`` removes the
models from the hub app's state, also without touching the database.

Then the content types of the moved models are renamed ``hub`` → ``clearing``, so their
permissions (and the role groups and people holding them) and the admin history follow, and the
role groups are synchronised with the ``clearing.*`` patterns of members.roles.
"""

import django.db.models.deletion
import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models

from members.roles import sync_roles

MODELS = ("clearingbatch", "clearingbatchitem", "clearingline", "clearingposition", "settlementinstruction",
          "clearingdocument", "reconciliationrun", "reconciliationrow", "reconciliationdifference", "ledgercheckrun")


def move_content_types(apps, schema_editor):
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if ContentType.objects.using(db).filter(app_label="clearing", model=model).exists():
            continue  # created by a run of post_migrate in between: nothing to carry over
        ContentType.objects.using(db).filter(app_label="hub", model=model).update(app_label="clearing")
    sync_roles(apps, using=db)


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(
        app_label="clearing", model__in=MODELS).update(app_label="hub")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('hub', '0006_clearing_schedules'),
        ('points', '0004_grant_operation'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('members', '0003_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
                migrations.CreateModel(
                    name='LedgerCheckRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('started_at', models.DateTimeField(verbose_name='开始时间')),
                        ('finished_at', models.DateTimeField(verbose_name='结束时间')),
                        ('ok', models.BooleanField(verbose_name='通过')),
                        ('problems', models.JSONField(blank=True, default=dict, help_text='{不变量: 违反的记录（最多 20 条）}', verbose_name='问题')),
                    ],
                    options={
                        'verbose_name': '账务检查',
                        'verbose_name_plural': '账务检查',
                        'db_table': 'hub_ledger_check_run',
                        'ordering': ['-started_at'],
                    },
                ),
                migrations.CreateModel(
                    name='ClearingBatch',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('cutoff_at', models.DateTimeField(help_text='此时间之前记账的清算明细属于本批次', unique=True, verbose_name='截止时间')),
                        ('period_start', models.DateTimeField(blank=True, help_text='上一批次的截止时间；首个批次为空', null=True, verbose_name='起始时间')),
                        ('clearing_date', models.DateField(verbose_name='清算日')),
                        ('status', models.CharField(choices=[('open', '未关闭'), ('closed', '已关闭'), ('approved', '已审批'), ('settled', '已结算')], default='open', max_length=16, verbose_name='状态')),
                        ('item_count', models.BigIntegerField(default=0, verbose_name='明细笔数')),
                        ('late_item_count', models.BigIntegerField(default=0, help_text='记账时间早于起始时间、但在上一批次关闭后才提交的明细', verbose_name='迟到明细笔数')),
                        ('gross_fen', models.BigIntegerField(default=0, verbose_name='清算金额合计（分）')),
                        ('fee_fen', models.BigIntegerField(default=0, verbose_name='手续费合计（分）')),
                        ('transfer_fen', models.BigIntegerField(default=0, verbose_name='结算指令金额合计（分）')),
                        ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='关闭时间')),
                        ('approved_at', models.DateTimeField(blank=True, null=True, verbose_name='审批时间')),
                        ('settled_at', models.DateTimeField(blank=True, null=True, verbose_name='结算时间')),
                        ('bank_reference', models.CharField(blank=True, default='', max_length=64, verbose_name='银行流水号')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='创建时间')),
                        ('approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='审批人')),
                        ('closed_by', models.ForeignKey(blank=True, help_text='为空表示由系统定时任务关闭', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='关闭人')),
                        ('settled_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='结算登记人')),
                    ],
                    options={
                        'verbose_name': '清算批次',
                        'verbose_name_plural': '清算批次',
                        'db_table': 'hub_clearing_batch',
                        'ordering': ['-cutoff_at'],
                        'permissions': [('close_clearingbatch', '可关闭清算批次'), ('approve_clearingbatch', '可审批清算批次'), ('settle_clearingbatch', '可登记清算批次已结算')],
                    },
                ),
                migrations.CreateModel(
                    name='ClearingBatchItem',
                    fields=[
                        ('item_id', models.BigIntegerField(primary_key=True, serialize=False, verbose_name='清算明细')),
                        ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='clearing.clearingbatch', verbose_name='清算批次')),
                    ],
                    options={
                        'verbose_name': '批次明细归属',
                        'verbose_name_plural': '批次明细归属',
                        'db_table': 'hub_clearing_batch_item',
                    },
                ),
                migrations.CreateModel(
                    name='ClearingDocument',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('statement', '对账单'), ('instructions', '结算指令')], max_length=16, verbose_name='类型')),
                        ('encoding', models.CharField(choices=[('utf-8', 'UTF-8'), ('gbk', 'GBK')], max_length=8, verbose_name='编码')),
                        ('file', models.FileField(max_length=255, upload_to='clearing/', verbose_name='文件')),
                        ('sha256', models.CharField(max_length=64, verbose_name='SHA-256')),
                        ('size', models.BigIntegerField(verbose_name='字节数')),
                        ('row_count', models.BigIntegerField(verbose_name='明细行数')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='生成时间')),
                        ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='documents', to='clearing.clearingbatch', verbose_name='清算批次')),
                        ('party', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='参与方')),
                    ],
                    options={
                        'verbose_name': '清算文件',
                        'verbose_name_plural': '清算文件',
                        'db_table': 'hub_clearing_document',
                        'ordering': ['batch_id', 'kind', 'party_id', 'encoding'],
                    },
                ),
                migrations.CreateModel(
                    name='ClearingLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('redemption', '抵扣结算'), ('earn_funding', '积分发放出资'), ('rights_funding', '权益出资'), ('conversion', '积分转换')], max_length=16, verbose_name='清算类型')),
                        ('item_count', models.BigIntegerField(verbose_name='笔数')),
                        ('points', models.BigIntegerField(verbose_name='积分')),
                        ('gross_fen', models.BigIntegerField(verbose_name='清算金额（分）')),
                        ('fee_fen', models.BigIntegerField(verbose_name='手续费（分）')),
                        ('net_fen', models.BigIntegerField(verbose_name='应付净额（分）')),
                        ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='clearing.clearingbatch', verbose_name='清算批次')),
                        ('payee', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='收款方')),
                        ('payer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='付款方')),
                        ('program', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='points.program', verbose_name='积分计划')),
                    ],
                    options={
                        'verbose_name': '清算汇总',
                        'verbose_name_plural': '清算汇总',
                        'db_table': 'hub_clearing_line',
                        'ordering': ['batch_id', 'payer_id', 'payee_id', 'program_id', 'kind'],
                    },
                ),
                migrations.CreateModel(
                    name='ClearingPosition',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('receivable_fen', models.BigIntegerField(verbose_name='应收金额（分）')),
                        ('fee_deducted_fen', models.BigIntegerField(verbose_name='应收中被扣手续费（分）')),
                        ('payable_fen', models.BigIntegerField(verbose_name='应付金额（分）')),
                        ('fee_retained_fen', models.BigIntegerField(verbose_name='应付中留存手续费（分）')),
                        ('net_fen', models.BigIntegerField(help_text='正数为应收，负数为应付', verbose_name='净头寸（分）')),
                        ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='positions', to='clearing.clearingbatch', verbose_name='清算批次')),
                        ('party', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='参与方')),
                    ],
                    options={
                        'verbose_name': '净头寸',
                        'verbose_name_plural': '净头寸',
                        'db_table': 'hub_clearing_position',
                        'ordering': ['batch_id', 'party_id'],
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('source', models.CharField(choices=[('day_end', '收银日结汇总'), ('file', '日结文件')], max_length=16, verbose_name='来源')),
                        ('biz_date', models.DateField(verbose_name='营业日')),
                        ('file_name', models.CharField(blank=True, default='', max_length=255, verbose_name='文件名')),
                        ('sha256', models.CharField(help_text='文件字节或日结汇总的 SHA-256', max_length=64, verbose_name='内容摘要')),
                        ('row_count', models.BigIntegerField(default=0, verbose_name='文件行数')),
                        ('till_totals', models.JSONField(blank=True, null=True, verbose_name='收银汇总')),
                        ('hub_totals', models.JSONField(blank=True, null=True, verbose_name='中心汇总')),
                        ('matched', models.BooleanField(verbose_name='一致')),
                        ('difference_count', models.IntegerField(default=0, verbose_name='差异数')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='对账时间')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='上传人')),
                        ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='商户')),
                        ('store', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.store', verbose_name='门店')),
                        ('terminal', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.terminal', verbose_name='终端')),
                    ],
                    options={
                        'verbose_name': '对账记录',
                        'verbose_name_plural': '对账记录',
                        'db_table': 'hub_recon_run',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationRow',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('line_no', models.IntegerField(verbose_name='行号')),
                        ('request_no', models.CharField(max_length=64, verbose_name='请求单号')),
                        ('kind', models.CharField(max_length=16, verbose_name='类型')),
                        ('points', models.BigIntegerField(verbose_name='积分')),
                        ('amount_fen', models.BigIntegerField(verbose_name='金额（分）')),
                        ('occurred_at', models.DateTimeField(blank=True, null=True, verbose_name='交易时间')),
                        ('status', models.CharField(max_length=16, verbose_name='状态')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='rows', to='clearing.reconciliationrun', verbose_name='对账记录')),
                    ],
                    options={
                        'verbose_name': '日结文件明细',
                        'verbose_name_plural': '日结文件明细',
                        'db_table': 'hub_recon_row',
                        'ordering': ['run_id', 'line_no'],
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationDifference',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('biz_date', models.DateField(verbose_name='营业日')),
                        ('kind', models.CharField(choices=[('missing_at_hub', '中心无此交易'), ('missing_at_till', '收银无此交易'), ('points_differ', '积分不一致'), ('amount_differ', '金额不一致'), ('status_differ', '状态不一致'), ('type_differ', '类型不一致'), ('date_differ', '营业日不一致'), ('totals_differ', '日结汇总不一致')], max_length=16, verbose_name='差异类型')),
                        ('request_no', models.CharField(blank=True, default='', max_length=64, verbose_name='请求单号')),
                        ('field', models.CharField(blank=True, default='', max_length=32, verbose_name='字段')),
                        ('till_value', models.CharField(blank=True, default='', max_length=64, verbose_name='收银方')),
                        ('hub_value', models.CharField(blank=True, default='', max_length=64, verbose_name='中心')),
                        ('operation_id', models.BigIntegerField(blank=True, null=True, verbose_name='中心交易')),
                        ('resolved_at', models.DateTimeField(blank=True, null=True, verbose_name='处理时间')),
                        ('resolution_note', models.TextField(blank=True, default='', verbose_name='处理说明')),
                        ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='商户')),
                        ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='处理人')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='differences', to='clearing.reconciliationrun', verbose_name='对账记录')),
                    ],
                    options={
                        'verbose_name': '对账差异',
                        'verbose_name_plural': '对账差异',
                        'db_table': 'hub_recon_difference',
                        'ordering': ['-run_id', 'id'],
                        'permissions': [('resolve_reconciliationdifference', '可处理对账差异')],
                    },
                ),
                migrations.CreateModel(
                    name='SettlementInstruction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('amount_fen', models.BigIntegerField(verbose_name='金额（分）')),
                        ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='instructions', to='clearing.clearingbatch', verbose_name='清算批次')),
                        ('payee', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='收款方')),
                        ('payer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hub.merchant', verbose_name='付款方')),
                    ],
                    options={
                        'verbose_name': '结算指令',
                        'verbose_name_plural': '结算指令',
                        'db_table': 'hub_settlement_instruction',
                        'ordering': ['batch_id', 'payer_id', 'payee_id'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='clearingbatch',
                    constraint=models.CheckConstraint(condition=models.Q(('period_start__isnull', True), ('period_start__lt', models.F('cutoff_at')), _connector='OR'), name='clearing_batch_period_ordered'),
                ),
                migrations.AddConstraint(
                    model_name='clearingbatch',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('closed_at__isnull', True), ('status', 'open')), models.Q(models.Q(('status', 'open'), _negated=True), ('closed_at__isnull', False)), _connector='OR'), name='clearing_batch_closed_at_matches_status'),
                ),
                migrations.AddConstraint(
                    model_name='clearingbatch',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('approved_at__isnull', True), ('approved_by__isnull', True), ('status__in', ['open', 'closed'])), models.Q(('approved_at__isnull', False), ('approved_by__isnull', False), ('status__in', ['approved', 'settled'])), _connector='OR'), name='clearing_batch_approval_matches_status'),
                ),
                migrations.AddConstraint(
                    model_name='clearingbatch',
                    constraint=models.CheckConstraint(condition=models.Q(('approved_by__isnull', True), ('closed_by__isnull', True), models.Q(('approved_by', models.F('closed_by')), _negated=True), _connector='OR'), name='clearing_batch_approver_is_not_closer'),
                ),
                migrations.AddConstraint(
                    model_name='clearingbatch',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(models.Q(('status', 'settled'), _negated=True), ('bank_reference', ''), ('settled_at__isnull', True), ('settled_by__isnull', True)), models.Q(('settled_at__isnull', False), ('settled_by__isnull', False), ('status', 'settled'), models.Q(('bank_reference', ''), _negated=True)), _connector='OR'), name='clearing_batch_settlement_matches_status'),
                ),
                migrations.AddConstraint(
                    model_name='clearingdocument',
                    constraint=models.UniqueConstraint(fields=('batch', 'kind', 'party', 'encoding'), name='clearing_document_unique', nulls_distinct=False),
                ),
                migrations.AddConstraint(
                    model_name='clearingdocument',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'statement'), ('party__isnull', False)), models.Q(('kind', 'instructions'), ('party__isnull', True)), _connector='OR'), name='clearing_document_party_matches_kind'),
                ),
                migrations.AddConstraint(
                    model_name='clearingline',
                    constraint=models.UniqueConstraint(fields=('batch', 'payer', 'payee', 'program', 'kind'), name='clearing_line_unique'),
                ),
                migrations.AddConstraint(
                    model_name='clearingline',
                    constraint=models.CheckConstraint(condition=models.Q(('net_fen', django.db.models.expressions.CombinedExpression(models.F('gross_fen'), '-', models.F('fee_fen')))), name='clearing_line_net_is_gross_less_fee'),
                ),
                migrations.AddConstraint(
                    model_name='clearingposition',
                    constraint=models.UniqueConstraint(fields=('batch', 'party'), name='clearing_position_unique'),
                ),
                migrations.AddConstraint(
                    model_name='clearingposition',
                    constraint=models.CheckConstraint(condition=models.Q(('net_fen', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('receivable_fen'), '-', models.F('fee_deducted_fen')), '-', models.F('payable_fen')), '+', models.F('fee_retained_fen')))), name='clearing_position_net_adds_up'),
                ),
                migrations.AddIndex(
                    model_name='reconciliationrun',
                    index=models.Index(fields=['merchant', 'biz_date'], name='recon_run_merchant_day'),
                ),
                migrations.AddConstraint(
                    model_name='reconciliationrow',
                    constraint=models.UniqueConstraint(fields=('run', 'request_no'), name='recon_row_unique_request'),
                ),
                migrations.AddIndex(
                    model_name='reconciliationdifference',
                    index=models.Index(condition=models.Q(('resolved_at__isnull', True)), fields=['resolved_at'], name='recon_diff_open'),
                ),
                migrations.AddConstraint(
                    model_name='reconciliationdifference',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('resolution_note', ''), ('resolved_at__isnull', True), ('resolved_by__isnull', True)), models.Q(('resolved_at__isnull', False), ('resolved_by__isnull', False), models.Q(('resolution_note', ''), _negated=True)), _connector='OR'), name='recon_difference_resolution_complete'),
                ),
                migrations.AddConstraint(
                    model_name='settlementinstruction',
                    constraint=models.UniqueConstraint(fields=('batch', 'payer', 'payee'), name='settlement_instruction_unique_pair'),
                ),
                migrations.AddConstraint(
                    model_name='settlementinstruction',
                    constraint=models.CheckConstraint(condition=models.Q(('amount_fen__gt', 0)), name='settlement_instruction_positive'),
                ),
                migrations.AddConstraint(
                    model_name='settlementinstruction',
                    constraint=models.CheckConstraint(condition=models.Q(('payer', models.F('payee')), _negated=True), name='settlement_instruction_two_parties'),
                ),
            ], database_operations=[]),
        migrations.RunPython(move_content_types, restore_content_types),
    ]
