from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('trading', '0006_seed_venues')]

    initial = False

    operations = [
        ops.AddField(
            model_name='EquitySnapshot',
            name='benchmark_price',
            field=fields.DecimalField(null=True, max_digits=30, decimal_places=12),
        ),
    ]
