from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.funds import EntryKind
from models.perps import MarginMode
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0024_compliance')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FundingRound',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('funding_time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('oracle_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('premium', fields.DecimalField(max_digits=20, decimal_places=12)),
                ('rate', fields.DecimalField(max_digits=20, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'perp_funding_rounds', 'app': 'trading', 'unique_together': (('symbol', 'funding_time'),), 'pk_attr': 'id', 'table_description': 'A funding settlement of one instrument at one hour: written once, so a round is paid once in a cluster.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('txn_id', fields.UUIDField(db_index=True)),
                ('ledger_account', fields.CharField(max_length=64)),
                ('account_id', fields.UUIDField(null=True)),
                ('user_id', fields.UUIDField(null=True)),
                ('kind', fields.CharEnumField(description='OPENING: OPENING\nDEPOSIT: DEPOSIT\nWITHDRAWAL: WITHDRAWAL\nTRANSFER_IN: TRANSFER_IN\nTRANSFER_OUT: TRANSFER_OUT\nREALIZED_PNL: REALIZED_PNL\nFEE: FEE\nFUNDING: FUNDING\nLIQUIDATION: LIQUIDATION\nINSURANCE: INSURANCE\nREWARD: REWARD', enum_type=EntryKind, max_length=16)),
                ('amount', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('balance_after', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('asset', fields.CharField(default='USDC', max_length=16)),
                ('detail', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_entries', 'app': 'trading', 'indexes': [Index(fields=['ledger_account', 'id']), Index(fields=['user_id', 'created_at', 'id'])], 'pk_attr': 'id', 'table_description': 'One leg of a ledger transaction. The legs of a transaction sum to zero, and an account balance is the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Liquidation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('size', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('entry_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('mark_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('margin_mode', fields.CharEnumField(description='CROSS: CROSS\nISOLATED: ISOLATED', enum_type=MarginMode, max_length=8)),
                ('realized_pnl', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('insurance_covered', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'perp_liquidations', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A position closed by the liquidation engine, and who absorbed a shortfall.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PerpPosition',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('trading.VenueAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='perp_positions', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('size', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('entry_price', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('leverage', fields.IntField(default=1)),
                ('margin_mode', fields.CharEnumField(default=MarginMode.CROSS, description='CROSS: CROSS\nISOLATED: ISOLATED', enum_type=MarginMode, max_length=8)),
                ('isolated_margin', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('realized_pnl', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('fees', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('funding_paid', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('last_price', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'perp_positions', 'app': 'trading', 'unique_together': (('account', 'symbol'),), 'pk_attr': 'id', 'table_description': 'A perpetual position: signed size (long above zero, short below), entry, leverage and margin.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FundingPayment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('position', fields.ForeignKeyField('trading.PerpPosition', source_field='position_id', db_constraint=True, to_field='id', related_name='funding_payments', on_delete=OnDelete.CASCADE)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('symbol', fields.CharField(max_length=32)),
                ('size', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('oracle_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('premium', fields.DecimalField(max_digits=20, decimal_places=12)),
                ('rate', fields.DecimalField(max_digits=20, decimal_places=12)),
                ('amount', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('funding_time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'perp_funding_payments', 'app': 'trading', 'unique_together': (('position', 'funding_time'),), 'pk_attr': 'id', 'table_description': 'One hourly funding settlement of one position: what was paid (positive) or received (negative).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PerpSetting',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('trading.VenueAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='perp_settings', on_delete=OnDelete.CASCADE)),
                ('symbol', fields.CharField(max_length=32)),
                ('leverage', fields.IntField()),
                ('margin_mode', fields.CharEnumField(description='CROSS: CROSS\nISOLATED: ISOLATED', enum_type=MarginMode, max_length=8)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'perp_settings', 'app': 'trading', 'unique_together': (('account', 'symbol'),), 'pk_attr': 'id', 'table_description': 'Leverage and margin mode of one asset in one account, as updateLeverage last set them.'},
            bases=['Model'],
        ),
    ]
