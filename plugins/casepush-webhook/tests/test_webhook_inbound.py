"""``.webhook``'s inbound document (two-way sync): documents parsed into the changes of their incident,
refusals naming the field, the README's examples, and the signature's worked example (computed here, by
Python and by the README's openssl line)."""

import hashlib
import hmac
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import casepush_webhook
import msgspec
import pytest
from casepush_webhook import CASES_WEBHOOK, WEBHOOK
from casepush_webhook.inbound import change_id
from casepush_webhook.schema import StateOptions
from casepush_webhook.webhook import signature

from casepush.connectors import (
    COMMENTS,
    DESCRIPTION,
    STATUS,
    TITLE,
    Connector,
    ConnectorType,
    ExternalChange,
    ExternalComment,
    Inbound,
    InboundCall,
    InboundRefused,
)
from casepush.http import OutboundClient, create_session
from casepush.plugins import load_plugins

README = (Path(__file__).parents[1] / "README.md").read_text()
REFUSED = "Invalid .webhook inbound document"
T = "2026-01-01T09:30:00Z"
AT = "2026-01-01T09:30:00.000Z"


def connector(connector_type: ConnectorType = WEBHOOK) -> Connector:
    return Connector("hook-1", "Hook", connector_type, None, None)


def call(document: Any, headers: dict[str, str] | None = None) -> InboundCall:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return InboundCall(headers=headers or {}, body=body)


def parse(document: Any, headers: dict[str, str] | None = None) -> Inbound:
    """The hook, as the core calls it (it declares only the arguments it uses)."""
    return casepush_webhook.parse_inbound(connector=connector(), call=call(document, headers))


def event(**fields: Any) -> dict[str, Any]:
    return {"id": "evt-1", "at": T, **fields}


def doc(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"external_id": "T-42", "events": list(events), **fields}


def refusal(document: Any) -> str:
    with pytest.raises(InboundRefused) as refused:
        parse(document)
    return refused.value.message


def readme_block(marker: str) -> str:
    """The fenced block right after ``<!-- marker -->`` in the README."""
    found = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", README, re.DOTALL)
    assert found, marker
    return found[1]


# --- the type ------------------------------------------------------------------------------------------


def test_webhook_pulls_everything_by_a_casepush_signature_and_cases_webhook_nothing() -> None:
    assert WEBHOOK.pulls == {STATUS, COMMENTS, TITLE, DESCRIPTION}
    assert WEBHOOK.inbound_auth == "casepush-signature"
    assert CASES_WEBHOOK.pulls == frozenset() and CASES_WEBHOOK.inbound_auth is None
    with pytest.raises(InboundRefused) as refused:
        casepush_webhook.parse_inbound(connector=connector(CASES_WEBHOOK), call=call(doc()))
    assert refused.value.message == ".cases-webhook connectors take no inbound calls"
    assert "`.cases-webhook` only pushes: it has no [inbound form]" in README


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["127.0.0.1"], 10, 1 << 20)


async def test_the_core_reaches_the_hook_with_its_arguments(http: OutboundClient) -> None:
    host = await load_plugins(allowed=[], extra=[casepush_webhook])
    hook = connector(host.types[".webhook"])
    found = await host.parse_inbound(hook, call(doc(event(status="closed"))), StateOptions(), http)
    assert [c.status for c in found.changes] == ["closed"]


# --- documents into changes ----------------------------------------------------------------------------


def test_the_readme_document_is_its_changes_in_order() -> None:
    document = json.loads(readme_block("inbound-document"))
    found = parse(document)
    assert found.sent_at == "2026-01-01T09:33:20.000Z"
    comment = ExternalComment("c-77", "Closing: the IP is blocked.", "Jane Doe", "2026-01-01T09:32:00.000Z")
    edited = ExternalComment(
        "c-77",
        "Closing: the IP is blocked for good.",
        "Jane Doe",
        "2026-01-01T09:32:00.000Z",
        "2026-01-01T09:33:00.000Z",
    )
    assert found.changes == [
        ExternalChange(
            incident_id="T-42",
            change_id='["T-42","evt-1000"]',
            at="2026-01-01T09:00:00.000Z",
            by_integration=True,  # "origin": "casepush": an echo of a push
            status="in-progress",
            external_status="in-progress",
        ),
        ExternalChange(
            "T-42",
            '["T-42","evt-1001"]',
            AT,
            author="Jane Doe",
            status="closed",
            external_status="Resolved",
        ),
        ExternalChange(
            "T-42",
            '["T-42","evt-1002"]',
            "2026-01-01T09:31:00.000Z",
            author="Jane Doe",
            title="Login storm from 10.0.0.7",
        ),
        ExternalChange(
            "T-42",
            '["T-42","evt-1003"]',
            "2026-01-01T09:31:30.000Z",
            author="Jane Doe",
            description="Blocked at the firewall.",
        ),
        # No author on the event: the comment's.
        ExternalChange(
            "T-42", '["T-42","evt-1004"]', "2026-01-01T09:32:00.000Z", "Jane Doe", comment=comment
        ),
        # Times in UTC whatever the offset given.
        ExternalChange("T-42", '["T-42","evt-1005"]', "2026-01-01T09:33:00.000Z", "John Roe", comment=edited),
    ]


def test_change_ids_are_the_event_ids_within_their_incident() -> None:
    """The core counts a change once per connector: two incidents' ``evt-1`` are two changes, and no
    pair of an incident and an event can pass for another (``a/b`` + ``c`` against ``a`` + ``b/c``)."""
    first = parse(doc(event(title="One")))
    other = parse({**doc(event(title="One")), "external_id": "T-43"})
    assert first.changes[0].change_id != other.changes[0].change_id
    assert change_id("a/b", "c") != change_id("a", "b/c")
    assert change_id("a", 'b","c') != change_id('a","b', "c")
    again = parse(doc(event(title="One")))
    assert again.changes[0].change_id == first.changes[0].change_id  # the same event, the same change


def test_sent_at_is_the_documents_else_the_signatures_time() -> None:
    signed = {"X-Casepush-Signature": "t=1767260000,v1=00"}
    assert parse(doc(), signed).sent_at == "2026-01-01T09:33:20.000Z"
    assert parse(doc(), {"x-casepush-signature": "v1=00, t=1767260000"}).sent_at == "2026-01-01T09:33:20.000Z"
    assert parse(doc(sent_at="2026-01-01T10:00:00+01:00"), signed).sent_at == "2026-01-01T09:00:00.000Z"
    assert parse(doc()).sent_at is None
    assert parse(doc(), {"X-Casepush-Signature": "t=99999999999999999999,v1=00"}).sent_at is None


def test_an_empty_document_changes_nothing_and_nulls_mean_absent_metadata() -> None:
    assert parse(doc()).changes == []
    found = parse(doc(event(author=None, origin=None, status="open"), sent_at=None)).changes
    assert found == [ExternalChange("T-42", '["T-42","evt-1"]', AT, status="open", external_status="open")]
    long_title = parse(doc(event(title="x" * 160))).changes[0]
    assert long_title.title == "x" * 160
    comment = {"id": "c1", "body": "Seen.", "author": "Jane", "created_at": T, "updated_at": None}
    assert parse(doc(event(comment=comment))).changes[0].comment == ExternalComment("c1", "Seen.", "Jane", AT)


# --- refusals ------------------------------------------------------------------------------------------

COMMENT = {"id": "c1", "body": "Seen.", "author": "Jane", "created_at": T}

REFUSALS: list[tuple[Any, str]] = [
    (b"{", "the body is not JSON (Input data was truncated)"),
    (b"\xff", "the body is not JSON (JSON is malformed: invalid character (byte 0))"),
    ([], "the document: Expected `object`, got `array`"),
    ({"events": []}, "external_id: missing"),
    (doc(colour="red"), "colour: unknown field"),
    ({"external_id": "", "events": []}, "external_id: Expected `str` of length >= 1"),
    ({"external_id": 42, "events": []}, "external_id: Expected `str`, got `int`"),
    ({"external_id": "T-42", "events": {}}, "events: Expected `array`, got `object`"),
    (doc(*[event(id=f"e{i}", title="t") for i in range(101)]), "events: Expected `array` of length <= 100"),
    (doc(sent_at="yesterday"), "sent_at: Invalid RFC3339 encoded datetime"),
    (doc("evt-1"), "events[0]: Expected `object`, got `str`"),
    (doc(event(colour="red", status="open")), "events[0].colour: unknown field"),
    (doc({"at": T, "status": "open"}), "events[0].id: missing"),
    (doc(event(id=7, status="open")), "events[0].id: Expected `str`, got `int`"),
    (doc(event(id="", status="open")), "events[0].id: Expected `str` of length >= 1"),
    (doc(event(id="x" * 257, status="open")), "events[0].id: Expected `str` of length <= 256"),
    (doc({"id": "e", "status": "open"}), "events[0].at: missing"),
    (
        doc(event(at="2026-01-01T09:30:00", status="open")),
        "events[0].at: Expected `datetime` with a timezone component",
    ),
    (doc(event(at="2026-13-01T00:00:00Z", status="open")), "events[0].at: Invalid RFC3339 encoded datetime"),
    (doc(event(author="", status="open")), "events[0].author: Expected `str` of length >= 1"),
    (
        doc(event(origin="jira", status="open")),
        'events[0].origin: "jira" is not an origin: "casepush" marks an echo of a push, else leave it out',
    ),
    (
        doc(event(status="resolved")),
        'events[0].status: "resolved" is not a case status: use "open", "in-progress" or "closed"'
        " (.webhook maps no statuses: the sender does)",
    ),
    (doc(event(status="Closed")), 'events[0].status: "Closed" is not a case status'),
    (doc(event(status=None)), "events[0].status: Expected `str`, got `null`"),
    (doc(event(title=None)), "events[0].title: Expected `str`, got `null`"),
    (
        doc(event(status="open"), event(id="e2", title="x" * 161)),
        "events[1].title: Expected `str` of length <= 160",
    ),
    (doc(event(title="  ")), "events[0].title: must not be empty"),
    (doc(event(description="")), "events[0].description: must not be empty"),
    (doc(event(description="x" * 30001)), "events[0].description: Expected `str` of length <= 30000"),
    (
        doc(event()),
        "events[0]: an event carries exactly one of `status`, `title`, `description`, `comment`; it has none",
    ),
    (
        doc(event(status="closed", title="Done")),
        "events[0]: an event carries exactly one of `status`, `title`, `description`, `comment`;"
        " it has `status` and `title`",
    ),
    (doc(event(title="t", external_status="Resolved")), "events[0].external_status: goes only with `status`"),
    (doc(event(comment="Seen.")), "events[0].comment: Expected `object`, got `str`"),
    (doc(event(comment={**COMMENT, "id": None})), "events[0].comment.id: Expected `str`, got `null`"),
    (doc(event(comment={**COMMENT, "body": "\n"})), "events[0].comment.body: must not be empty"),
    (doc(event(comment={**COMMENT, "votes": 3})), "events[0].comment.votes: unknown field"),
    (
        doc(event(comment={k: v for k, v in COMMENT.items() if k != "author"})),
        "events[0].comment.author: missing",
    ),
    (
        doc(event(comment={**COMMENT, "updated_at": "soon"})),
        "events[0].comment.updated_at: Invalid RFC3339 encoded datetime",
    ),
    (doc(event(title="Login\x00storm")), "events[0].title: may not contain the NUL character (\\u0000)"),
    (
        doc(event(comment={**COMMENT, "author": "\x00"})),
        "events[0].comment.author: may not contain the NUL character (\\u0000)",
    ),
    (
        doc(event(id="evt-1", status="open"), event(id="evt-2", title="t"), event(id="evt-1", title="u")),
        'events[2].id: "evt-1" is also the id of events[0]: each event has its own id',
    ),
]


@pytest.mark.parametrize(("document", "message"), REFUSALS)
def test_refusals_name_the_field(document: Any, message: str) -> None:
    assert refusal(document).startswith(f"{REFUSED}: {message}")


def _readme_refusals() -> list[str]:
    """The messages the README's list of refusals quotes: each item's code span (``x`` or ``` `` x `` ```),
    a line break in it read as a space, as Markdown renders it."""
    section = README[README.index("### Refusals") : README.index("### The signature")]
    items = [re.sub(r"\s+", " ", item) for item in re.split(r"^- ", section, flags=re.M)[1:]]
    spans = [re.match(r"(``?)(.*?)\1(?!`)", item) for item in items]
    assert all(spans), items
    return [span[2].strip() if span[1] == "``" else span[2] for span in spans if span]


def test_the_readme_refusals_are_the_ones_made() -> None:
    listed = _readme_refusals()
    assert len(listed) == 8
    made = {refusal(document) for document, _ in REFUSALS}
    for message in listed:
        assert message in made, message


# --- the signature -------------------------------------------------------------------------------------

SECRET = "whsec-inbound-example"
T_SIGNED = 1767260000


def _worked_example() -> tuple[bytes, str]:
    """The README's worked example: its body and its header."""
    body = re.search(r"^\| body \| `(.*?)` \(", README, re.M)
    header = re.search(r"^\| header \| `X-Casepush-Signature: (.*?)` \|", README, re.M)
    assert body and header
    return body[1].encode(), header[1]


def test_the_worked_example_of_the_signature() -> None:
    body, header = _worked_example()
    expected = hmac.new(SECRET.encode(), b"1767260000." + body, hashlib.sha256).hexdigest()
    assert header == f"t={T_SIGNED},v1={expected}"
    assert signature(SECRET, body, T_SIGNED) == header  # what .webhook's pushes send, the same way
    assert f"| secret | `{SECRET}` |" in README and f"| `t` | `{T_SIGNED}` (2026-01-01T09:33:20Z) |" in README
    found = parse(body, {"X-Casepush-Signature": header})
    assert found == Inbound(
        [
            ExternalChange(
                "T-42", '["T-42","evt-1001"]', AT, "Jane Doe", status="closed", external_status="Resolved"
            )
        ],
        sent_at="2026-01-01T09:33:20.000Z",
    )


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("openssl")), reason="needs bash and openssl")
def test_the_readme_openssl_line_signs_as_casepush_does() -> None:
    """The README's shell recipe, its time fixed and without the curl, signs the worked example."""
    script = readme_block("inbound-curl")
    assert "t=$(date +%s)\n" in script and script.count("curl ") == 1
    signing = script[: script.index("curl ")].replace("t=$(date +%s)\n", f"t={T_SIGNED}\n")
    printed = subprocess.run(
        ["bash", "-euc", signing + 'echo "t=$t,v1=$v1"'], capture_output=True, text=True, check=True
    ).stdout.strip()
    body, header = _worked_example()
    assert f"body='{body.decode()}'" in script and f"secret='{SECRET}'" in script
    assert printed == header
    assert '-H "X-Casepush-Signature: t=$t,v1=$v1"' in script and '--data-binary "$body"' in script


def test_the_readme_python_signs_as_casepush_does(monkeypatch: pytest.MonkeyPatch) -> None:
    found = re.search(r"In Python:\n\n```python\n(.*?)```", README, re.DOTALL)
    assert found
    namespace: dict[str, Any] = {}
    exec(found[1], namespace)  # the README's own example
    monkeypatch.setattr(namespace["time"], "time", lambda: T_SIGNED + 0.5)
    document = msgspec.json.decode(_worked_example()[0])
    body, headers = namespace["signed"](SECRET, document)
    assert (body, headers["X-Casepush-Signature"]) == _worked_example()
    assert headers["Content-Type"] == "application/json"
