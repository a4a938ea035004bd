"""Make the audit log append-only in the database itself: updates and deletes raise."""

from tortoise import migrations
from tortoise.migrations import operations as ops

_POSTGRES = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""

_SQLITE = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""


async def forward(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    dialect = schema_editor.client.capabilities.dialect
    await schema_editor.client.execute_script(_POSTGRES if dialect == "postgres" else _SQLITE)


async def backward(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(
            "DROP TRIGGER audit_log_append_only ON audit_log; DROP FUNCTION audit_log_append_only();"
        )
    else:
        await schema_editor.client.execute_script(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        )


class Migration(migrations.Migration):
    dependencies = [("trading", "0003_identity_and_audit")]

    operations = [ops.RunPython(forward, backward)]
