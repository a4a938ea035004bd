from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('trading', '0041_agents')]

    initial = False

    operations = [
        ops.AddField(
            model_name='TradingSession',
            name='runner',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='TradingSession',
            name='lease_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='TradingSession',
            name='signal_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='SessionPosition',
            name='open_step',
            field=fields.BigIntField(null=True),
        ),
    ]
