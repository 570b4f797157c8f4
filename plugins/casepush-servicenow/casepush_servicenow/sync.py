"""Two-way sync (casepush's own): what changes in a ServiceNow incident comes back to its case.

Two ways, which report the same change under the same id so that casepush applies it once:

- **Webhook**: the business rules of the README post a *notification* (``Notification``) to the connector's
  inbound URL: after an update of the incident's ``state``, ``short_description`` or ``description`` (those
  that changed, with the record's ``sys_mod_count``), and after each insert of a ``comments`` or
  ``work_notes`` journal entry (``sys_journal_field``).
- **Polling** (``fetch_changes``): the Table API's incidents updated since the cursor and their journal
  entries created since it. A poll sees an incident as it is, not each update: which fields changed is
  found by comparing it with what the previous polls saw, kept in the cursor (``Cursor``).

Change ids: ``<field>:<incident sys_id>:<sys_mod_count>`` for a field (``sys_mod_count`` counts the
record's updates: it names the update that changed it) and ``journal:<journal entry sys_id>`` for a comment.

Times: ServiceNow's internal values are ``yyyy-MM-dd HH:mm:ss`` in UTC, which is what the Table API returns
without display values and what ``GlideRecord.getValue()`` gives a business rule (``getDisplayValue()``
gives the user's time zone: never send it). A time without offset is read as UTC; one with an offset is
converted.
"""

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from casepush.connectors import Changes, ExternalChange, ExternalComment, Inbound, InboundRefused
from casepush_servicenow.errors import ServiceNowError
from casepush_servicenow.service import ServiceNowService
from casepush_servicenow.state import StateOptions

#: The incident's fields that come back, by their ServiceNow names: the case's status, title, description.
STATE, SHORT_DESCRIPTION, DESCRIPTION = "state", "short_description", "description"
FIELDS = (STATE, SHORT_DESCRIPTION, DESCRIPTION)
JOURNAL = "journal"
#: ServiceNow's internal date-time format (UTC).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Incidents per Table API query (``sys_idIN`` of 100 sys_ids keeps the URL under 4 KB).
BATCH = 100
#: Journal entries per page.
JOURNAL_PAGE = 1000
#: How far before the cursor a poll looks again: ServiceNow stamps ``sys_updated_on`` when the update
#: starts, and the record may be committed (and visible) seconds later, after its business rules.
OVERLAP = timedelta(seconds=60)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
#: What casepush appends to the description it pushes (Kibana's "Added by", and the case URL): taken off
#: the description that comes back, or each round trip would add one more.
_ADDED_BY = re.compile(
    r"\r?\n\r?\nAdded by [^\r\n]*\."
    r"(?:\r?\nFor more details, view this case in Kibana\.\r?\nCase URL: \S*)?\s*\Z"
)

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


# --- what the business rules send --------------------------------------------------------------------


class JournalEntry(msgspec.Struct, frozen=True):
    """A ``sys_journal_field`` row: ``element`` is the journal field (``comments``, ``work_notes``),
    ``sys_created_by`` the author's ``user_name``, ``created_by_name`` their name."""

    sys_id: NonEmpty
    element: NonEmpty
    value: str
    sys_created_on: NonEmpty
    sys_created_by: NonEmpty
    created_by_name: str | None = None


class Notification(msgspec.Struct, frozen=True):
    """What casepush's business rules post: the incident (``table``, ``sys_id``, ``number``), the fields
    of its update that changed (a field left out did not change) with the update's ``sys_mod_count``,
    ``sys_updated_on`` and ``sys_updated_by`` (and the updater's name), its new journal entries, and when
    it was sent (``sent_at``; the update's or entry's time when left out). Other keys are ignored."""

    table: NonEmpty
    sys_id: NonEmpty
    number: str | None = None
    sys_mod_count: int | str | None = None
    sys_updated_on: str | None = None
    sys_updated_by: str | None = None
    updated_by_name: str | None = None
    state: str | int | msgspec.UnsetType | None = msgspec.UNSET
    state_display_value: str | None = None
    short_description: str | msgspec.UnsetType | None = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    journal: list[JournalEntry] = msgspec.field(default_factory=list)
    sent_at: str | None = None

    def changed(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name) is not msgspec.UNSET}


def decode(body: bytes, table: str) -> Notification:
    """The notification, or ``InboundRefused`` saying what is wrong with it."""
    try:
        notification = msgspec.json.decode(body, type=Notification)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InboundRefused(f"Not a notification of casepush's ServiceNow business rules: {exc}") from None
    if notification.table != table:
        raise InboundRefused(
            f"The notification is about a record of {notification.table}; this connector's incidents are"
            f" in {table}."
        )
    if notification.changed():
        missing = [
            name
            for name in ("sys_mod_count", "sys_updated_on", "sys_updated_by")
            if getattr(notification, name) in (None, "")
        ]
        if missing:
            raise InboundRefused(f"A notification of changed fields needs {', '.join(missing)}.")
        _mod_count(notification.sys_mod_count, refuse=True)
    for moment in (notification.sys_updated_on, notification.sent_at):
        if moment is not None:
            _moment(moment, refuse=True)
    for entry in notification.journal:
        _moment(entry.sys_created_on, refuse=True)
    return notification


def inbound(notification: Notification, options: StateOptions, own_user: str) -> Inbound:
    """The changes a notification reports, and when it was sent."""
    changes: list[ExternalChange] = []
    changed = notification.changed()
    if changed:
        updater = notification.sys_updated_by or ""
        changes += field_changes(
            notification.sys_id,
            _mod_count(notification.sys_mod_count),
            _moment(notification.sys_updated_on or ""),
            notification.updated_by_name or updater,
            _same_user(updater, own_user),
            changed,
            options,
            {str(notification.state): notification.state_display_value}
            if notification.state_display_value
            else {},
        )
    for entry in notification.journal:
        if entry.element in options.pull_journal and entry.value.strip():
            changes.append(journal_change(notification.sys_id, entry, own_user))
    sent = notification.sent_at or notification.sys_updated_on
    if sent is None and notification.journal:
        sent = max(notification.journal, key=lambda entry: _moment(entry.sys_created_on)).sys_created_on
    return Inbound(_in_order(changes), _iso(_moment(sent)) if sent else None)


# --- changes ------------------------------------------------------------------------------------------


def field_changes(
    sys_id: str,
    mod_count: int,
    at: datetime,
    author: str,
    by_integration: bool,
    values: dict[str, Any],
    options: StateOptions,
    labels: dict[str, str],
) -> list[ExternalChange]:
    """One change per field of an update: the state as the case status it counts as (None when it counts
    as none; ``external_status`` its label when known, else its value), the short description as the
    title, the description without casepush's suffix. An emptied title or description is left out: a
    case needs both."""
    changes = []
    for field, value in values.items():
        text = "" if value is None else str(value)
        common: dict[str, Any] = {
            "incident_id": sys_id,
            "change_id": f"{field}:{sys_id}:{mod_count}",
            "at": _iso(at),
            "author": author,
            "by_integration": by_integration,
        }
        if field == STATE and text:
            status = options.status_of(text)
            changes.append(ExternalChange(**common, status=status, external_status=labels.get(text, text)))
        elif field == SHORT_DESCRIPTION and text.strip():
            changes.append(ExternalChange(**common, title=text))
        elif field == DESCRIPTION and _ADDED_BY.sub("", text).strip():
            changes.append(ExternalChange(**common, description=_ADDED_BY.sub("", text)))
    return changes


def journal_change(incident_id: str, entry: JournalEntry, own_user: str) -> ExternalChange:
    at = _iso(_moment(entry.sys_created_on))
    author = entry.created_by_name or entry.sys_created_by
    return ExternalChange(
        incident_id=incident_id,
        change_id=f"{JOURNAL}:{entry.sys_id}",
        at=at,
        author=author,
        by_integration=_same_user(entry.sys_created_by, own_user),
        comment=ExternalComment(id=entry.sys_id, body=entry.value, author=author, created_at=at),
    )


def _in_order(changes: list[ExternalChange]) -> list[ExternalChange]:
    return sorted(changes, key=lambda change: change.at)


def _same_user(user_name: str, own_user: str) -> bool:
    return bool(user_name) and user_name.casefold() == own_user.casefold()


# --- the connector's own user ----------------------------------------------------------------------------

#: The ``user_name`` of each OAuth connector's user, by the connector's auth key.
_own_users: dict[str, str] = {}


async def own_user_name(service: ServiceNowService) -> str:
    """The ``user_name`` the connector's calls are made as (what ServiceNow writes in ``sys_updated_by`` and
    ``sys_created_by``): the Basic user, or under OAuth the user ``userIdentifierValue`` names (by
    ``user_name``, email or sys_id, whichever the instance's JWT provider matches), looked up in
    ``sys_user`` once per connector; the value itself when no user has it."""
    auth = service.auth
    if not auth.oauth:
        return auth.secrets.username or ""
    if auth.key not in _own_users:
        _own_users[auth.key] = await service.user_name_of(auth.config.userIdentifierValue or "")
    return _own_users[auth.key]


# --- polling ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """An incident as the last poll saw it: its ``sys_mod_count``, its state, and digests of its short
    description and description."""

    mod_count: int
    state: str
    title: str
    description: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> "Seen":
        return cls(
            _mod_count(record.get("sys_mod_count")),
            _text(record.get(STATE)),
            _digest(record.get(SHORT_DESCRIPTION)),
            _digest(record.get(DESCRIPTION)),
        )

    def changed(self, record: dict[str, Any]) -> dict[str, Any]:
        """The fields of ``record`` (the incident now) that differ from this."""
        now = Seen.of(record)
        differs = {
            STATE: now.state != self.state,
            SHORT_DESCRIPTION: now.title != self.title,
            DESCRIPTION: now.description != self.description,
        }
        return {field: record.get(field) for field in FIELDS if differs[field]}


class _CursorDoc(msgspec.Struct):
    v: int
    at: str
    seen: dict[str, tuple[int, str, str, str]] = msgspec.field(default_factory=dict)
    recent: list[str] = msgspec.field(default_factory=list)


@dataclass
class Cursor:
    """Where polling stands: the latest ``sys_updated_on``/``sys_created_on`` seen (UTC), each incident as
    last seen (about 70 bytes an incident), and the journal entries already reported that the next poll
    reads again (those of the overlap)."""

    at: datetime
    seen: dict[str, Seen]
    recent: list[str]

    @classmethod
    def load(cls, cursor: str | None) -> "Cursor | None":
        """The cursor, or None for none (or one this version cannot read: polling starts over from
        ``since``, and what it finds again is applied once)."""
        if not cursor:
            return None
        try:
            doc = msgspec.json.decode(cursor, type=_CursorDoc)
            if doc.v != 1:
                return None
            seen = {key: Seen(*value) for key, value in doc.seen.items()}
            return cls(_moment(doc.at), seen, doc.recent)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError):
            return None

    def dump(self) -> str:
        seen = {
            key: (value.mod_count, value.state, value.title, value.description)
            for key, value in self.seen.items()
        }
        return msgspec.json.encode(_CursorDoc(1, _sn(self.at), seen, self.recent)).decode()


async def fetch(
    service: ServiceNowService,
    incident_ids: list[str],
    cursor: str | None,
    since: str,
    options: StateOptions,
) -> Changes:
    """The changes of these incidents since the cursor (since ``since`` on the first poll)."""
    before = Cursor.load(cursor)
    start = before.at - OVERLAP if before else _moment(since)
    seen = before.seen if before else {}
    ids = list(dict.fromkeys(incident_ids))
    # Incidents seen before: those updated since the cursor. The others (on the first poll, and those
    # pushed since the last one) are read whatever their time, to know them when they change.
    records = []
    known = [sys_id for sys_id in ids if sys_id in seen]
    for batch in _batches(known):
        records += await service.read_records(f"sys_idIN{','.join(batch)}^sys_updated_on>={_sn(start)}")
    for batch in _batches([sys_id for sys_id in ids if sys_id not in seen]):
        records += await service.read_records(f"sys_idIN{','.join(batch)}")
    entries = []
    if options.pull_journal:
        elements = ",".join(options.pull_journal)
        for batch in _batches(ids):
            entries += await service.read_journal(
                f"name={service.product.table}^element_idIN{','.join(batch)}^elementIN{elements}"
                f"^sys_created_on>={_sn(start)}^ORDERBYsys_created_on^ORDERBYsys_id",
                JOURNAL_PAGE,
            )
    wanted = set(ids)
    updates = []
    latest = before.at if before else start
    now_seen = {}
    for record in records:
        sys_id = str(record.get("sys_id") or "")
        if sys_id not in wanted:
            continue
        updated_on = _record_time(record.get("sys_updated_on"), "sys_updated_on")
        latest = max(latest, updated_on)
        previous = seen.get(sys_id)
        current = Seen.of(record)
        now_seen[sys_id] = current
        if previous is not None:
            if current.mod_count <= previous.mod_count:
                now_seen[sys_id] = previous
                continue
            values = previous.changed(record)
        elif updated_on >= start:
            values = {field: record.get(field) for field in FIELDS}  # new to polling: what changed is unknown
        else:
            continue
        if values:
            updates.append((record, updated_on, values))
    journal = []
    reported = set(before.recent) if before else set()
    read = []
    for row in entries:
        incident_id = str(row.get("element_id") or "")
        if incident_id in wanted and row.get("element") in options.pull_journal:
            entry = _journal_entry(row)
            created_on = _moment(entry.sys_created_on)
            latest = max(latest, created_on)
            read.append((entry.sys_id, created_on))
            if entry.sys_id not in reported and entry.value.strip():
                journal.append((incident_id, entry))
    recent = [sys_id for sys_id, created_on in read if created_on >= latest - OVERLAP]
    own = await own_user_name(service)
    updaters = [str(record.get("sys_updated_by") or "") for record, _, _ in updates]
    names = await _names(service, updaters + [entry.sys_created_by for _, entry in journal])
    labels = await _labels(service) if any(STATE in values for _, _, values in updates) else {}
    changes = []
    for record, updated_on, values in updates:
        updater = str(record.get("sys_updated_by") or "")
        changes += field_changes(
            str(record["sys_id"]),
            _mod_count(record.get("sys_mod_count")),
            updated_on,
            names.get(updater, updater),
            _same_user(updater, own),
            values,
            options,
            labels,
        )
    for incident_id, entry in journal:
        named = msgspec.structs.replace(entry, created_by_name=names.get(entry.sys_created_by))
        changes.append(journal_change(incident_id, named, own))
    kept = {sys_id: value for sys_id, value in {**seen, **now_seen}.items() if sys_id in wanted}
    return Changes(_in_order(changes), Cursor(latest, kept, recent).dump())


def _journal_entry(row: dict[str, Any]) -> JournalEntry:
    fields = ("sys_id", "element", "value", "sys_created_on", "sys_created_by")
    try:
        entry = msgspec.convert({name: row.get(name) for name in fields}, JournalEntry)
    except msgspec.ValidationError as exc:
        raise ServiceNowError(f"Unexpected journal entry from ServiceNow: {exc}") from None
    _record_time(entry.sys_created_on, "sys_created_on")
    return entry


async def _names(service: ServiceNowService, user_names: Iterable[str]) -> dict[str, str]:
    """The names of these users (``user_name`` to ``name``); none when ServiceNow does not say (the
    ``user_name`` is then shown)."""
    wanted = sorted({name for name in user_names if name and "," not in name and "^" not in name})
    if not wanted:
        return {}
    try:
        return await service.user_names(wanted)
    except ServiceNowError:
        return {}


async def _labels(service: ServiceNowService) -> dict[str, str]:
    try:
        choices = await service.state_choices()
    except ServiceNowError:
        return {}
    return {str(c.get("value")): str(c.get("label")) for c in choices or [] if c.get("label")}


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


# --- values -------------------------------------------------------------------------------------------


def _moment(value: str, refuse: bool = False) -> datetime:
    """A ServiceNow time (``yyyy-MM-dd HH:mm:ss``, UTC) or an ISO 8601 one, in UTC."""
    try:
        if not _TIME.match(value):
            raise ValueError(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        if refuse:
            raise InboundRefused(f"{value!r} is not a time (yyyy-MM-dd HH:mm:ss, UTC)") from None
        raise
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _record_time(value: Any, field: str) -> datetime:
    try:
        return _moment(str(value or ""))
    except ValueError:
        raise ServiceNowError(f"Unexpected {field} from ServiceNow: {value!r}") from None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sn(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _mod_count(value: Any, refuse: bool = False) -> int:
    text = str(value if value is not None else "")
    if not text.isdigit():
        if refuse:
            raise InboundRefused(f"sys_mod_count {value!r} is not a count of updates")
        raise ServiceNowError(f"Unexpected sys_mod_count from ServiceNow: {value!r}")
    return int(text)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _digest(value: Any) -> str:
    return hashlib.sha256(_text(value).encode()).hexdigest()[:12]
