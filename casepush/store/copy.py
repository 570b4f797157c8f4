"""Copy a whole casepush database into another, of either backend (``casepush db copy``).

Rows are copied as stored: ids, versions (``seq``), password and API key digests, sealed connector
secrets and in-flight push claims stay what they were, so the copy serves the same answers. Ordered
tables are copied in insertion order, which the target's generated positions then keep.
"""

from casepush.store import Store, Table
from casepush.store.outbox import COLUMNS as OUTBOX_COLUMNS
from casepush.store.sync import STATE_COLUMNS

#: Every table, parents before children.
TABLES = (
    Table("spaces", ("id", "data"), json_columns=frozenset({"data"})),
    Table("users", ("username", "password_hash", "data"), json_columns=frozenset({"data"})),
    Table("roles", ("name", "data"), json_columns=frozenset({"data"})),
    Table(
        "api_keys",
        ("id", "username", "secret_hash", "created_ms", "expires_ms", "invalidated_ms", "data"),
        json_columns=frozenset({"data"}),
    ),
    Table(
        "cases",
        (
            "id",
            "space_id",
            "seq",
            "owner",
            "status",
            "severity",
            "title",
            "description",
            "category",
            "reporter",
            "created_at",
            "updated_at",
            "closed_at",
            "data",
        ),
        json_columns=frozenset({"data"}),
    ),
    Table("case_tags", ("case_id", "tag")),
    Table("case_assignees", ("case_id", "uid")),
    Table(
        "attachments",
        ("id", "space_id", "case_id", "seq", "type", "created_at", "data"),
        json_columns=frozenset({"data"}),
        ordered=True,
    ),
    Table(
        "case_alerts", ("attachment_id", "case_id", "alert_id", "alert_index", "attached_at"), ordered=True
    ),
    Table(
        "user_actions",
        ("id", "space_id", "case_id", "type", "attachment_type", "created_at", "data"),
        json_columns=frozenset({"data"}),
        ordered=True,
    ),
    Table("configurations", ("id", "space_id", "owner", "seq", "data"), json_columns=frozenset({"data"})),
    Table(
        "connectors",
        ("id", "space_id", "type_id", "name", "config", "secrets", "created_at", "updated_at"),
        json_columns=frozenset({"config"}),
    ),
    Table(
        "push_claims",
        ("space_id", "case_id", "connector_id", "token", "expires_ms", "creating"),
        flag_columns=frozenset({"creating"}),
    ),
    Table(
        "automatic_push_settings",
        ("space_id", "owner", "connector_id", "data"),
        json_columns=frozenset({"data"}),
    ),
    Table(
        "case_sync_settings",
        ("space_id", "connector_id", "data", "inbound_secret"),
        json_columns=frozenset({"data"}),
    ),
    # Pushes waiting (or running: their leases run out and the copy's workers take them over).
    Table("automatic_pushes", tuple(OUTBOX_COLUMNS.split(", "))),
    Table("external_links", ("space_id", "connector_id", "external_id", "case_id")),
    Table("pushed_comments", ("space_id", "connector_id", "external_comment_id")),
    Table("imported_comments", ("space_id", "connector_id", "external_comment_id", "attachment_id")),
    Table("sync_changes", ("space_id", "connector_id", "change_id", "applied_ms")),
    Table("sync_state", tuple(STATE_COLUMNS.split(", "))),
)


class CopyError(Exception):
    """The copy cannot be made; nothing was written."""


def _portable(table: Table, row: tuple) -> tuple:
    """A row in the values both backends accept: JSON as UTF-8 bytes, flags as booleans."""
    values = []
    for column, value in zip(table.columns, row, strict=True):
        if column in table.json_columns and isinstance(value, str):
            value = value.encode()
        elif column in table.flag_columns:
            value = bool(value)
        values.append(value)
    return tuple(values)


async def copy_database(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` in one transaction, and return the rows per table.

    ``target`` must hold nothing but what its migrations made (the default space), which the source's
    default space replaces.
    """
    async with source.snapshot() as reading, target.bulk_write() as writing:
        held = {table.name: await writing.count_rows(table) for table in TABLES}
        held["spaces"] -= 1
        if any(held.values()):
            objects = ", ".join(f"{count} {name}" for name, count in held.items() if count > 0)
            raise CopyError(f"the target database is not empty (it holds {objects}); copy into a new one")
        await writing.delete_rows(TABLES[0])
        copied = dict.fromkeys((table.name for table in TABLES), 0)
        for table in TABLES:
            async for batch in reading.table_rows(table):
                await writing.insert_rows(table, [_portable(table, row) for row in batch])
                copied[table.name] += len(batch)
    await target.analyze()
    return copied
