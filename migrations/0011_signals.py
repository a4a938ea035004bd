from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0010_position_cost_basis')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SignalRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instrument', fields.ForeignKeyField('trading.Instrument', source_field='instrument_id', db_constraint=True, to_field='id', related_name='signals', on_delete=OnDelete.CASCADE)),
                ('interval', fields.CharField(max_length=4)),
                ('action', fields.CharField(max_length=4)),
                ('previous_action', fields.CharField(null=True, max_length=4)),
                ('strength', fields.IntField()),
                ('confidence', fields.DecimalField(max_digits=6, decimal_places=4)),
                ('entry', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('stop_loss', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('take_profit', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('readings', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('candle_time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'signals', 'app': 'trading', 'indexes': [Index(fields=['instrument_id', 'interval', 'id'])], 'pk_attr': 'id', 'table_description': 'A signal of one instrument and interval, stored by the feed leader when its action changed.'},
            bases=['Model'],
        ),
    ]
