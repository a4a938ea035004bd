from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.trading_sessions import EndReason, ExecutionStrategy, LogKind, LotStatus, SessionKind, SessionStatus, StrategyDuration, TradeSide
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0028_perps_funds')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TradingSession',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('account', fields.ForeignKeyField('trading.VenueAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='trading_sessions', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='QUICK: QUICK\nADVANCED: ADVANCED', enum_type=SessionKind, max_length=8)),
                ('asset_index', fields.IntField()),
                ('symbol', fields.CharField(max_length=32)),
                ('budget', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('profit_target', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('loss_threshold', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('max_positions', fields.IntField()),
                ('execution_strategy', fields.CharEnumField(description='CONSERVATIVE: CONSERVATIVE\nAGGRESSIVE: AGGRESSIVE\nDEGEN: DEGEN', enum_type=ExecutionStrategy, max_length=12)),
                ('strategy_duration', fields.CharEnumField(null=True, description='D1: D1\nD3: D3\nD7: D7\nD30: D30\nD90: D90\nD365: D365', enum_type=StrategyDuration, max_length=4)),
                ('max_wallet_budget', fields.BooleanField(default=False)),
                ('leverage', fields.IntField()),
                ('status', fields.CharEnumField(default=SessionStatus.ACTIVE, description='ACTIVE: ACTIVE\nENDED: ENDED', enum_type=SessionStatus, max_length=8)),
                ('end_reason', fields.CharEnumField(null=True, description='PROFIT_TARGET: PROFIT_TARGET\nLOSS_THRESHOLD: LOSS_THRESHOLD\nDURATION: DURATION\nCLOSED_BY_USER: CLOSED_BY_USER', enum_type=EndReason, max_length=16)),
                ('active_asset', fields.IntField(null=True)),
                ('last_signal', fields.CharField(null=True, max_length=4)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'trading_sessions', 'app': 'trading', 'unique_together': (('user_id', 'active_asset'),), 'indexes': [Index(fields=['status', 'id'])], 'pk_attr': 'id', 'table_description': 'One session of one user on one asset of a Hyperliquid paper account. While ACTIVE, active_asset holds'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SessionLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('trading.TradingSession', source_field='session_id', db_constraint=True, to_field='id', related_name='logs', on_delete=OnDelete.CASCADE)),
                ('trade_id', fields.UUIDField(null=True)),
                ('kind', fields.CharEnumField(description='SESSION_STARTED: SESSION_STARTED\nSIGNAL: SIGNAL\nPOSITION_OPENED: POSITION_OPENED\nPOSITION_CLOSED: POSITION_CLOSED\nSKIPPED: SKIPPED\nTRADE_CLOSED: TRADE_CLOSED\nSESSION_ENDED: SESSION_ENDED', enum_type=LogKind, max_length=16)),
                ('message', fields.CharField(max_length=500)),
                ('detail', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'trading_session_logs', 'app': 'trading', 'indexes': [Index(fields=['session_id', 'id']), Index(fields=['trade_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One decision of a session, with its reason: what the engine or the user did, or chose not to do.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SessionTrade',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('trading.TradingSession', source_field='session_id', db_constraint=True, to_field='id', related_name='trades', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField()),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='LONG: LONG\nSHORT: SHORT', enum_type=TradeSide, max_length=5)),
                ('status', fields.CharEnumField(default=LotStatus.OPEN, description='OPEN: OPEN\nCLOSED: CLOSED', enum_type=LotStatus, max_length=8)),
                ('close_reason', fields.CharField(null=True, max_length=200)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'trading_session_trades', 'app': 'trading', 'pk_attr': 'id', 'table_description': "A session's run in the market: opened by its first position, closed when its last position closes."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SessionPosition',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('trade', fields.ForeignKeyField('trading.SessionTrade', source_field='trade_id', db_constraint=True, to_field='id', related_name='positions', on_delete=OnDelete.CASCADE)),
                ('session_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField()),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='LONG: LONG\nSHORT: SHORT', enum_type=TradeSide, max_length=5)),
                ('size', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('entry_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('open_order_id', fields.UUIDField()),
                ('open_fees', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('status', fields.CharEnumField(default=LotStatus.OPEN, description='OPEN: OPEN\nCLOSED: CLOSED', enum_type=LotStatus, max_length=8)),
                ('exit_price', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('close_order_id', fields.UUIDField(null=True)),
                ('close_fees', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('realized_pnl', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('close_reason', fields.CharField(null=True, max_length=200)),
                ('close_nonce', fields.CharField(null=True, max_length=66)),
                ('close_deadline', fields.BigIntField(null=True)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'trading_session_positions', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A lot the session engine opened with one market order and closes with one reduce-only order. Its'},
            bases=['Model'],
        ),
    ]
