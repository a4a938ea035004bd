from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0011_signals')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Fill',
            index=Index(fields=['order_id', 'id']),
        ),
    ]
