"""Two-way sync (casepush's own): what people change in a Jira issue comes back to its case, from Jira's
webhooks (``parse_inbound``) and from polling (``fetch_changes``), as the same changes with the same ids.

A change's id names the change itself in Jira, so that a webhook sent again, or a poll that finds what a
webhook reported, gives the same id (the core applies each id once):

- ``changelog:<history id>:<field>``: a field changed, one id per field of a changelog history (the status,
  ``summary`` or ``description``); webhooks carry the history as ``changelog``, polls read it in the issue's
  changelog;
- ``comment:<comment id>:<updated>``: a comment written, or edited (each edit is a change of its own), with
  its ``updated`` date in UTC (``2020-04-27T10:59:46.202Z``), the same in a webhook and in a read.
"""

import dataclasses
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from casepush.connectors import Changes, ConnectorError, ExternalChange, ExternalComment, InboundRefused
from casepush_jira.schema import JiraSecrets, JiraStateOptions
from casepush_jira.service import JiraService, failure, iso, jql_literal, same_status

log = logging.getLogger(__name__)

#: The case statuses, in the order in which a Jira status is looked up in the status mapping.
CASE_STATUSES = ("open", "in-progress", "closed")
#: The Jira fields that come back to the case, by their name in changelogs.
SYNCED_FIELDS = ("status", "summary", "description")
ISSUE_UPDATED = "jira:issue_updated"
COMMENT_EVENTS = frozenset({"comment_created", "comment_updated"})
#: ``jira:issue_updated`` carries the comment of a comment's events (and of a transition with a comment); a
#: deleted comment is not brought back.
COMMENT_DELETED = "issue_comment_deleted"

#: Incidents searched at once: the ids of one JQL query, and the most Cloud reconciles in one search.
BATCH = 50
#: A poll starts again this long before the last change it saw: Jira Cloud's search index may show an
#: issue's change a little after a later one of another issue (the core drops what it has applied).
OVERLAP = timedelta(minutes=1)
#: When the connector account's time zone is unknown, JQL dates are written this far back (Jira reads them
#: in that zone, which is at most 12 hours behind UTC), at the cost of a wider search.
WIDEST_OFFSET = timedelta(hours=12)
#: How long the connector's own Jira account (``GET /myself``) is kept, per credentials.
IDENTITY_SECONDS = 3600.0
IDENTITIES_KEPT = 256


class Unreadable(ValueError):
    """Something Jira would never send: a webhook refused, or a search answer not understood."""


# --- the connector's own account ---------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """The Jira account of the connector's credentials, by which its own changes (casepush's pushes coming
    back) are told from people's: Cloud's ``accountId``, Data Center's ``key`` and ``name``."""

    account_id: str | None
    key: str | None
    name: str | None
    email: str | None
    time_zone: str | None

    @property
    def cloud(self) -> bool:
        """Jira Cloud names accounts by ``accountId``; Data Center by ``key`` and ``name``."""
        return self.account_id is not None

    def wrote(self, user: Any) -> bool:
        """Whether a user of a payload (an author, a changelog's ``user``) is the connector's account: by
        the ids the user shows; by the email only when it shows none (webhooks often hide emails)."""
        if not isinstance(user, dict):
            return False
        pairs = [
            (user.get("accountId"), self.account_id),
            (user.get("key"), self.key),
            (user.get("name"), self.name),
        ]
        shown = [(theirs, mine) for theirs, mine in pairs if theirs is not None]
        if shown:
            return any(mine is not None and theirs == mine for theirs, mine in shown)
        email = user.get("emailAddress")
        return isinstance(email, str) and self.email is not None and email.casefold() == self.email.casefold()


_identities: OrderedDict[tuple[str, str, str], tuple[float, Identity]] = OrderedDict()


async def identity(service: JiraService, secrets: JiraSecrets) -> Identity:
    """The connector's account, from ``GET /myself``, kept an hour per site and credentials (the token
    only as its digest)."""
    key = (service.base, secrets.email, hashlib.sha256(secrets.apiToken.encode()).hexdigest())
    now = time.monotonic()
    kept = _identities.get(key)
    if kept is not None and now - kept[0] < IDENTITY_SECONDS:
        _identities.move_to_end(key)
        return kept[1]
    me = await service.myself()
    found = Identity(
        account_id=_text(me.get("accountId")),
        key=_text(me.get("key")),
        name=_text(me.get("name")),
        email=_text(me.get("emailAddress")) or secrets.email,
        time_zone=_text(me.get("timeZone")),
    )
    _identities[key] = (now, found)
    _identities.move_to_end(key)
    while len(_identities) > IDENTITIES_KEPT:
        _identities.popitem(last=False)
    return found


def forget_identities() -> None:
    """Forget every account kept (for tests)."""
    _identities.clear()


# --- what a change is -------------------------------------------------------------------------------------


def state_options(options: Any) -> JiraStateOptions:
    """The connector's status mapping: its ``JiraStateOptions``, or the defaults."""
    if options is None:
        return JiraStateOptions()
    if isinstance(options, JiraStateOptions):
        return options
    return msgspec.convert(options, JiraStateOptions)


def case_status(options: Any, jira_status: str) -> str | None:
    """The case status whose mapping names this Jira status (case and surrounding spaces aside; the first of
    ``open``, ``in-progress``, ``closed`` when several do), or None when none does."""
    mapping = state_options(options)
    for status in CASE_STATUSES:
        if any(same_status(jira_status, target) for target in mapping.targets(status)):
            return status
    return None


def person(user: Any) -> str | None:
    """A Jira user as people read them: the display name (or whatever names the account)."""
    if not isinstance(user, dict):
        return None
    for key in ("displayName", "name", "emailAddress", "accountId"):
        if isinstance(user.get(key), str) and user[key]:
            return user[key]
    return None


@dataclass(frozen=True)
class Draft:
    """A change, and the Jira user who made it (whose account tells ``by_integration``)."""

    change: ExternalChange
    actor: Any


def marked(drafts: list[Draft], me: Identity) -> list[ExternalChange]:
    return [dataclasses.replace(d.change, by_integration=me.wrote(d.actor)) for d in drafts]


def field_changes(
    issue_id: str, history_id: str, at: str, actor: Any, items: Any, options: Any
) -> list[Draft]:
    """The changes of one changelog history: its status, summary and description items (Jira's own fields:
    ``fieldtype`` ``jira``), the last of each when a field appears twice."""
    if not isinstance(items, list):
        raise Unreadable("changelog.items is not a list")
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            raise Unreadable("an item of changelog.items is not an object")
        field = item.get("fieldId") or item.get("field")
        if item.get("fieldtype", "jira") == "jira" and field in SYNCED_FIELDS:
            latest[field] = item
    drafts = []
    for field, item in latest.items():
        value = item.get("toString")
        if value is not None and not isinstance(value, str):
            raise Unreadable(f"the {field} item's toString is not a string")
        change = ExternalChange(
            incident_id=issue_id, change_id=f"changelog:{history_id}:{field}", at=at, author=person(actor)
        )
        if field == "status":
            if not value:
                continue
            change = dataclasses.replace(change, status=case_status(options, value), external_status=value)
        elif field == "summary":
            if not value:
                continue
            change = dataclasses.replace(change, title=value)
        else:
            change = dataclasses.replace(change, description=value or "")
        drafts.append(Draft(change, actor))
    return drafts


def comment_change(issue_id: str, comment: dict[str, Any]) -> tuple[Draft, datetime]:
    """A comment written (``updated`` = ``created``) or edited, by its author or its ``updateAuthor``; and
    when (``updated``)."""
    comment_id = _identifier(comment.get("id"), "comment.id")
    body = body_text(comment.get("body"))
    if body is None:
        raise Unreadable("comment.body is not text")
    created = instant(comment.get("created"), "comment.created")
    updated = instant(comment.get("updated"), "comment.updated") if comment.get("updated") else created
    writer = comment.get("author")
    edited = updated != created
    actor = (comment.get("updateAuthor") or writer) if edited else writer
    external = ExternalComment(
        id=comment_id,
        body=body,
        author=person(writer) or "Jira",
        created_at=iso(created),
        updated_at=iso(updated) if edited else None,
    )
    change = ExternalChange(
        incident_id=issue_id,
        change_id=f"comment:{comment_id}:{iso(updated)}",
        at=iso(updated),
        author=person(actor),
        comment=external,
    )
    return Draft(change, actor), updated


def body_text(body: Any) -> str | None:
    """A comment's text: REST API v2 and webhooks give wiki markup as a string; a body in Atlassian Document
    Format (API v3, some Cloud deliveries) is read as its plain text."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        return _adf_text(body).strip("\n")
    return None


_INLINE = frozenset({"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"})


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one in place of anything else."""
    return value if isinstance(value, dict) else {}


def _array(value: Any) -> list[Any]:
    """A JSON array, or an empty one in place of anything else."""
    return value if isinstance(value, list) else []


def _adf_text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    attrs = _object(node.get("attrs"))
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji", "status"):
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind == "inlineCard":
        return str(attrs.get("url") or "")
    children = _array(node.get("content"))
    inline = all(isinstance(c, dict) and c.get("type") in _INLINE for c in children)
    return ("" if inline else "\n").join(_adf_text(child) for child in children)


def instant(value: Any, what: str) -> datetime:
    """A Jira date (``2020-04-27T12:59:46.202+0200``) as an aware datetime."""
    if not isinstance(value, str):
        raise Unreadable(f"{what} is not a Jira date")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Unreadable(f"{what} is not a Jira date: {value!r}") from None
    if moment.tzinfo is None:
        raise Unreadable(f"{what} has no time zone: {value!r}")
    return moment


def _identifier(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
        raise Unreadable(f"{what} is missing")
    return str(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- webhooks ---------------------------------------------------------------------------------------------


def parse_webhook(body: bytes, options: Any) -> tuple[list[Draft], str | None]:
    """The changes a Jira webhook reports (none for events the sync does not cover), and when it was sent
    (its ``timestamp``, in milliseconds). Raises ``InboundRefused`` for what Jira would never send."""
    try:
        return _parse_webhook(body, options)
    except Unreadable as exc:
        raise InboundRefused(f"Not a Jira webhook: {exc}.") from None


def _parse_webhook(body: bytes, options: Any) -> tuple[list[Draft], str | None]:
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise Unreadable("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise Unreadable("the body is not a JSON object")
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event:
        raise Unreadable("webhookEvent is missing")
    stamp = payload.get("timestamp")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int | float)):
        raise Unreadable("timestamp is not a number of milliseconds")
    sent = _from_milliseconds(stamp) if stamp is not None else None
    sent_at = iso(sent) if sent is not None else None
    if event == ISSUE_UPDATED:
        return _issue_updated(payload, sent, options), sent_at
    if event in COMMENT_EVENTS:
        comment = payload.get("comment")
        if not isinstance(comment, dict):
            raise Unreadable(f"the {event} event has no comment")
        draft, _ = comment_change(_comment_issue(payload, comment), comment)
        return [draft], sent_at
    return [], sent_at


def _from_milliseconds(stamp: float) -> datetime:
    try:
        return datetime.fromtimestamp(stamp / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Unreadable("timestamp is not a number of milliseconds") from None


def _issue_updated(payload: dict[str, Any], sent: datetime | None, options: Any) -> list[Draft]:
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        raise Unreadable("the jira:issue_updated event has no issue")
    issue_id = _identifier(issue.get("id"), "issue.id")
    drafts: list[Draft] = []
    changelog = payload.get("changelog")
    if changelog is not None:
        if not isinstance(changelog, dict):
            raise Unreadable("changelog is not an object")
        items = changelog.get("items", [])
        if items:
            history_id = _identifier(changelog.get("id"), "changelog.id")
            # The webhook's changelog has no date: the issue's ``updated``, which the change set, or when the
            # event was sent.
            fields = _object(issue.get("fields"))
            updated = fields.get("updated")
            moment = instant(updated, "issue.fields.updated") if updated else sent
            if moment is None:
                raise Unreadable("neither issue.fields.updated nor timestamp tells when the change was made")
            drafts += field_changes(issue_id, history_id, iso(moment), payload.get("user"), items, options)
    comment = payload.get("comment")
    if isinstance(comment, dict) and payload.get("issue_event_type_name") != COMMENT_DELETED:
        draft, _ = comment_change(issue_id, comment)
        drafts.append(draft)
    return drafts


_COMMENT_URL = re.compile(r"/issue/(\d+)/comment/")


def _comment_issue(payload: dict[str, Any], comment: dict[str, Any]) -> str:
    """The issue of a comment's event: ``issue.id`` (Jira Cloud sends the issue), or the id in the comment's
    ``self`` URL (``.../rest/api/2/issue/10000/comment/10100``), for deliveries without the issue."""
    issue = payload.get("issue")
    if isinstance(issue, dict) and issue.get("id") is not None:
        return _identifier(issue.get("id"), "issue.id")
    found = _COMMENT_URL.search(comment.get("self") or "") if isinstance(comment.get("self"), str) else None
    if found is None:
        raise Unreadable("the comment's issue is unknown: no issue.id, no comment.self")
    return found[1]


# --- polling ----------------------------------------------------------------------------------------------


def start_of(cursor: str | None, since: str) -> datetime:
    """Where a poll starts: the cursor (an ISO 8601 time in UTC), or ``since`` on the first poll (and when
    the cursor cannot be read, e.g. one written by another version)."""
    for value in (cursor, since):
        if value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is not None:
                return moment
    raise ConnectorError(
        f"[Action][Jira]: Unable to poll for changes. Error: since is not a time: {since!r}", retryable=False
    )


def jql_date(moment: datetime, time_zone: str | None) -> str:
    """``moment`` as JQL's ``yyyy/MM/dd HH:mm``, which Jira reads in the searching account's time zone:
    floored to the minute; an hour earlier when the local time is ambiguous (the hour a clock goes back);
    12 hours earlier when the zone is unknown."""
    zone = None
    try:
        zone = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        local = (moment - WIDEST_OFFSET).astimezone(UTC).replace(tzinfo=None)
    else:
        local = moment.astimezone(zone).replace(tzinfo=None)
        if local.replace(tzinfo=zone, fold=0).utcoffset() != local.replace(tzinfo=zone, fold=1).utcoffset():
            local = (moment - timedelta(hours=1)).astimezone(zone).replace(tzinfo=None)
    return f"{local:%Y/%m/%d %H:%M}"


def changes_jql(issue_ids: list[str], since: str) -> str:
    listed = ", ".join(i if i.isdigit() else f'"{jql_literal(i)}"' for i in issue_ids)
    return f'id in ({listed}) AND updated >= "{since}"'


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for at in range(0, len(ids), BATCH):
        yield ids[at : at + BATCH]


async def poll(
    service: JiraService,
    me: Identity,
    incident_ids: list[str],
    cursor: str | None,
    since: str,
    options: Any,
) -> Changes:
    """The changes of these issues from the cursor (or ``since``): a JQL search of the issues updated since
    then, ``BATCH`` ids at a time, with their changelogs and comments; each change at or after that time,
    oldest first. The next cursor is the latest ``updated`` found, less ``OVERLAP``, and never goes back."""
    start = start_of(cursor, since)
    ids = list(dict.fromkeys(str(i) for i in incident_ids))
    local = jql_date(start, me.time_zone)
    drafts: list[Draft] = []
    latest = start
    try:
        for batch in _batches(ids):
            for issue in await _search(service, me, batch, local):
                found, updated = await _issue_changes(service, me, issue, start, options)
                drafts += found
                if updated is not None:
                    latest = max(latest, updated - OVERLAP)
    except Unreadable as exc:
        raise failure(
            "Unable to read the changes of incidents", str(exc), "Jira's answer is not understood"
        ) from None
    changes = sorted(marked(drafts, me), key=lambda change: (change.at, change.change_id))
    return Changes(changes, iso(latest))


async def _search(service: JiraService, me: Identity, ids: list[str], since: str) -> list[dict[str, Any]]:
    """The issues among ``ids`` updated since then. Jira refuses the whole query when one id names no issue
    it shows (deleted, or moved out of the connector's sight): the batch is then halved until that issue is
    alone, and left out."""
    try:
        return await _search_pages(service, me, ids, since)
    except ConnectorError as exc:
        if exc.status != 400:
            raise
        if len(ids) > 1:
            half = len(ids) // 2
            return [
                *await _search(service, me, ids[:half], since),
                *await _search(service, me, ids[half:], since),
            ]
        # Jira quotes the value it refuses: "An issue with key '10005' does not exist for field 'id'."
        reason = exc.message.partition("Reason: ")[2]
        if f"'{ids[0]}'" in reason:
            log.warning("Jira knows no incident %s any more, leaving it out of the poll: %s", ids[0], reason)
            return []
        raise


async def _search_pages(
    service: JiraService, me: Identity, ids: list[str], since: str
) -> list[dict[str, Any]]:
    jql = changes_jql(ids, since)
    reconcile = [int(i) for i in ids if i.isdigit()]
    issues: list[dict[str, Any]] = []
    page: str | int | None = None
    while True:
        answer = await service.search_page(me.cloud, jql, ["updated", "comment"], page, reconcile)
        found = answer.get("issues")
        if not isinstance(found, list) or not all(isinstance(issue, dict) for issue in found):
            raise Unreadable("the search's issues are not a list of issues")
        issues += found
        if me.cloud:
            page = answer.get("nextPageToken")
            if not page or answer.get("isLast") or not found:
                return issues
        else:
            page = int(answer.get("startAt") or 0) + len(found)
            if not found or page >= int(answer.get("total") or 0):
                return issues


async def _issue_changes(
    service: JiraService, me: Identity, issue: dict[str, Any], start: datetime, options: Any
) -> tuple[list[Draft], datetime | None]:
    issue_id = _identifier(issue.get("id"), "issue.id")
    fields = _object(issue.get("fields"))
    updated = instant(fields["updated"], "fields.updated") if fields.get("updated") else None
    drafts: list[Draft] = []
    for history in await _histories(service, me, issue_id, issue.get("changelog"), start):
        at = instant(history.get("created"), "history.created")
        if at >= start:
            history_id = _identifier(history.get("id"), "history.id")
            drafts += field_changes(
                issue_id, history_id, iso(at), history.get("author"), history.get("items"), options
            )
    for comment in await _comments(service, issue_id, fields.get("comment")):
        draft, at = comment_change(issue_id, comment)
        if at >= start:
            drafts.append(draft)
    return drafts, updated


async def _histories(
    service: JiraService, me: Identity, issue_id: str, changelog: Any, start: datetime
) -> list[dict[str, Any]]:
    """The issue's histories from ``start`` on. A search shows only the latest ones of a long changelog
    (``total`` says how many there are): then Cloud's changelog is read a page at a time from its end (it
    lists the oldest first) back to ``start``, and Data Center's issue is read with all of it."""
    changelog = _object(changelog)
    histories = changelog.get("histories") or []
    if not isinstance(histories, list) or not all(isinstance(h, dict) for h in histories):
        raise Unreadable("changelog.histories is not a list of histories")
    total = changelog.get("total")
    if not isinstance(total, int) or total <= len(histories):
        return histories
    if not me.cloud:
        full = (await service.full_changelog(issue_id)).get("changelog") or {}
        return [h for h in full.get("histories") or [] if isinstance(h, dict)]
    by_id = {str(h.get("id")): h for h in histories}
    at = max(0, total - 100)
    while True:
        page = [
            h for h in (await service.changelog_page(issue_id, at))["values"] or [] if isinstance(h, dict)
        ]
        by_id.update({str(h.get("id")): h for h in page})
        if at == 0 or not page or instant(page[0].get("created"), "history.created") < start:
            return list(by_id.values())
        at = max(0, at - 100)


async def _comments(service: JiraService, issue_id: str, field: Any) -> list[dict[str, Any]]:
    """The issue's comments: those of the search, or every page of them when the search shows only some."""
    field = _object(field)
    comments = field.get("comments") or []
    if not isinstance(comments, list) or not all(isinstance(c, dict) for c in comments):
        raise Unreadable("comment.comments is not a list of comments")
    total = field.get("total")
    if not isinstance(total, int) or total <= len(comments):
        return comments
    comments, at = [], 0
    while True:
        page = await service.comments_page(issue_id, at)
        found = [c for c in page["comments"] or [] if isinstance(c, dict)]
        comments += found
        at += len(found)
        if not found or at >= int(page.get("total") or 0):
            return comments
