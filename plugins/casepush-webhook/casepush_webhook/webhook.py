"""casepush's own ``.webhook``: one JSON document per push (or a rendered ``body`` template), signed with
an HMAC when the connector has a ``signingSecret``."""

import base64
import hashlib
import hmac
import time
from typing import Any

import msgspec
import pystache
from msgspec import UNSET
from pystache.parser import ParsingError

from casepush.connectors import (
    InvalidConnector,
    PushedComment,
    PushedIncident,
    ValidationContext,
)
from casepush.http import RATE_LIMITED, OutboundClient, OutboundError, OutboundResponse
from casepush_webhook.common import (
    Failure,
    http_failure,
    js_string,
    json_text,
    lookup,
    merged_headers,
    now_iso,
    parses,
    present,
    render,
    template_value,
)
from casepush_webhook.schema import WebhookConfig, WebhookPush, WebhookSecrets

NAME = "Webhook"
SIGNATURE_HEADER = "X-Casepush-Signature"


def validate(config: WebhookConfig, secrets: WebhookSecrets, context: ValidationContext) -> None:
    """The URL must parse and be allowed, the body template must parse (so that a push never sends a
    template error), and a user goes with a password."""
    if not parses(config.url):
        raise InvalidConnector(
            "error configuring webhook action: unable to parse url: TypeError: Invalid URL"
        )
    context.ensure_allowed(config.url, "error configuring webhook action")
    if config.body is not None:
        try:
            pystache.parse(config.body)
        except ParsingError as exc:
            raise InvalidConnector(
                f"error configuring webhook action: invalid body template: {exc}"
            ) from None
    if (secrets.user is None) != (secrets.password is None):
        raise InvalidConnector("user and password must both be specified", "secrets")


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``: the time is signed with the body so
    that a receiver can refuse an old request replayed."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def document(params: WebhookPush) -> dict[str, Any]:
    """The CONTRACT's document; the status and the assignees only when they are pushed."""
    sent = {
        "action": "update" if params.external_id else "create",
        "external_id": params.external_id,
        "case": params.case,
        "comments": params.comments,
        "alerts_count": params.alerts_count,
    }
    if params.status is not UNSET:
        sent["status"] = params.status
    if params.assignees is not UNSET:
        sent["assignees"] = msgspec.to_builtins(params.assignees)
    return sent


def _headers(config: WebhookConfig, secrets: WebhookSecrets, body: bytes) -> Any:
    auth = {}
    if secrets.user is not None and secrets.password is not None:
        credentials = base64.b64encode(f"{secrets.user}:{secrets.password}".encode()).decode()
        auth["Authorization"] = f"Basic {credentials}"
    signed = (
        {SIGNATURE_HEADER: signature(secrets.signingSecret, body, int(time.time()))}
        if secrets.signingSecret
        else {}
    )
    return merged_headers(
        {"Content-Type": "application/json"}, auth, config.headers, secrets.secretHeaders, signed
    )


def _answer(response: OutboundResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _usable_id(value: Any) -> bool:
    """An id is a non-empty string or an integer, as the incident's (``true`` is no id)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value != "")


def comment_ids(answer: Any) -> dict[str, str]:
    """The receiver's ids of the pushed comments, when its JSON answer gives them as
    ``"comments": [{"commentId": "<casepush's id>", "id": "<its own>"}]``: two-way sync then knows them
    when they come back. Optional, and an entry that does not fit is passed over: the push is done."""
    given = answer.get("comments") if isinstance(answer, dict) else None
    return {
        item["commentId"]: js_string(item["id"])
        for item in (given if isinstance(given, list) else [])
        if isinstance(item, dict) and isinstance(item.get("commentId"), str) and _usable_id(item.get("id"))
    }


def _recorded(config: WebhookConfig, params: WebhookPush, response: OutboundResponse) -> PushedIncident:
    """The answer's id, title and URL (at the configured paths) when it names an id; otherwise the
    incident is the case itself: its id (or the id already recorded), its title, the webhook's URL. The
    comments' external ids are the answer's, when it gives them (``comment_ids``)."""
    answer = _answer(response)
    external_ids = comment_ids(answer)
    if not present(lookup(answer, config.responseIdKey)):
        answer = None

    def pick(path: str, default: str) -> str:
        value = lookup(answer, path)
        return js_string(value) if present(value) else default

    pushed_date = now_iso()
    return PushedIncident(
        id=pick(config.responseIdKey, params.external_id or str(params.case.get("id", ""))),
        title=pick(config.responseTitleKey, str(params.case.get("title", ""))),
        url=pick(config.responseUrlKey, config.url),
        pushed_date=pushed_date,
        comments=[
            PushedComment(str(c.get("id", "")), pushed_date, external_ids.get(str(c.get("id", ""))))
            for c in params.comments
        ],
    )


async def push(
    config: WebhookConfig, secrets: WebhookSecrets, params: WebhookPush, http: OutboundClient
) -> PushedIncident:
    """Send the document. Not retried but on a 429: the receiver may act on it (add the comments it
    carries) each time it gets it, an update as much as a create."""
    sent = document(params)
    body = (render(config.body, template_value(sent)) if config.body else json_text(sent)).encode()
    what = (
        f"Unable to update case with id {params.external_id}"
        if params.external_id
        else "Unable to create case"
    )
    try:
        try:
            response = await http.request(
                config.method.upper(),
                config.url,
                data=body,
                headers=_headers(config, secrets, body),
                retry=RATE_LIMITED,
            )
        except OutboundError as exc:
            raise Failure(exc.message) from None
        if not 200 <= response.status < 300:
            raise http_failure(response)
    except Failure as failure:
        raise failure.wrapped(NAME, what).connector_error() from None
    return _recorded(config, params, response)
