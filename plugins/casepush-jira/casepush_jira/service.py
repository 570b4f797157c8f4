"""Jira's REST API v2 as Kibana's connector calls it: requests, response checks and error messages; and,
worded the same way, the calls beyond Kibana's that push a case's status and assignees."""

import base64
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import msgspec

from casepush.connectors import CaseAssignee, ConnectorError, PushComment, PushedComment, PushedIncident
from casepush.http import IDEMPOTENT, RATE_LIMITED, OutboundClient, OutboundError, OutboundResponse, Retry
from casepush_jira.schema import Incident, JiraConfig, JiraSecrets

NAME = "Jira"


def case_label(case_id: str) -> str:
    """The label that marks the issue of a case, by which an interrupted push finds it again."""
    return f"casepush-case-{case_id}"


class InvalidResponse(Exception):
    """A 2xx answer Kibana's connector would not accept (``throwIfResponseIsNotValid``)."""


def summary_line(summary: str) -> str:
    """Kibana folds a multi-line summary into one: lines trimmed, empty ones dropped, joined by ", "."""
    return ", ".join(part.strip() for part in re.split(r"[\n\r]", summary) if part.strip())


def jira_date(value: str) -> str:
    """Jira's ``2020-04-27T10:59:46.202+0000`` as Kibana's ISO string in UTC with milliseconds."""
    return iso(datetime.fromisoformat(value.replace("Z", "+00:00")))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: The reason Kibana gives when there is no error body to read (no answer, or an answer it refused).
UNKNOWN = "unknown: errorResponse was null"


def error_reason(body: Any) -> str:
    """Kibana's ``createErrorMessage`` over Jira's ``{errorMessages, errors}`` (``body`` is what axios
    makes of the answer: the JSON, or the text when it is not JSON)."""
    if body is None:
        return UNKNOWN
    messages = body.get("errorMessages") if isinstance(body, dict) else None
    if isinstance(messages, list) and messages:
        return ", ".join(map(str, messages))
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors is None:
        return "unknown: errorResponse.errors was null"
    values = errors.values() if isinstance(errors, dict) else []
    return " ".join(str(value) for value in values).strip()


def failure(
    what: str,
    error: str,
    reason: str = UNKNOWN,
    status: int | None = None,
    retry_after: float | None = None,
    retryable: bool | None = None,
) -> ConnectorError:
    """Kibana's ``wrapError``: ``[Action][Jira]: <what>. Error: <error>. Reason: <reason>``, with the
    HTTP status of Jira's answer (None when none came), the seconds its ``Retry-After`` asked for, and
    ``retryable`` when Jira's answer says more than its status (``ConnectorError``)."""
    message = f"[Action][{NAME}]: {what}. Error: {error}. Reason: {reason}"
    return ConnectorError(message, status=status, retry_after=retry_after, retryable=retryable)


def jql_text(value: str) -> str:
    """A text-search value (``summary ~"..."``) escaped as Kibana's ``escapeJqlSpecialCharacters``: double
    quotes dropped, backslashes doubled, quotes and Lucene's special characters escaped for JQL."""
    value = value.replace('"', "").replace("\\", "\\\\").replace("'", "\\\\")
    return re.sub(r"[-!^+&*()\[\]/{}|:?~]", lambda match: "\\\\" + match[0], value)


def jql_literal(value: str) -> str:
    """An exact value (``labels = "..."``) inside a JQL string literal: only ``\\`` and ``"`` escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


class JiraService:
    """One connector's calls to Jira."""

    def __init__(self, http: OutboundClient, config: JiraConfig, secrets: JiraSecrets):
        self.http = http
        self.config = config
        self.base = config.apiUrl.rstrip("/")
        # Kibana's ``getBasicAuthHeader``: the UTF-8 bytes of ``email:apiToken``, in base64.
        credentials = base64.b64encode(f"{secrets.email}:{secrets.apiToken}".encode()).decode()
        self.headers = {"Authorization": f"Basic {credentials}"}

    def browse_url(self, key: str) -> str:
        return f"{self.base}/browse/{key}"

    async def _call(
        self,
        what: str,
        method: str,
        path: str,
        retry: Retry,
        body: Any = None,
        required: tuple[str, ...] = (),
        shape: type = dict,
    ) -> Any:
        """A call whose failure becomes ``[Action][Jira]: <what>. Error: ... Reason: ...``, carrying the
        status of Jira's answer (and its ``Retry-After``); ``shape`` is the JSON type the answer must be."""
        url = f"{self.base}/rest/api/2{path}"
        try:
            response = await self.http.request(method, url, json=body, headers=self.headers, retry=retry)
        except OutboundError as exc:
            raise failure(what, exc.message) from None
        if response.status >= 300:
            error = f"Request failed with status code {response.status}"
            reason = error_reason(_error_body(response))
            raise failure(what, error, reason, response.status, response.retry_after)
        try:
            return _checked(response, required, shape)
        except InvalidResponse as exc:
            raise failure(what, str(exc), status=response.status) from None

    async def _read_back(self, issue_id: str, what: str) -> dict[str, Any]:
        """The issue just created or updated. Kibana reads it inside the create's (or update's) ``try``,
        so its failure is wrapped once more: ``<what>. Error: [Action][Jira]: Unable to get ...``."""
        try:
            return await self.get_issue(issue_id)
        except ConnectorError as exc:
            raise failure(what, exc.message, status=exc.status, retry_after=exc.retry_after) from None

    def _fields(self, incident: Incident) -> dict[str, Any]:
        """Kibana's ``createFields``: set values only, ``otherFields`` merged last."""
        fields: dict[str, Any] = {
            "summary": summary_line(incident.summary),
            "project": {"key": self.config.projectKey},
        }
        if incident.issueType:
            fields["issuetype"] = {"id": incident.issueType}
        if incident.description:
            fields["description"] = incident.description
        if incident.labels is not None:
            fields["labels"] = incident.labels
        if incident.priority:
            fields["priority"] = {"name": incident.priority}
        if incident.parent:
            fields["parent"] = {"key": incident.parent}
        # A string was parsed into its object when the params were built.
        other = incident.otherFields if isinstance(incident.otherFields, dict) else {}
        return {**fields, **other}

    async def issue_types(self) -> list[dict[str, Any]]:
        answer = await self._call(
            "Unable to get issue types",
            "GET",
            f"/issue/createmeta/{self.config.projectKey}/issuetypes",
            IDEMPOTENT,
        )
        return [
            {"id": t.get("id"), "name": t.get("name")}
            for t in answer.get("issueTypes") or answer.get("values") or []
        ]

    async def fields_by_issue_type(self, issue_type: str) -> dict[str, Any]:
        path = f"/issue/createmeta/{self.config.projectKey}/issuetypes/{issue_type}"
        answer = await self._call("Unable to get fields", "GET", path, IDEMPOTENT)
        return {
            field["fieldId"]: _normalized_field(field)
            for field in answer.get("fields") or answer.get("values") or []
            if "fieldId" in field
        }

    async def get_issue(
        self, issue_id: str, what: str | None = None, fields: str | None = None
    ) -> dict[str, Any]:
        """The issue, with all its fields or only ``fields`` (a comma list, e.g. ``status,assignee``)."""
        return await self._call(
            what or f"Unable to get incident with id {issue_id}",
            "GET",
            f"/issue/{issue_id}" + (f"?fields={quote(fields, safe=',')}" if fields else ""),
            IDEMPOTENT,
            required=("id", "key"),
        )

    async def search(self, jql: str, what: str) -> list[dict[str, Any]]:
        answer = await self._call(
            what, "GET", f"/search/jql?jql={quote(jql, safe='')}&fields=summary,key,created", IDEMPOTENT
        )
        return list(answer.get("issues") or [])

    async def create(self, incident: Incident) -> PushedIncident:
        if not incident.issueType:
            types = await self.issue_types()
            incident = msgspec.structs.replace(incident, issueType=types[0]["id"] if types else None)
        created = await self._call(
            "Unable to create incident",
            "POST",
            "/issue",
            RATE_LIMITED,
            {"fields": self._fields(incident)},
            ("id",),
        )
        issue = await self._read_back(created["id"], "Unable to create incident")
        return self._pushed(issue, "created")

    async def update(self, incident: Incident) -> PushedIncident:
        issue_id = incident.externalId or ""
        await self._call(
            f"Unable to update incident with id {issue_id}",
            "PUT",
            f"/issue/{issue_id}",
            IDEMPOTENT,
            {"fields": self._fields(incident)},
        )
        issue = await self._read_back(issue_id, f"Unable to update incident with id {issue_id}")
        return self._pushed(issue, "updated")

    async def comment(self, issue_id: str, comment: PushComment) -> PushedComment:
        answer = await self._call(
            f"Unable to create comment at incident with id {issue_id}",
            "POST",
            f"/issue/{issue_id}/comment",
            RATE_LIMITED,
            {"body": comment.comment},
            ("id", "created"),
        )
        # The comment's Jira id: two-way sync knows it for casepush's own and never brings it back.
        return PushedComment(comment.comment_id, jira_date(answer["created"]), str(answer["id"]))

    def _pushed(self, issue: dict[str, Any], date_field: str) -> PushedIncident:
        fields = issue.get("fields") or {}
        when = fields.get(date_field) or fields.get("created")
        return PushedIncident(
            id=str(issue["id"]),
            title=issue["key"],
            url=self.browse_url(issue["key"]),
            pushed_date=jira_date(when) if when else iso(datetime.now(UTC)),
        )

    async def find_case_issue(self, case_id: str) -> PushedIncident | None:
        label = case_label(case_id)
        jql = f'project="{jql_literal(self.config.projectKey)}" and labels="{jql_literal(label)}"'
        issues = await self.search(jql, f"Unable to find the issue of case {case_id}")
        return self._pushed(issues[0], "created") if issues else None

    # --- the case's status and assignees (casepush's own, beyond Kibana's connector)

    async def is_cloud(self) -> bool:
        """Whether the site is Jira Cloud (users are ``accountId``s) or Data Center (user ``name``s), as
        its ``serverInfo`` says (``deploymentType``: ``Cloud``, or ``Server`` for Data Center)."""
        info = await self._call("Unable to get the Jira server info", "GET", "/serverInfo", IDEMPOTENT)
        return info.get("deploymentType") == "Cloud"

    async def move_to_status(self, issue: dict[str, Any], case_status: str, targets: list[str]) -> None:
        """Take the transition of the issue's workflow that leads to the first of the ``targets`` statuses it
        can reach (matched on the transition's ``to.name``), unless the issue is in one of them already.
        One step only: when no transition available from the issue's status leads to any of them, refuse,
        naming those that are available."""
        issue_id = issue["id"]
        current = _status_name(issue)
        if any(same_status(current, target) for target in targets):
            return
        answer = await self._call(
            f"Unable to get the transitions of incident with id {issue_id}",
            "GET",
            f"/issue/{issue_id}/transitions",
            IDEMPOTENT,
            required=("transitions",),
        )
        transitions = [t for t in answer["transitions"] or [] if isinstance(t, dict)]
        chosen = next(
            (t for target in targets for t in transitions if same_status(_target_name(t), target)), None
        )
        if chosen is None:
            mapped = " or ".join(f'"{target}"' for target in targets)
            available = ", ".join(f'"{t.get("name")}" (to "{_target_name(t)}")' for t in transitions)
            raise failure(
                f"Unable to set the status of incident with id {issue_id}",
                f"the case status {case_status} maps to the Jira status {mapped}, and no transition"
                f' leads there from the issue\'s status "{current}"',
                f"the transitions available are {available}" if available else "no transition is available",
                # Jira's answer, not a failure that may pass: retrying finds the same workflow.
                retryable=False,
            )
        await self._call(
            f'Unable to move incident with id {issue_id} to the status "{_target_name(chosen)}"',
            "POST",
            f"/issue/{issue_id}/transitions",
            RATE_LIMITED,  # a transition made twice fails the second time, or loops
            {"transition": {"id": chosen.get("id")}},
        )

    async def assign(self, issue: dict[str, Any], assignees: Sequence[CaseAssignee]) -> None:
        """Assign the issue to the Jira user whose email is that of the first case assignee with an email,
        or unassign it when the case has no assignee; nothing when the issue is assigned so already."""
        issue_id = issue["id"]
        what = f"Unable to assign incident with id {issue_id}"
        assigned = (issue.get("fields") or {}).get("assignee")
        if not assignees:
            if assigned is None:
                return
            cloud = await self.is_cloud()
            await self._put_assignee(issue_id, cloud, None)
            return
        email = next((assignee.email for assignee in assignees if assignee.email), None)
        if email is None:
            uids = ", ".join(assignee.uid for assignee in assignees)
            raise failure(
                what,
                f"none of the case's assignees ({uids}) has an email",
                "Jira users are found by their email",
                retryable=False,
            )
        cloud = await self.is_cloud()
        user = await self.find_user(email, cloud, what)
        key = "accountId" if cloud else "name"
        if isinstance(assigned, dict) and assigned.get(key) == user[key]:
            return
        await self._put_assignee(issue_id, cloud, user[key])

    async def find_user(self, email: str, cloud: bool, what: str) -> dict[str, Any]:
        """The active Jira user with this email: Cloud's search takes ``query``, Data Center's ``username``;
        both match prefixes of names and emails, so the email must be the user's own. Jira Cloud hides
        the email of users whose privacy settings say so: a search that finds one user only, with a
        hidden email, finds that user."""
        parameter, key = ("query", "accountId") if cloud else ("username", "name")
        users = await self._call(
            f"Unable to find the Jira user with email {email}",
            "GET",
            f"/user/search?{parameter}={quote(email, safe='')}",
            IDEMPOTENT,
            shape=list,
        )
        users = [user for user in users if isinstance(user, dict) and user.get(key)]
        found = [user for user in users if (user.get("emailAddress") or "").casefold() == email.casefold()]
        if not found and cloud and len(users) == 1 and not users[0].get("emailAddress"):
            found = users
        if len(found) > 1:
            raise failure(
                what,
                f"several Jira users have the email {email}",
                "they are " + ", ".join(str(user[key]) for user in found),
                retryable=False,
            )
        if not found:
            raise failure(
                what, f"no Jira user has the email {email}", "Jira's user search found none", retryable=False
            )
        return found[0]

    async def _put_assignee(self, issue_id: str, cloud: bool, user: str | None) -> None:
        """Jira's assign call: ``{"accountId": ...}`` on Cloud, ``{"name": ...}`` on Data Center, null to
        unassign."""
        await self._call(
            f"Unable to assign incident with id {issue_id}",
            "PUT",
            f"/issue/{issue_id}/assignee",
            IDEMPOTENT,
            {"accountId" if cloud else "name": user},
        )

    # --- two-way sync (casepush's own): who the connector is in Jira, and what changed in its issues

    async def myself(self) -> dict[str, Any]:
        """The Jira account of the connector's credentials: Cloud's ``accountId``, Data Center's ``key`` and
        ``name``, with its ``emailAddress`` (when shown) and ``timeZone`` (JQL dates are read in it)."""
        return await self._call(
            "Unable to get the Jira account of the connector", "GET", "/myself", IDEMPOTENT
        )

    async def search_page(
        self, cloud: bool, jql: str, fields: list[str], page: str | int | None, reconcile: list[int]
    ) -> dict[str, Any]:
        """One page of a JQL search with each issue's changelog. Cloud's enhanced search
        (``POST /search/jql``, pages by ``nextPageToken``, ``reconcileIssues`` for read-after-write
        consistency of those issues); Data Center's ``POST /search`` (pages by ``startAt``). A POST only
        because the JQL may be long: the search changes nothing, and is retried as a read."""
        if cloud:
            body: dict[str, Any] = {"jql": jql, "fields": fields, "expand": "changelog", "maxResults": 50}
            if page:
                body["nextPageToken"] = page
            if reconcile:
                body["reconcileIssues"] = reconcile
            path = "/search/jql"
        else:
            body = {
                "jql": jql,
                "fields": fields,
                "expand": ["changelog"],
                "startAt": page or 0,
                "maxResults": 50,
            }
            path = "/search"
        return await self._call(
            "Unable to search for the changes of incidents", "POST", path, IDEMPOTENT, body, ("issues",)
        )

    async def changelog_page(self, issue_id: str, start_at: int) -> dict[str, Any]:
        """Jira Cloud's ``GET /issue/{id}/changelog``: a page of the issue's histories, oldest first."""
        return await self._call(
            f"Unable to get the changelog of incident with id {issue_id}",
            "GET",
            f"/issue/{issue_id}/changelog?startAt={start_at}&maxResults=100",
            IDEMPOTENT,
            required=("values",),
        )

    async def full_changelog(self, issue_id: str) -> dict[str, Any]:
        """Data Center's issue with every history of its changelog (``expand=changelog``)."""
        return await self._call(
            f"Unable to get the changelog of incident with id {issue_id}",
            "GET",
            f"/issue/{issue_id}?fields=updated&expand=changelog",
            IDEMPOTENT,
            required=("id", "key"),
        )

    async def comments_page(self, issue_id: str, start_at: int) -> dict[str, Any]:
        """``GET /issue/{id}/comment``: a page of the issue's comments, oldest first."""
        return await self._call(
            f"Unable to get the comments of incident with id {issue_id}",
            "GET",
            f"/issue/{issue_id}/comment?startAt={start_at}&maxResults=100",
            IDEMPOTENT,
            required=("comments",),
        )


def same_status(name: Any, target: str) -> bool:
    """Jira status names compared as people read them: case and surrounding spaces aside."""
    return isinstance(name, str) and name.strip().casefold() == target.strip().casefold()


def _status_name(issue: dict[str, Any]) -> str | None:
    status = (issue.get("fields") or {}).get("status")
    return status.get("name") if isinstance(status, dict) else None


def _target_name(transition: dict[str, Any]) -> str | None:
    target = transition.get("to")
    return target.get("name") if isinstance(target, dict) else None


def _normalized_field(field: dict[str, Any]) -> dict[str, Any]:
    """Kibana's ``normalizeFields``: ``allowedValues`` and ``defaultValue`` defaulted; ``required``,
    ``schema`` and ``name`` left out when Jira gives none, as ``JSON.stringify`` leaves out ``undefined``."""
    allowed, default = field.get("allowedValues"), field.get("defaultValue")
    return {
        **{key: field[key] for key in ("required", "schema", "name") if key in field},
        "allowedValues": [] if allowed is None else allowed,
        "defaultValue": {} if default is None else default,
    }


def _json_or_none(response: OutboundResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_body(response: OutboundResponse) -> Any:
    """What axios makes of an error answer: its JSON, or its text when it is not JSON (a proxy's HTML page,
    Jira's plain-text 401), which Kibana reports as ``unknown: errorResponse.errors was null``."""
    try:
        return response.json()
    except ValueError:
        return response.text()


def _checked(
    response: OutboundResponse, required: tuple[str, ...], shape: type[dict[str, Any] | list[Any]] = dict
) -> Any:
    """Kibana's ``throwIfResponseIsNotValid``: a 204 needs nothing; otherwise JSON holding ``required``.
    Its message shows the header as axios has it (``undefined`` when absent) and the method lower-case,
    as axios' ``config.method``. ``shape`` is the JSON type expected: an object, or a list for the calls
    beyond Kibana's that answer one (the user search)."""
    if response.status == 204:
        return shape()
    content_type = response.headers.get("Content-Type", "undefined")
    if "application/json" not in content_type:
        raise InvalidResponse(
            f"Unsupported content type: {content_type} in {response.method.lower()} {response.url}."
            " Supported content types: application/json"
        )
    body = _json_or_none(response)
    if not isinstance(body, shape):
        raise InvalidResponse("Response is not a valid JSON")
    if any(key not in body for key in required):
        raise InvalidResponse(
            f"Response is missing at least one of the expected fields: {','.join(required)}"
        )
    return body
