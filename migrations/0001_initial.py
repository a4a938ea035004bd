from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Instrument',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('symbol', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('asset_index', fields.IntField(unique=True)),
                ('base', fields.CharField(max_length=16)),
                ('quote', fields.CharField(max_length=16)),
                ('tick_size', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('lot_size', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('initial_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('volatility', fields.DecimalField(max_digits=12, decimal_places=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'instruments', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A tradable instrument. asset_index follows the Hyperliquid perp numbering (BTC 0, ETH 1, ...).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LastPrice',
            fields=[
                ('instrument', fields.OneToOneField('trading.Instrument', source_field='instrument_id', primary_key=True, db_index=True, db_constraint=True, to_field='id', related_name='last_price', on_delete=OnDelete.CASCADE)),
                ('price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('step', fields.BigIntField()),
                ('ts', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'last_prices', 'app': 'trading', 'pk_attr': 'instrument_id', 'table_description': 'The latest feed tick of one instrument: step counts the feed steps for it (monotonic).'},
            bases=['Model'],
        ),
    ]
