from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.orders import OrderType, Side, TimeInForce
from models.preferences import Theme
from models.reconciliation import BreakStatus, BreakType, DropCopyFormat, RecordSource, Settlement
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0032_trading_sessions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('prefix', fields.CharField(max_length=16)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('allowed_ips', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_keys', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A user API key: the SHA-256 of its secret, its scopes, optional address allow-list and expiry.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DropCopy',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField()),
                ('format', fields.CharEnumField(description='CSV: CSV\nJSON: JSON', enum_type=DropCopyFormat, max_length=8)),
                ('rows', fields.IntField()),
                ('uploaded_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'drop_copies', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'One uploaded drop-copy file of a venue account: its executions are the venue side of a reconciliation.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DropCopyExecution',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('drop_copy_id', fields.UUIDField()),
                ('account_id', fields.UUIDField()),
                ('exec_id', fields.CharField(max_length=64)),
                ('order_id', fields.CharField(null=True, max_length=64)),
                ('client_order_id', fields.CharField(null=True, max_length=64)),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='BUY: BUY\nSELL: SELL', enum_type=Side, max_length=4)),
                ('price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('fee', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('cash_delta', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('executed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settlement_date', fields.DateField()),
            ],
            options={'table': 'drop_copy_executions', 'app': 'trading', 'unique_together': (('account_id', 'exec_id'),), 'pk_attr': 'id', 'table_description': 'An execution report of a drop copy, in FIX execution report terms (the latest upload of an ExecID wins).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Preferences',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(unique=True)),
                ('theme', fields.CharEnumField(default=Theme.SYSTEM, description='SYSTEM: SYSTEM\nLIGHT: LIGHT\nDARK: DARK', enum_type=Theme, max_length=8)),
                ('display_currency', fields.CharField(default='USD', max_length=8)),
                ('default_account_id', fields.UUIDField(null=True)),
                ('default_order_type', fields.CharEnumField(default=OrderType.LIMIT, description='MARKET: MARKET\nLIMIT: LIMIT\nSTOP: STOP\nSTOP_LIMIT: STOP_LIMIT', enum_type=OrderType, max_length=16)),
                ('default_time_in_force', fields.CharEnumField(default=TimeInForce.GTC, description='GTC: GTC\nIOC: IOC\nFOK: FOK', enum_type=TimeInForce, max_length=4)),
                ('confirm_above_notional', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('max_order_notional', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'user_preferences', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A user display and trading preferences. max_order_notional is enforced by the pre-trade checks.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciledTrade',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reconciliation_id', fields.UUIDField()),
                ('exec_id', fields.CharField(max_length=64)),
                ('order_id', fields.CharField(null=True, max_length=64)),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='BUY: BUY\nSELL: SELL', enum_type=Side, max_length=4)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('executed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settlement_date', fields.DateField()),
                ('settlement', fields.CharEnumField(description='SETTLED: SETTLED\nPENDING: PENDING\nFAILED: FAILED', enum_type=Settlement, max_length=8)),
            ],
            options={'table': 'reconciled_trades', 'app': 'trading', 'indexes': [Index(fields=['reconciliation_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A trade seen by a run, on either side, with its T+0 settlement status.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reconciliation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('source', fields.CharEnumField(description='JOURNAL: JOURNAL\nDROP_COPY: DROP_COPY', enum_type=RecordSource, max_length=12)),
                ('as_of', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('trades_compared', fields.IntField(default=0)),
                ('trades_matched', fields.IntField(default=0)),
                ('breaks', fields.IntField(default=0)),
                ('books_cash', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('venue_cash', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('run_by', fields.UUIDField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reconciliations', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'One run: the books of a venue account compared with the venue records as of a time.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationBreak',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('reconciliation_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField()),
                ('user_id', fields.UUIDField(db_index=True)),
                ('type', fields.CharEnumField(description='MISSING_AT_VENUE: MISSING_AT_VENUE\nMISSING_IN_BOOKS: MISSING_IN_BOOKS\nQUANTITY_MISMATCH: QUANTITY_MISMATCH\nPRICE_MISMATCH: PRICE_MISMATCH\nCASH_MISMATCH: CASH_MISMATCH\nPOSITION_MISMATCH: POSITION_MISMATCH', enum_type=BreakType, max_length=20)),
                ('exec_id', fields.CharField(null=True, max_length=64)),
                ('order_id', fields.CharField(null=True, max_length=64)),
                ('symbol', fields.CharField(null=True, max_length=32)),
                ('expected', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('actual', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('description', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=BreakStatus.OPEN, description='OPEN: OPEN\nRESOLVED: RESOLVED', enum_type=BreakStatus, max_length=8)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.UUIDField(null=True)),
                ('resolution_note', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reconciliation_breaks', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A difference between the books and the venue: what the books say (expected) and the venue (actual).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VenueCashMovement',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('amount', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'venue_cash_movements', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A cash movement at the venue that is not an execution (perp PnL, fees, funding, deposits).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VenueExecution',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account_id', fields.UUIDField()),
                ('exec_id', fields.CharField(max_length=64)),
                ('order_id', fields.CharField(null=True, max_length=64)),
                ('client_order_id', fields.CharField(null=True, max_length=64)),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='BUY: BUY\nSELL: SELL', enum_type=Side, max_length=4)),
                ('price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('fee', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('cash_delta', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('executed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'venue_executions', 'app': 'trading', 'unique_together': (('account_id', 'exec_id'),), 'indexes': [Index(fields=['account_id', 'executed_at'])], 'pk_attr': 'id', 'table_description': 'An execution as the paper venue reports it, written by the venue when it fills, apart from the books.'},
            bases=['Model'],
        ),
    ]
