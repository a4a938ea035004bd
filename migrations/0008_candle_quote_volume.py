from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('trading', '0007_equity_benchmark')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Candle',
            name='quote_volume',
            field=fields.DecimalField(default=0, max_digits=30, decimal_places=12),
        ),
    ]
