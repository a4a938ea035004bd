"""The audit log's hash chain: each row's place (seq), and the head's last place; the rows written before
this migration are chained in id order (graphql_api/audit.py defines the hash)."""

from datetime import datetime
from typing import Any

from orjson import loads
from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from graphql_api.audit import hash_content

_BATCH = 500
_COLUMNS = "id, at, actor_id, actor_label, action, target_type, target_id, ip, request_id, outcome, detail"

# The append-only triggers of 0004, lifted while the existing rows get their links.
_SQLITE_TRIGGERS = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""


def _values(row: dict[str, Any]) -> dict[str, Any]:
    at = row["at"] if isinstance(row["at"], datetime) else datetime.fromisoformat(row["at"])
    detail = loads(row["detail"]) if isinstance(row["detail"], str | bytes) else row["detail"]
    return {**{k: v for k, v in row.items() if k != "id"}, "at": at, "detail": detail}


async def forward(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    mark = (lambda n: f"${n}") if postgres else (lambda n: "?")
    if postgres:
        await client.execute_script("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;")
    else:
        await client.execute_script("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
    seq, last_id, prev_hash = 0, 0, ""
    update = f"UPDATE audit_log SET seq = {mark(1)}, prev_hash = {mark(2)}, hash = {mark(3)} WHERE id = {mark(4)}"
    while True:
        rows = await client.execute_query_dict(
            f"SELECT {_COLUMNS} FROM audit_log WHERE id > {mark(1)} ORDER BY id LIMIT {_BATCH}", [last_id]
        )
        for row in rows:
            seq += 1
            values = {**_values(row), "seq": seq, "prev_hash": prev_hash}
            prev_hash = hash_content(values)
            last_id = row["id"]
            await client.execute_query(update, [seq, values["prev_hash"], prev_hash, last_id])
        if len(rows) < _BATCH:
            break
    await client.execute_query(
        f"UPDATE audit_chain_head SET last_id = {mark(1)}, last_seq = {mark(2)}, last_hash = {mark(3)} WHERE id = 1",
        [last_id, seq, prev_hash],
    )
    if postgres:
        await client.execute_script("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;")
    else:
        await client.execute_script(_SQLITE_TRIGGERS)


async def backward(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    pass


class Migration(migrations.Migration):
    dependencies = [('trading', '0041_agents'), ('trading', '0043_session_engine')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AuditEntry',
            name='seq',
            field=fields.BigIntField(null=True, unique=True),
        ),
        ops.AddField(
            model_name='AuditChainHead',
            name='last_seq',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.RunPython(forward, backward),
    ]
