from tortoise import migrations
from tortoise.migrations import operations as ops
from models.agents import AgentProfile, CopyKind, CopyStatus, SubscriptionStatus
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0030_alerts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Agent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('bot_id', fields.UUIDField(unique=True)),
                ('name', fields.CharField(max_length=100)),
                ('profile', fields.CharEnumField(description='CONSERVATIVE: CONSERVATIVE\nMODERATE: MODERATE\nAGGRESSIVE: AGGRESSIVE', enum_type=AgentProfile, max_length=16)),
                ('description', fields.CharField(default='', max_length=1000)),
                ('published', fields.BooleanField(default=True, db_index=True)),
                ('published_by', fields.UUIDField()),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'agents', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A bot published for copy trading: its name, profile and description as subscribers see them.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AgentSubscription',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('agent_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField(db_index=True)),
                ('allocation', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('status', fields.CharEnumField(default=SubscriptionStatus.ACTIVE, description='ACTIVE: ACTIVE\nENDED: ENDED', enum_type=SubscriptionStatus, max_length=8)),
                ('holdings', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'agent_subscriptions', 'app': 'trading', 'indexes': [Index(fields=['agent_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A user copying an agent into one of their venue accounts with an allocation (quote asset).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CopyOrder',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(default=CopyKind.MIRROR, description='MIRROR: MIRROR\nCLOSE: CLOSE', enum_type=CopyKind, max_length=8)),
                ('fill_id', fields.BigIntField(null=True)),
                ('subscription_id', fields.UUIDField()),
                ('agent_id', fields.UUIDField(db_index=True)),
                ('user_id', fields.UUIDField(db_index=True)),
                ('account_id', fields.UUIDField()),
                ('symbol', fields.CharField(max_length=32)),
                ('side', fields.CharField(max_length=4)),
                ('agent_quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('agent_price', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('quantity', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('order_quantity', fields.DecimalField(null=True, max_digits=30, decimal_places=12)),
                ('status', fields.CharEnumField(description='PENDING: PENDING\nCLAIMED: CLAIMED\nPLACED: PLACED\nSKIPPED: SKIPPED\nREFUSED: REFUSED\nCANCELED: CANCELED', enum_type=CopyStatus, max_length=8)),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
                ('claim_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('order_id', fields.UUIDField(null=True)),
                ('filled_quantity', fields.DecimalField(default=0, max_digits=30, decimal_places=12)),
                ('code', fields.CharField(null=True, max_length=64)),
                ('message', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'copy_orders', 'app': 'trading', 'unique_together': (('fill_id', 'subscription_id'),), 'indexes': [Index(fields=['status', 'id']), Index(fields=['subscription_id', 'id'])], 'pk_attr': 'id', 'table_description': 'The outbox and the copy log: one row per (agent fill, subscription), written in the fill transaction.'},
            bases=['Model'],
        ),
    ]
