from tortoise import migrations
from tortoise.migrations import operations as ops
from models.leaderboard import StandingPeriod
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0034_strategies')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LeaderboardProfile',
            fields=[
                ('user_id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('display_name', fields.CharField(null=True, max_length=32)),
                ('hidden', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'leaderboard_profiles', 'app': 'trading', 'pk_attr': 'user_id', 'table_description': 'How a user appears on the leaderboard: a display name, or not at all (hidden).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReferralReward',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('fill_id', fields.BigIntField(unique=True)),
                ('referrer_id', fields.UUIDField()),
                ('referred_id', fields.UUIDField()),
                ('volume', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('fee', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('amount', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('claim_txn', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'referral_rewards', 'app': 'trading', 'indexes': [Index(fields=['referrer_id', 'claim_txn']), Index(fields=['referrer_id', 'referred_id'])], 'pk_attr': 'id', 'table_description': 'The referrer share of the fee of one fill: one row per fill, so a fill can reward only once. A claim'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Standing',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.UUIDField()),
                ('period', fields.CharEnumField(description='DAY: DAY\nWEEK: WEEK\nMONTH: MONTH\nALL: ALL', enum_type=StandingPeriod, max_length=8)),
                ('period_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('volume', fields.DecimalField(default=0, max_digits=30, decimal_places=12)),
                ('realized_pnl', fields.DecimalField(default=0, max_digits=30, decimal_places=12)),
                ('fees', fields.DecimalField(default=0, max_digits=30, decimal_places=12)),
                ('closed_cost', fields.DecimalField(default=0, max_digits=30, decimal_places=12)),
                ('trades', fields.IntField(default=0)),
                ('closes', fields.IntField(default=0)),
                ('wins', fields.IntField(default=0)),
                ('pnl_key', fields.BigIntField(default=0)),
                ('roi_key', fields.BigIntField(default=0)),
                ('win_rate_key', fields.BigIntField(default=0)),
                ('volume_key', fields.BigIntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'leaderboard_standings', 'app': 'trading', 'unique_together': (('user_id', 'period', 'period_start'),), 'indexes': [Index(fields=['period', 'period_start', 'pnl_key', 'user_id']), Index(fields=['period', 'period_start', 'roi_key', 'user_id']), Index(fields=['period', 'period_start', 'win_rate_key', 'user_id']), Index(fields=['period', 'period_start', 'volume_key', 'user_id'])], 'pk_attr': 'id', 'table_description': 'One user over one period (a UTC day, week or month, or all time): exact sums updated by each fill,'},
            bases=['Model'],
        ),
    ]
