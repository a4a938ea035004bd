from tortoise import migrations
from tortoise.migrations import operations as ops
from models.compliance import Enforcement, RuleScope, RuleType, ViolationSeverity, ViolationStatus
from models.killswitch import KillLevel
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0023_audit_request_id')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ComplianceRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('type', fields.CharEnumField(description='POSITION_LIMIT: POSITION_LIMIT\nRISK_LIMIT: RISK_LIMIT\nORDER_RATE: ORDER_RATE\nEXCESSIVE_CANCELS: EXCESSIVE_CANCELS\nWASH_TRADE: WASH_TRADE\nRESTRICTED_INSTRUMENT: RESTRICTED_INSTRUMENT\nTRADING_HOURS: TRADING_HOURS', enum_type=RuleType, max_length=24)),
                ('enforcement', fields.CharEnumField(description='HARD: HARD\nSOFT: SOFT', enum_type=Enforcement, max_length=4)),
                ('severity', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL', enum_type=ViolationSeverity, max_length=8)),
                ('scope', fields.CharEnumField(description='PLATFORM: PLATFORM\nVENUE: VENUE\nACCOUNT: ACCOUNT', enum_type=RuleScope, max_length=8)),
                ('venue_id', fields.CharField(null=True, max_length=32)),
                ('account_id', fields.UUIDField(null=True, db_index=True)),
                ('symbol', fields.CharField(null=True, max_length=32)),
                ('symbols', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('max_quantity', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('max_notional', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('max_daily_loss', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('max_count', fields.IntField(null=True)),
                ('window_seconds', fields.IntField(null=True)),
                ('start_minute', fields.IntField(null=True)),
                ('end_minute', fields.IntField(null=True)),
                ('active', fields.BooleanField(default=True)),
                ('created_by', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'compliance_rules', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'One compliance rule: its kind, how it is enforced, what it covers and its thresholds.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ComplianceViolation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('rule_id', fields.UUIDField(null=True)),
                ('rule_name', fields.CharField(max_length=100)),
                ('type', fields.CharEnumField(description='POSITION_LIMIT: POSITION_LIMIT\nRISK_LIMIT: RISK_LIMIT\nORDER_RATE: ORDER_RATE\nEXCESSIVE_CANCELS: EXCESSIVE_CANCELS\nWASH_TRADE: WASH_TRADE\nRESTRICTED_INSTRUMENT: RESTRICTED_INSTRUMENT\nTRADING_HOURS: TRADING_HOURS', enum_type=RuleType, max_length=24)),
                ('severity', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL', enum_type=ViolationSeverity, max_length=8)),
                ('status', fields.CharEnumField(default=ViolationStatus.OPEN, description='OPEN: OPEN\nACKNOWLEDGED: ACKNOWLEDGED\nRESOLVED: RESOLVED', enum_type=ViolationStatus, max_length=12)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField(null=True)),
                ('order_id', fields.UUIDField(null=True)),
                ('bot_id', fields.CharField(null=True, max_length=64)),
                ('venue', fields.CharField(null=True, max_length=32)),
                ('symbol', fields.CharField(null=True, max_length=32)),
                ('description', fields.TextField(unique=False)),
                ('recommendation', fields.TextField(unique=False)),
                ('detected_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_by', fields.UUIDField(null=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.UUIDField(null=True)),
                ('resolution_note', fields.TextField(default='', unique=False)),
                ('published', fields.BooleanField(default=False, db_index=True)),
            ],
            options={'table': 'compliance_violations', 'app': 'trading', 'indexes': [Index(fields=['user_id', 'detected_at'])], 'pk_attr': 'id', 'table_description': 'A breach of a SOFT rule, raised after the fact, and its handling.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeadMansSwitch',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(unique=True)),
                ('armed', fields.BooleanField(default=False)),
                ('timeout_seconds', fields.IntField(default=0)),
                ('armed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('triggered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('trigger_day', fields.CharField(default='', max_length=10)),
                ('triggers_today', fields.IntField(default=0)),
                ('cancelled_orders', fields.IntField(default=0)),
            ],
            options={'table': 'dead_mans_switches', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'The scheduled cancel of a user: without a heartbeat before expires_at, every working order is cancelled.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RiskBaseline',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account_id', fields.UUIDField()),
                ('day', fields.CharField(max_length=10)),
                ('realized', fields.DecimalField(max_digits=30, decimal_places=12)),
            ],
            options={'table': 'compliance_risk_baselines', 'app': 'trading', 'unique_together': (('account_id', 'day'),), 'pk_attr': 'id', 'table_description': 'The realized result of a venue account at its first check of a UTC day, the base of its daily loss.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='KillSwitch',
            name='level',
            field=fields.CharEnumField(default=KillLevel.CANCEL_ALL, db_default='CANCEL_ALL', description='BLOCK_ENTRIES: BLOCK_ENTRIES\nCANCEL_ALL: CANCEL_ALL\nFLATTEN: FLATTEN', enum_type=KillLevel, max_length=16),
        ),
        ops.AddField(
            model_name='KillSwitchEvent',
            name='closing_orders',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='KillSwitchEvent',
            name='level',
            field=fields.CharEnumField(default=KillLevel.CANCEL_ALL, db_default='CANCEL_ALL', description='BLOCK_ENTRIES: BLOCK_ENTRIES\nCANCEL_ALL: CANCEL_ALL\nFLATTEN: FLATTEN', enum_type=KillLevel, max_length=16),
        ),
    ]
