"""Joins the two ends of the chain (vaults and the audit chain landed side by side), so the history has
one head again; it changes nothing."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("trading", "0042_vaults"), ("trading", "0044_audit_chain")]

    initial = False

    operations: list = []
