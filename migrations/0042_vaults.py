from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.vaults import FeePeriod, VaultEntryKind
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('trading', '0044_audit_chain')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Vault',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('description', fields.CharField(default='', max_length=1000)),
                ('manager_user_id', fields.UUIDField(db_index=True)),
                ('manager_bot_id', fields.UUIDField(null=True)),
                ('account_id', fields.UUIDField(unique=True)),
                ('performance_fee_rate', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('fee_period', fields.CharEnumField(description='MONTHLY: MONTHLY\nQUARTERLY: QUARTERLY\nYEARLY: YEARLY', enum_type=FeePeriod, max_length=16)),
                ('minimum_deposit', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('shares_outstanding', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('last_crystallized_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_crystallization_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.UUIDField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'vaults', 'app': 'trading', 'pk_attr': 'id', 'table_description': 'A vault: its own paper venue account (owned by the manager, who or whose bot trades it), its fee'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VaultEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('vault_id', fields.UUIDField()),
                ('user_id', fields.UUIDField()),
                ('kind', fields.CharEnumField(description='DEPOSIT: DEPOSIT\nWITHDRAWAL: WITHDRAWAL\nFEE: FEE', enum_type=VaultEntryKind, max_length=16)),
                ('shares', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('amount', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('nav_per_share', fields.DecimalField(max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'vault_entries', 'app': 'trading', 'indexes': [Index(fields=['vault_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One change of a position: a deposit (shares issued), a withdrawal (shares burned) or a fee (shares moved'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VaultPosition',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('vault_id', fields.UUIDField()),
                ('user_id', fields.UUIDField(db_index=True)),
                ('payout_account_id', fields.UUIDField(null=True)),
                ('shares', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('cost_basis', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('high_water_mark', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('deposited', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('withdrawn', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('fees_paid', fields.DecimalField(default=Decimal('0'), max_digits=30, decimal_places=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'vault_positions', 'app': 'trading', 'unique_together': (('vault_id', 'user_id'),), 'pk_attr': 'id', 'table_description': 'The holding of one user in one vault: shares, the cost of the shares held, and the high-water mark (NAV per'},
            bases=['Model'],
        ),
    ]
