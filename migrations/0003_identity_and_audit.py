from tortoise import migrations
from tortoise.migrations import operations as ops
from models.audit import Outcome
from models.identity import AuthMethod, Role, UserStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0002_seed_instruments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('actor_id', fields.UUIDField(null=True, db_index=True)),
                ('actor_label', fields.CharField(default='', max_length=254)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('target_type', fields.CharField(default='', max_length=32)),
                ('target_id', fields.CharField(default='', db_index=True, max_length=64)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('outcome', fields.CharEnumField(description='SUCCESS: SUCCESS\nFAILURE: FAILURE\nDENIED: DENIED', enum_type=Outcome, max_length=16)),
                ('detail', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'audit_log', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'One audited action. Rows are only ever inserted (PostgreSQL enforces it with a trigger).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('email', fields.CharField(null=True, unique=True, max_length=254)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('wallet_address', fields.CharField(null=True, unique=True, max_length=42)),
                ('name', fields.CharField(default='', max_length=100)),
                ('role', fields.CharEnumField(default=Role.TRADER, description='ADMIN: ADMIN\nTRADER: TRADER\nVIEWER: VIEWER', enum_type=Role, max_length=16)),
                ('status', fields.CharEnumField(default=UserStatus.ACTIVE, description='ACTIVE: ACTIVE\nPENDING: PENDING\nSUSPENDED: SUSPENDED', enum_type=UserStatus, max_length=16)),
                ('totp_secret', fields.CharField(null=True, max_length=255)),
                ('totp_pending_secret', fields.CharField(null=True, max_length=255)),
                ('totp_last_step', fields.BigIntField(null=True)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('language', fields.CharField(default='en', max_length=16)),
                ('notification_preferences', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('referral_code', fields.CharField(unique=True, max_length=16)),
                ('referred_by', fields.ForeignKeyField('trading.User', source_field='referred_by_id', null=True, db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.SET_NULL)),
                ('suspended_reason', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'An account. Signs in by email and password, by an Ethereum wallet, or both.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('trading.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('method', fields.CharEnumField(description='PASSWORD: PASSWORD\nWALLET: WALLET', enum_type=AuthMethod, max_length=16)),
                ('device', fields.CharField(default='', max_length=200)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('user_agent', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_reason', fields.CharField(null=True, max_length=100)),
            ],
            options={'table': 'sessions', 'app': 'trading', 'indexes': [Index(fields=['user_id', 'revoked_at'])], 'pk_attr': 'id', 'table_description': 'One signed-in device. Its refresh tokens rotate, and reusing a rotated one revokes it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('trading.Session', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A refresh token, stored only as its SHA-256. used_at is set when it is rotated.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WalletNonce',
            fields=[
                ('nonce', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('address', fields.CharField(db_index=True, max_length=42)),
                ('message', fields.TextField(unique=False)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('consumed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'wallet_nonces', 'app': 'trading', 'pk_attr': 'nonce', 'table_description': 'A single-use Sign-In with Ethereum challenge: the exact message issued and when it expires.'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='LastPrice',
            options={'table': 'last_prices', 'app': 'trading', 'pk_attr': 'instrument_id', 'table_description': 'The latest feed tick of one instrument: step counts the feed steps for it (monotonic).'},
        ),
    ]
