"""The pieces of both backends' statements: documents stored as JSON with a ``seq`` counter behind
Kibana's versions, the codes of sortable columns, rows' values and decoding, and the migration files.
The methods written once for both backends are in ``casepush.store.shared``."""

from importlib import resources
from typing import Any

import msgspec

from casepush.store import (
    StoredApiKey,
    StoredConnector,
    StoredUser,
    VersionConflict,
    decode_version,
    encode_version,
)
from casepush.types import (
    AlertComment,
    Attachment,
    Case,
    Configuration,
    RoleBody,
    RoleDescriptor,
    Space,
    User,
    UserAction,
    as_list,
)

#: The tables of a space's objects that a space's deletion empties (the cases' children go with them,
#: ``ON DELETE CASCADE``).
SPACE_TABLES = (
    "cases",
    "configurations",
    "connectors",
    "push_claims",
    "automatic_push_settings",
    "case_sync_settings",
    "pushed_comments",
    "imported_comments",
    "sync_changes",
    "sync_state",
)

STATUS_CODES = {"open": 0, "in-progress": 10, "closed": 20}

#: Rows per batch when a whole table is read.
TABLE_BATCH = 500

SEVERITY_CODES = {"low": 0, "medium": 10, "high": 20, "critical": 30}

SORT_COLUMNS = {
    "created_at": "c.created_at",
    "updated_at": "c.updated_at",
    "closed_at": "c.closed_at",
    "title": "c.title",
    "category": "c.category",
    "status": "c.status",
    "severity": "c.severity",
}

#: Sort columns that are never NULL: no "NULLs last" term, so that an index can give the order.
NOT_NULL_SORT_FIELDS = frozenset({"created_at", "title", "status", "severity"})


def order_by(sort_field: str, descending: bool) -> str:
    """``_find``'s order: the field (NULLs last in both directions, as Elasticsearch's ``missing:
    _last``), then creation time and id, all in the field's direction, so that an index gives the page
    without sorting every match (migration 0007: one per sort field, two for nullable ones, whose
    ``(field IS NULL)`` term breaks the symmetry of the two directions)."""
    column = SORT_COLUMNS[sort_field]
    direction = "DESC" if descending else "ASC"
    terms = [] if sort_field in NOT_NULL_SORT_FIELDS else [f"({column} IS NULL)"]
    terms += [f"{term} {direction}" for term in dict.fromkeys([column, "c.created_at", "c.id"])]
    return "ORDER BY " + ", ".join(terms)


def status_counts(rows: list[tuple[int, int]]) -> dict[str, int]:
    """Counts by status name from ``(status code, count)`` rows (several rows may share a code)."""
    names = {code: name for name, code in STATUS_CODES.items()}
    counts = dict.fromkeys(STATUS_CODES, 0)
    for code, count in rows:
        counts[names[code]] += count
    return counts


case_decoder = msgspec.json.Decoder(Case)

attachment_decoder = msgspec.json.Decoder(Attachment)

user_action_decoder = msgspec.json.Decoder(UserAction)

configuration_decoder = msgspec.json.Decoder(Configuration)

user_decoder = msgspec.json.Decoder(User)

space_decoder = msgspec.json.Decoder(Space)

role_decoder = msgspec.json.Decoder(RoleBody)

encoder = msgspec.json.Encoder()


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(number, name, sql)`` of the numbered migration files of a dialect, in order."""
    folder = resources.files("casepush.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


def latest_migration() -> str:
    """The name of the newest migration (the same on every dialect)."""
    return migrations("sqlite")[-1][1].removesuffix(".sql")


def children_changed(case: Case, before: Case) -> bool:
    """Whether the rows beside a case (its tags and assignees, kept for filtering) must be rewritten."""
    return case.tags != before.tags or [a.uid for a in case.assignees] != [a.uid for a in before.assignees]


def with_version(obj: Any, seq: int) -> Any:
    obj.version = encode_version(seq)
    return obj


def expected_seq(version: str) -> int:
    seq = decode_version(version)
    if seq is None:
        raise VersionConflict(version)
    return seq


def like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


API_KEY_COLUMNS = "id, username, secret_hash, created_ms, expires_ms, invalidated_ms, data"

CONNECTOR_COLUMNS = "id, type_id, name, config, secrets, created_at, updated_at"


def connector_values(connector: StoredConnector) -> dict[str, Any]:
    """A connector's columns but its key, by name."""
    return {
        "type_id": connector.type_id,
        "name": connector.name,
        "config": encoder.encode(connector.config),
        "secrets": connector.secrets,
        "created_at": connector.created_at,
        "updated_at": connector.updated_at,
    }


def stored_connector(
    connector_id: str, type_id: str, name: str, config: bytes, secrets: str, created_at: str, updated_at: str
) -> StoredConnector:
    return StoredConnector(
        connector_id, type_id, name, msgspec.json.decode(config), secrets, created_at, updated_at
    )


def stored_user(username: str, password_hash: str, data: bytes) -> StoredUser:
    return StoredUser(username=username, password_hash=password_hash, **msgspec.json.decode(data))


class _ApiKeyData(msgspec.Struct, kw_only=True):
    """What an API key's ``data`` column holds."""

    name: str
    metadata: dict[str, Any] = {}
    role_descriptors: dict[str, RoleDescriptor] = {}


_api_key_data = msgspec.json.Decoder(_ApiKeyData)


def api_key_values(key: StoredApiKey) -> dict[str, Any]:
    """An API key's columns (``API_KEY_COLUMNS``), by name."""
    data = _ApiKeyData(name=key.name, metadata=key.metadata, role_descriptors=key.role_descriptors)
    return {
        "id": key.id,
        "username": key.username,
        "secret_hash": key.secret_hash,
        "created_ms": key.created_ms,
        "expires_ms": key.expires_ms,
        "invalidated_ms": key.invalidated_ms,
        "data": encoder.encode(data),
    }


def stored_api_key(
    key_id: str,
    username: str,
    secret_hash: str,
    created: int,
    expires: int | None,
    invalidated: int | None,
    data: bytes,
) -> StoredApiKey:
    fields = _api_key_data.decode(data)
    return StoredApiKey(
        id=key_id,
        name=fields.name,
        username=username,
        secret_hash=secret_hash,
        created_ms=created,
        expires_ms=expires,
        invalidated_ms=invalidated,
        metadata=fields.metadata,
        role_descriptors=fields.role_descriptors,
    )


def alert_pairs(attachment: AlertComment) -> list[tuple[str, str]]:
    """Kibana's alert attachment holds parallel lists (or single strings) of ids and indices."""
    ids, indices = as_list(attachment.alertId), as_list(attachment.index)
    return [(alert_id, indices[i] if i < len(indices) else "") for i, alert_id in enumerate(ids)]


def commented_type(action: UserAction) -> str | None:
    comment = action.payload.get("comment") if action.type == "comment" else None
    return comment.get("type") if isinstance(comment, dict) else None


def encode_stored(obj: Any) -> bytes:
    return encoder.encode(msgspec.structs.replace(obj, version=""))
