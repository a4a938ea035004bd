from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.alerts import Severity
from models.killswitch import KillScope
from models.orders import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from models.venues import AccountStatus, Environment, VenueType
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0004_audit_append_only')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Alert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user_id', fields.UUIDField(null=True, db_index=True)),
                ('type', fields.CharField(max_length=32)),
                ('category', fields.CharField(max_length=32)),
                ('severity', fields.CharEnumField(description='INFO: INFO\nWARNING: WARNING\nCRITICAL: CRITICAL', enum_type=Severity, max_length=8)),
                ('title', fields.CharField(max_length=200)),
                ('message', fields.TextField(unique=False)),
                ('source', fields.CharField(default='', max_length=64)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'alerts', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A notification for one user (or for every admin when user_id is null).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Candle',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instrument', fields.ForeignKeyField('trading.Instrument', source_field='instrument_id', db_constraint=True, to_field='id', related_name='candles', on_delete=OnDelete.CASCADE)),
                ('interval', fields.CharField(max_length=4)),
                ('open_time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('open', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('high', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('low', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('close', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('volume', fields.DecimalField(max_digits=30, decimal_places=12)),
            ],
            options={'table': 'candles', 'app': 'trading', 'unique_together': (('instrument', 'interval', 'open_time'),), 'pk_attr': 'id', 'table_description': 'OHLCV of one instrument over one interval, built from feed ticks (open_time is the interval start).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EquitySnapshot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account_id', fields.UUIDField()),
                ('ts', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('equity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('cash', fields.DecimalField(max_digits=30, decimal_places=12)),
            ],
            options={'table': 'equity_snapshots', 'app': 'trading', 'indexes': [Index(fields=['account_id', 'ts'])], 'pk_attr': 'id', 'table_description': 'Account value at a moment (cash plus positions at mark), for performance and risk.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='KillSwitch',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope', fields.CharEnumField(description='GLOBAL: GLOBAL\nACCOUNT: ACCOUNT', enum_type=KillScope, max_length=8)),
                ('user_id', fields.UUIDField(null=True, unique=True)),
                ('active', fields.BooleanField(default=False)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('changed_by', fields.UUIDField(null=True)),
                ('changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'kill_switches', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'The state of one kill switch: the GLOBAL one (seeded) or the ACCOUNT switch of one user.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='KillSwitchEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope', fields.CharEnumField(description='GLOBAL: GLOBAL\nACCOUNT: ACCOUNT', enum_type=KillScope, max_length=8)),
                ('user_id', fields.UUIDField(null=True, db_index=True)),
                ('active', fields.BooleanField()),
                ('reason', fields.CharField(default='', max_length=500)),
                ('actor_id', fields.UUIDField(null=True)),
                ('cancelled_orders', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'kill_switch_events', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'History: each activation and deactivation, with what it did.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Venue',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('type', fields.CharEnumField(description='CRYPTO: CRYPTO\nTOKENIZED: TOKENIZED', enum_type=VenueType, max_length=16)),
                ('category', fields.CharField(max_length=32)),
                ('protocols', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('drop_copy', fields.BooleanField(default=False)),
                ('t0_settlement', fields.BooleanField(default=False)),
                ('logo_url', fields.CharField(default='', max_length=255)),
                ('website', fields.CharField(default='', max_length=255)),
                ('description', fields.CharField(default='', max_length=500)),
                ('symbols', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('supports_paper', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'venues', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A trading venue of the catalog (seeded by migration).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VenueAccount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('trading.User', source_field='user_id', db_constraint=True, to_field='id', related_name='venue_accounts', on_delete=OnDelete.CASCADE)),
                ('venue', fields.ForeignKeyField('trading.Venue', source_field='venue_id', db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.RESTRICT)),
                ('environment', fields.CharEnumField(description='PAPER: PAPER\nLIVE: LIVE', enum_type=Environment, max_length=8)),
                ('label', fields.CharField(default='', max_length=100)),
                ('status', fields.CharEnumField(default=AccountStatus.CONNECTED, description='CONNECTED: CONNECTED\nDISCONNECTED: DISCONNECTED\nERROR: ERROR', enum_type=AccountStatus, max_length=16)),
                ('quote_asset', fields.CharField(default='USDC', max_length=16)),
                ('credentials', fields.TextField(null=True, unique=False)),
                ('starting_balance', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_sync_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('disconnected_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'venue_accounts', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A user account on a venue. Paper accounts trade on the built-in engine.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Balance',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('trading.VenueAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='balances', on_delete=OnDelete.CASCADE)),
                ('asset', fields.CharField(max_length=16)),
                ('total', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('reserved', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'balances', 'app': 'trading', 'unique_together': (('account', 'asset'),), 'pk_attr': 'id', 'table_description': 'Cash of one asset in a venue account: total, and the part reserved by working orders.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Order',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('trading.VenueAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='BUY: BUY\nSELL: SELL', enum_type=Side, max_length=4)),
                ('type', fields.CharEnumField(description='MARKET: MARKET\nLIMIT: LIMIT\nSTOP: STOP\nSTOP_LIMIT: STOP_LIMIT', enum_type=OrderType, max_length=16)),
                ('time_in_force', fields.CharEnumField(description='GTC: GTC\nIOC: IOC\nFOK: FOK', enum_type=TimeInForce, max_length=4)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('price', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('stop_price', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('filled_quantity', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('average_price', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('fees', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('status', fields.CharEnumField(description='PENDING: PENDING\nOPEN: OPEN\nPARTIALLY_FILLED: PARTIALLY_FILLED\nFILLED: FILLED\nCANCELED: CANCELED\nREJECTED: REJECTED', enum_type=OrderStatus, max_length=20)),
                ('client_order_id', fields.CharField(null=True, max_length=64)),
                ('reserved_cash', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('reserved_quantity', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('reason', fields.CharField(null=True, max_length=200)),
                ('triggered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'orders', 'app': 'trading', 'unique_together': (('account', 'client_order_id'),), 'indexes': [Index(fields=['account_id', 'status']), Index(fields=['user_id', 'created_at']), Index(fields=['symbol', 'status'])], 'pk_attr': 'id', 'table_description': 'An order on a venue account. The reserved columns hold what it blocks until it fills or is cancelled.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Fill',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('trading.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='fills', on_delete=OnDelete.CASCADE)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharEnumField(description='BUY: BUY\nSELL: SELL', enum_type=Side, max_length=4)),
                ('price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('fee', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('liquidity', fields.CharEnumField(description='MAKER: MAKER\nTAKER: TAKER', enum_type=Liquidity, max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'fills', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'One execution of an order: price, quantity and fee (in the quote asset).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Position',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('trading.VenueAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='positions', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('quantity', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('reserved_quantity', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('average_entry_price', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('realized_pnl', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('fees', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'positions', 'app': 'trading', 'unique_together': (('account', 'symbol'),), 'pk_attr': 'id', 'table_description': 'Net holding of one instrument in one account, derived from its fills.'},
            bases=['Model'],
        ),
    ]
