from tortoise import migrations
from tortoise.migrations import operations as ops
from models.bots import BotStatus, LogLevel, RiskLevel
from models.venues import Environment
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0033_leaderboard')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Bot',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('strategy_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('route_via', fields.CharField(null=True, max_length=100)),
                ('environment', fields.CharEnumField(description='PAPER: PAPER\nLIVE: LIVE', enum_type=Environment, max_length=8)),
                ('risk_level', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH', enum_type=RiskLevel, max_length=8)),
                ('allocated_capital', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('max_position_size', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('stop_loss', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('take_profit', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('trailing_stop', fields.BooleanField(default=False)),
                ('risk_per_trade', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('allowed_pairs', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('trading_start_minute', fields.IntField(null=True)),
                ('trading_end_minute', fields.IntField(null=True)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('rebalance_frequency', fields.CharField(default='NONE', max_length=16)),
                ('interval', fields.CharField(default='1m', max_length=8)),
                ('status', fields.CharEnumField(default=BotStatus.STOPPED, description='RUNNING: RUNNING\nSTOPPED: STOPPED\nPAUSED: PAUSED\nERROR: ERROR', enum_type=BotStatus, max_length=8)),
                ('status_reason', fields.CharField(null=True, max_length=500)),
                ('entries_stopped', fields.BooleanField(default=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_activity_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('runner', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('state', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'bots', 'app': 'trading', 'indexes': [Index(fields=['status', 'lease_until'])], 'pk_attr': 'id', 'table_description': 'A bot: which strategy trades which venue account, within which risk settings, and who runs it now.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BotLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bot_id', fields.UUIDField()),
                ('level', fields.CharEnumField(description='DEBUG: DEBUG\nINFO: INFO\nWARNING: WARNING\nERROR: ERROR', enum_type=LogLevel, max_length=8)),
                ('message', fields.CharField(max_length=500)),
                ('detail', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'bot_logs', 'app': 'trading', 'indexes': [Index(fields=['bot_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One structured line of a bot log, newest read first.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Order',
            name='bot_id',
            field=fields.UUIDField(null=True, db_index=True),
        ),
    ]
