from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('trading', '0008_candle_quote_volume')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Order',
            name='filled_notional',
            field=fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12),
        ),
    ]
