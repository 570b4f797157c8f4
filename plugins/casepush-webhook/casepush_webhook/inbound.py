"""``.webhook``'s inbound form (two-way sync): the document an external system POSTs to the connector's
inbound webhook, the mirror of the one each push sends, turned into the changes of its incident.

The core has checked the call's ``X-Casepush-Signature`` (``t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">``, keyed with the connector's inbound secret) before this module sees it. The document
speaks case statuses (``.webhook`` maps none, either way), and every event carries its own stable id,
which, within its incident, is the change's id.
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, get_args

import msgspec
from msgspec import UNSET

from casepush.connectors import ExternalChange, ExternalComment, Inbound, InboundCall, InboundRefused
from casepush_webhook.schema import InboundDocument, InboundEvent, Status
from casepush_webhook.webhook import SIGNATURE_HEADER

#: What a refusal's message starts with.
REFUSED = "Invalid .webhook inbound document"
#: The case statuses an event's ``status`` may be.
STATUSES = get_args(Status)
#: The ``origin`` of an event that echoes what casepush pushed.
CASEPUSH = "casepush"
#: What an event changes: exactly one of these.
CHANGES = ("status", "title", "description", "comment")

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>.*)`)?$", re.DOTALL)
_FIELD = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<name>.*)`$", re.DOTALL)


def refused(field: str, problem: str) -> InboundRefused:
    """``Invalid .webhook inbound document: <field>: <problem>``, the field as a path into the document
    (``events[0].comment.body``)."""
    return InboundRefused(f"{REFUSED}: {field}: {problem}" if field else f"{REFUSED}: {problem}")


def _validation_error(error: msgspec.ValidationError) -> InboundRefused:
    """msgspec's message (``Expected `str`, got `int` - at `$.events[0].id```) worded as ``<field>:
    <problem>``, naming the field itself when one is unknown or missing."""
    matched = _AT.match(str(error))
    assert matched is not None  # the pattern matches any text
    problem, path = matched["problem"], (matched["path"] or "").removeprefix(".")
    field = _FIELD.match(problem)
    if field:
        path = f"{path}.{field['name']}" if path else field["name"]
        problem = "unknown field" if field["what"] == "contains unknown" else "missing"
    return refused(path or "the document", problem)


def _quoted(value: object) -> str:
    return msgspec.json.encode(value).decode()


def utc(moment: datetime) -> str:
    """ISO 8601 in UTC, as casepush writes times: ``2026-01-02T03:04:05.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode(body: bytes) -> InboundDocument:
    """The document, strictly: valid JSON, no unknown keys, every value of its type and length, then
    what msgspec cannot say (one change per event, a case status, no blank text, no id twice)."""
    try:
        document = msgspec.json.decode(body, type=InboundDocument)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    except msgspec.DecodeError as exc:
        raise refused("", f"the body is not JSON ({exc})") from None
    if b"\\u0000" in body:
        _refuse_nul(msgspec.to_builtins(document), "")
    seen: dict[str, int] = {}
    for index, event in enumerate(document.events):
        _check(event, f"events[{index}]")
        if event.id in seen:
            raise refused(
                f"events[{index}].id",
                f"{_quoted(event.id)} is also the id of events[{seen[event.id]}]: each event has its own id",
            )
        seen[event.id] = index
    return document


def _refuse_nul(value: Any, path: str) -> None:
    """PostgreSQL cannot store the NUL character, so casepush refuses it on every backend, as the core
    refuses it in every request body it decodes."""
    if isinstance(value, str) and "\x00" in value:
        raise refused(path, "may not contain the NUL character (\\u0000)")
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        _refuse_nul(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip("."))


def _check(event: InboundEvent, where: str) -> None:
    given = [name for name in CHANGES if getattr(event, name) is not UNSET]
    if len(given) != 1:
        has = " and ".join(f"`{name}`" for name in given) if given else "none"
        one_of = ", ".join(f"`{name}`" for name in CHANGES)
        raise refused(where, f"an event carries exactly one of {one_of}; it has {has}")
    if event.status is not UNSET and event.status not in STATUSES:
        raise refused(
            f"{where}.status",
            f"{_quoted(event.status)} is not a case status: use"
            ' "open", "in-progress" or "closed" (.webhook maps no statuses: the sender does)',
        )
    if event.origin not in (None, CASEPUSH):
        raise refused(
            f"{where}.origin",
            f'{_quoted(event.origin)} is not an origin: "casepush" marks an echo of a push,'
            " else leave it out",
        )
    if event.external_status is not UNSET and event.status is UNSET:
        raise refused(f"{where}.external_status", "goes only with `status`")
    for name, text in (
        ("title", event.title),
        ("description", event.description),
        ("comment.body", event.comment.body if event.comment is not UNSET else UNSET),
    ):
        if text is not UNSET and not text.strip():
            raise refused(f"{where}.{name}", "must not be empty")


def change_id(external_id: str, event_id: str) -> str:
    """The change's id: the event's, within its incident (``["T-42","evt-1"]``), so that a sender needs
    its event ids unique per incident only, while the core counts a change once per connector."""
    return msgspec.json.encode([external_id, event_id]).decode()


def _change(external_id: str, event: InboundEvent) -> ExternalChange:
    comment = None
    if event.comment is not UNSET:
        given = event.comment
        comment = ExternalComment(
            id=given.id,
            body=given.body,
            author=given.author,
            created_at=utc(given.created_at),
            updated_at=utc(given.updated_at) if given.updated_at else None,
        )
    status = event.status if event.status is not UNSET else None
    return ExternalChange(
        incident_id=external_id,
        change_id=change_id(external_id, event.id),
        at=utc(event.at),
        author=event.author or (comment.author if comment else None),
        by_integration=event.origin == CASEPUSH,
        status=status,
        external_status=(event.external_status or status) if status else None,
        title=event.title if event.title is not UNSET else None,
        description=event.description if event.description is not UNSET else None,
        comment=comment,
    )


def signed_at(headers: Mapping[str, str]) -> str | None:
    """The time of the call's ``X-Casepush-Signature`` (its ``t``, which the core checked), for a document
    without ``sent_at``."""
    header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    for part in header.split(","):
        key, _, given = part.strip().partition("=")
        if key == "t" and given.isdigit():
            try:
                return utc(datetime.fromtimestamp(int(given), UTC))
            except (OverflowError, OSError, ValueError):
                return None
    return None


def parse(call: InboundCall) -> Inbound:
    """The call's document as the changes of its incident, in the document's order, and when it was sent
    (its ``sent_at``, else the signature's time)."""
    document = decode(call.body)
    changes = [_change(document.external_id, event) for event in document.events]
    sent_at = utc(document.sent_at) if document.sent_at else signed_at(call.headers)
    return Inbound(changes=changes, sent_at=sent_at)
