from tortoise import migrations
from tortoise.migrations import operations as ops
from models.backtests import BacktestStatus
from models.strategies import StrategyStatus, StrategyType
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0031_recon')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Backtest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('strategy_id', fields.UUIDField(db_index=True)),
                ('strategy_type', fields.CharEnumField(description='TREND_FOLLOWING: TREND_FOLLOWING\nMEAN_REVERSION: MEAN_REVERSION\nGRID: GRID\nMARKET_MAKING: MARKET_MAKING\nARBITRAGE: ARBITRAGE', enum_type=StrategyType, max_length=16)),
                ('parameters', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('symbols', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('interval', fields.CharField(max_length=4)),
                ('start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('initial_capital', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('fee_rate', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('slippage', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('status', fields.CharEnumField(default=BacktestStatus.QUEUED, description='QUEUED: QUEUED\nRUNNING: RUNNING\nDONE: DONE\nFAILED: FAILED\nCANCELLED: CANCELLED', enum_type=BacktestStatus, max_length=9)),
                ('progress', fields.IntField(default=0)),
                ('bars_total', fields.IntField(default=0)),
                ('bars_done', fields.IntField(default=0)),
                ('error', fields.TextField(default='', unique=False)),
                ('cancel_requested', fields.BooleanField(default=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('metrics', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('equity_curve', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'backtests', 'app': 'trading', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One run of a strategy over stored candles: the inputs as asked, the state of the job, the results.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BacktestTrade',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('backtest_id', fields.UUIDField()),
                ('seq', fields.IntField()),
                ('symbol', fields.CharField(max_length=32)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('entry_time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('entry_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('exit_time', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('exit_price', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('fees', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('pnl', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
            ],
            options={'table': 'backtest_trades', 'app': 'trading', 'unique_together': (('backtest_id', 'seq'),), 'pk_attr': 'id', 'table_description': 'One closed (or, last, still open) lot of a backtest: FIFO from its entry fill to its exit fill.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Strategy',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('description', fields.TextField(default='', unique=False)),
                ('type', fields.CharEnumField(description='TREND_FOLLOWING: TREND_FOLLOWING\nMEAN_REVERSION: MEAN_REVERSION\nGRID: GRID\nMARKET_MAKING: MARKET_MAKING\nARBITRAGE: ARBITRAGE', enum_type=StrategyType, max_length=16)),
                ('status', fields.CharEnumField(default=StrategyStatus.INACTIVE, description='ACTIVE: ACTIVE\nINACTIVE: INACTIVE\nTESTING: TESTING', enum_type=StrategyStatus, max_length=8)),
                ('parameters', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('latest_backtest_id', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'strategies', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A user strategy: its type, validated parameters (stored as strings and integers) and status.'},
            bases=['Model'],
        ),
    ]
