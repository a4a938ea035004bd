from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('trading', '0016_fills_by_order')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AuditEntry',
            name='request_id',
            field=fields.CharField(default='', db_index=True, max_length=128),
        ),
    ]
