from tortoise import migrations
from tortoise.migrations import operations as ops
from models.alerts import AlertCategory, AlertType, DeliveryChannel, DeliveryStatus, PriceAlertStatus, PriceCondition, Severity
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

# Alerts written before this migration used a free-form type and INFO/WARNING severities; the audit chain
# starts at one head row whose hash is empty (the chain's genesis).
_DATA = """
UPDATE alerts SET severity = 'LOW' WHERE severity = 'INFO';
UPDATE alerts SET severity = 'MEDIUM' WHERE severity = 'WARNING';
UPDATE alerts SET type = 'WARNING' WHERE type NOT IN ('ERROR', 'WARNING', 'INFO', 'SUCCESS');
UPDATE alerts SET category = 'TRADING' WHERE category NOT IN ('SYSTEM', 'TRADING', 'COMPLIANCE', 'SECURITY', 'PRICE', 'BOT');
UPDATE alerts SET published = TRUE;
INSERT INTO audit_chain_head (id, last_id, last_hash) VALUES (1, 0, '');
"""


async def forward(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    await schema_editor.client.execute_script(_DATA)


async def backward(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    await schema_editor.client.execute_script("DELETE FROM audit_chain_head;")


class Migration(migrations.Migration):
    dependencies = [('trading', '0038_bots')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AlertDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(null=True, db_index=True)),
                ('channel', fields.CharEnumField(description='WEBHOOK: WEBHOOK\nEMAIL: EMAIL', enum_type=DeliveryChannel, max_length=8)),
                ('endpoint_id', fields.UUIDField(null=True)),
                ('address', fields.CharField(default='', max_length=2000)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: PENDING\nDELIVERED: DELIVERED\nFAILED: FAILED', enum_type=DeliveryStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(default='', unique=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'alert_deliveries', 'app': 'trading', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'The outbox: one delivery of one alert to one channel, written in the alert transaction and drained by'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('last_id', fields.BigIntField(default=0)),
                ('last_hash', fields.CharField(default='', max_length=64)),
            ],
            options={'table': 'audit_chain_head', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'The single row that serialises writers of the audit log: the id and hash of its last row.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery_id', fields.BigIntField(db_index=True)),
                ('attempt', fields.IntField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('ok', fields.BooleanField()),
                ('status_code', fields.IntField(null=True)),
                ('error', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'alert_delivery_attempts', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'One try of a delivery: what the channel answered.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PriceAlert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('condition', fields.CharEnumField(description='ABOVE: ABOVE\nBELOW: BELOW\nCROSSES: CROSSES\nPERCENT_CHANGE: PERCENT_CHANGE', enum_type=PriceCondition, max_length=16)),
                ('value', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('window_seconds', fields.IntField(null=True)),
                ('recurring', fields.BooleanField(default=False)),
                ('note', fields.CharField(default='', max_length=200)),
                ('status', fields.CharEnumField(default=PriceAlertStatus.ACTIVE, description='ACTIVE: ACTIVE\nTRIGGERED: TRIGGERED', enum_type=PriceAlertStatus, max_length=12)),
                ('armed', fields.BooleanField(default=True)),
                ('reference_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('reference_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('trigger_count', fields.IntField(default=0)),
                ('version', fields.IntField(default=0)),
                ('last_triggered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_triggered_price', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'price_alerts', 'app': 'trading', 'indexes': [Index(fields=['symbol', 'status'])], 'pk_attr': 'id', 'table_description': 'A condition on an instrument mark that raises an alert on the tick that meets it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('url', fields.CharField(max_length=2000)),
                ('description', fields.CharField(default='', max_length=200)),
                ('secret_encrypted', fields.TextField(unique=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_endpoints', 'app': 'trading', 'pk_attr': 'id', 'table_description': "A URL that receives a user's alerts as signed POSTs. The signing secret is stored encrypted."},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Alert',
            name='category',
            field=fields.CharEnumField(description='SYSTEM: SYSTEM\nTRADING: TRADING\nCOMPLIANCE: COMPLIANCE\nSECURITY: SECURITY\nPRICE: PRICE\nBOT: BOT', enum_type=AlertCategory, max_length=32),
        ),
        ops.AlterField(
            model_name='Alert',
            name='severity',
            field=fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL', enum_type=Severity, max_length=8),
        ),
        ops.AlterField(
            model_name='Alert',
            name='type',
            field=fields.CharEnumField(description='ERROR: ERROR\nWARNING: WARNING\nINFO: INFO\nSUCCESS: SUCCESS', enum_type=AlertType, max_length=32),
        ),
        ops.AddField(
            model_name='Alert',
            name='bot_id',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Alert',
            name='metadata',
            field=fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Alert',
            name='published',
            field=fields.BooleanField(default=False, db_index=True),
        ),
        ops.AddField(
            model_name='Alert',
            name='venue',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddIndex(
            model_name='Alert',
            index=Index(fields=['user_id', 'created_at']),
        ),
        ops.AddField(
            model_name='AuditEntry',
            name='hash',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='AuditEntry',
            name='prev_hash',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.RunPython(forward, backward),
    ]
