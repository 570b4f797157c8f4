"""Both webhook types through casepush's HTTP API, against a fake target (``fake_target``) and, for the
README's Jira config, the Jira plugin's fake Jira; the state pushed and the error statuses also through
the plugin's hooks (``transform_case``, then ``push_to_service``), as the core calls them."""

import base64
import re
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import casepush_webhook
import msgspec
import pytest
import trustme
from casepush_webhook import CASES_WEBHOOK, WEBHOOK
from casepush_webhook.cases_webhook import CasesWebhookService, push
from casepush_webhook.schema import CasesWebhookConfig, CasesWebhookPush, CasesWebhookSecrets, StateOptions
from casepush_webhook.webhook import signature
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
from cryptography.x509 import load_pem_x509_certificate
from fake_jira import API_TOKEN, EMAIL, FakeJira, start_jira
from fake_target import PASSWORD as TARGET_PASSWORD
from fake_target import USER, Canned, FakeTarget, answer, verify_signature

from casepush.config import Settings
from casepush.connectors import (
    ASSIGNEES,
    PUSH_TO_SERVICE,
    STATUS,
    CaseAssignee,
    CaseForPush,
    CaseState,
    Connector,
    ConnectorError,
    ConnectorType,
    PushComment,
    PushedIncident,
)
from casepush.http import OutboundClient, create_session
from casepush.testing import PASSWORD, Api, FakeService
from casepush.testing.contract import ConnectorContract
from casepush.types import Case, UserComment

HERE = Path(__file__).parent

CASES = "[Action][Webhook - Case Management]"
SIGNING_SECRET = "whsec-signing-secret"
BASIC = {"user": USER, "password": TARGET_PASSWORD}
SERVER_ERROR = answer(500, {"error": "boom"})
#: The keys of ``.webhook``'s document, as the CONTRACT fixes them.
DOCUMENT = {"action", "external_id", "case", "comments", "alerts_count"}


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture
def casepush_plugins() -> list[object]:
    return [casepush_webhook]


@pytest.fixture
def casepush_settings(
    request: pytest.FixtureRequest, tmp_path: Path, casepush_database_url: str | None
) -> Settings:
    """The kit's settings (on SQLite, and on PostgreSQL when ``CASEPUSH_TEST_DATABASE_URL`` is set), plus
    those an indirect parametrization gives (``allowed_hosts``)."""
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        **getattr(request, "param", {}),
    )


@pytest.fixture
async def target(fake_service: Callable[[], FakeService]) -> FakeTarget:
    return await FakeTarget(
        fake_service(), credentials=(USER, TARGET_PASSWORD), signing_secret=SIGNING_SECRET
    ).start()


def cases_config(base: str, **overrides: Any) -> dict[str, Any]:
    """A ``.cases-webhook`` config for the fake target's issue API."""
    issue = f"{base}/api/issues/{{{{{{external.system.id}}}}}}"
    return {
        "createIncidentUrl": f"{base}/api/issues",
        "createIncidentJson": (
            '{"summary": {{{case.title}}}, "body": {{{case.description}}}, "labels": {{{case.tags}}}}'
        ),
        "createIncidentResponseKey": "data.id",
        "getIncidentUrl": issue,
        "getIncidentResponseExternalTitleKey": "fields.key",
        "viewIncidentUrl": f"{base}/browse/{{{{{{external.system.title}}}}}}",
        "updateIncidentUrl": issue,
        "updateIncidentJson": '{"summary": {{{case.title}}}, "ref": {{{external.system.id}}}}',
        "createCommentUrl": f"{issue}/comments",
        "createCommentMethod": "post",
        "createCommentJson": '{"text": {{{case.comment}}}}',
        **overrides,
    }


def hook_config(base: str, **overrides: Any) -> dict[str, Any]:
    return {"url": f"{base}/hook", **overrides}


async def create_connector(api: Api, type_id: str, config: dict, secrets: dict) -> tuple[int, Any]:
    body = {"name": "Target", "connector_type_id": type_id, "config": config, "secrets": secrets}
    return await api.post("/api/actions/connector", body)


async def connector_id(api: Api, type_id: str, config: dict, secrets: dict) -> str:
    status, made = await create_connector(api, type_id, config, secrets)
    assert status == 200, made
    return made["id"]


async def refused(api: Api, type_id: str, config: dict, secrets: dict) -> str:
    status, answer_ = await create_connector(api, type_id, config, secrets)
    assert status == 400, answer_
    return answer_["message"]


async def execute(api: Api, connector: str, params: dict) -> dict:
    body = {"params": {"subAction": "pushToService", "subActionParams": params}}
    status, result = await api.post(f"/api/actions/connector/{connector}/_execute", body)
    assert status == 200, result
    return result


async def ok(api: Api, connector: str, params: dict) -> dict:
    result = await execute(api, connector, params)
    assert result["status"] == "ok", result
    return result["data"]


async def failed(api: Api, connector: str, params: dict) -> str:
    result = await execute(api, connector, params)
    assert result["status"] == "error", result
    return result["service_message"]


def incident(external_id: str | None = None, comments: Any = (), **fields: Any) -> dict:
    return {
        "incident": {
            "title": 'Login "storm"',
            "description": "Many logins",
            "tags": ["auth", "t2"],
            "externalId": external_id,
            **fields,
        },
        "comments": [{"commentId": cid, "comment": text} for cid, text in comments],
    }


def hook_params(external_id: str | None = None, comments: Any = ()) -> dict:
    return {
        "case": {"id": "case-1", "title": "Suspicious login", "tags": ["auth"]},
        "external_id": external_id,
        "comments": [{"id": cid, "comment": text, "type": "user"} for cid, text in comments],
        "alerts_count": 2,
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- .cases-webhook: pushes -----------------------------------------------------------------------------


async def test_create_renders_json_values_and_reads_the_id_and_title_by_path(
    casepush: Api, target: FakeTarget
) -> None:
    cid = await connector_id(casepush, ".cases-webhook", cases_config(target.url), BASIC)
    data = await ok(casepush, cid, incident())
    assert (data["id"], data["title"], data["url"]) == ("100", "T-1", f"{target.url}/browse/T-1")
    assert target.calls() == ["POST /api/issues", "GET /api/issues/100"]
    sent = target.requests[0]
    assert sent.json() == {"summary": 'Login "storm"', "body": "Many logins", "labels": ["auth", "t2"]}
    assert sent.headers["Content-Type"] == "application/json"


async def test_update_then_comments_skipping_empty_ones(casepush: Api, target: FakeTarget) -> None:
    cid = await connector_id(casepush, ".cases-webhook", cases_config(target.url), BASIC)
    created = await ok(casepush, cid, incident())
    data = await ok(casepush, cid, incident("100", [("c1", "First"), ("c2", ""), ("c3", 'Say "hi"')]))
    assert data["id"] == "100" and data["title"] == "T-1"
    assert [c["commentId"] for c in data["comments"]] == ["c1", "c3"]
    assert all(c["pushedDate"] == data["pushedDate"] for c in data["comments"])
    assert created["pushedDate"] <= data["pushedDate"]
    assert target.calls()[2:] == [
        "PUT /api/issues/100",
        "GET /api/issues/100",
        "POST /api/issues/100/comments",
        "POST /api/issues/100/comments",
    ]
    assert target.requests[2].json() == {"summary": 'Login "storm"', "ref": "100"}
    assert target.comments == [("100", {"text": "First"}), ("100", {"text": 'Say "hi"'})]


async def test_comments_are_skipped_without_a_comment_url(casepush: Api, target: FakeTarget) -> None:
    config = cases_config(target.url)
    del config["createCommentUrl"]
    cid = await connector_id(casepush, ".cases-webhook", config, BASIC)
    data = await ok(casepush, cid, incident(None, [("c1", "First")]))
    assert [c["commentId"] for c in data["comments"]] == ["c1"]  # reported, as Kibana does
    assert target.comments == []


async def test_get_by_post_sends_the_rendered_json(casepush: Api, target: FakeTarget) -> None:
    config = cases_config(
        target.url,
        getIncidentUrl=f"{target.url}/api/issues/_search",
        getIncidentMethod="post",
        getIncidentJson='{"id": {{{external.system.id}}}}',
    )
    cid = await connector_id(casepush, ".cases-webhook", config, BASIC)
    data = await ok(casepush, cid, incident())
    assert data["title"] == "T-1"
    assert target.calls() == ["POST /api/issues", "POST /api/issues/_search"]
    assert target.requests[1].json() == {"id": "100"}


async def test_the_external_id_is_url_encoded_and_errors_quote_the_answer(
    casepush: Api, target: FakeTarget
) -> None:
    cid = await connector_id(casepush, ".cases-webhook", cases_config(target.url), BASIC)
    message = await failed(casepush, cid, incident("a/b c"))
    assert target.calls() == ["PUT /api/issues/a%2Fb%20c"]
    assert message == (
        f"{CASES}: Unable to update case with id a/b c. Error: Request failed with status code 404."
        ' {"error":"no such issue"} Reason: Not Found'
    )


async def test_secret_headers_override_config_headers(casepush: Api, target: FakeTarget) -> None:
    config = cases_config(target.url, headers={"X-Team": "from-config", "X-Config": "kept"})
    secrets = {**BASIC, "secretHeaders": {"x-team": "from-secrets"}}
    cid = await connector_id(casepush, ".cases-webhook", config, secrets)
    await ok(casepush, cid, incident())
    headers = {name.lower(): value for name, value in target.requests[0].headers.items()}
    assert headers["x-team"] == "from-secrets" and headers["x-config"] == "kept"


async def test_wrong_credentials_are_the_targets_401(casepush: Api, target: FakeTarget) -> None:
    cid = await connector_id(
        casepush, ".cases-webhook", cases_config(target.url), {"user": USER, "password": "nope"}
    )
    assert await failed(casepush, cid, incident()) == (
        f"{CASES}: Unable to create case. Error: Request failed with status code 401."
        ' {"error":"unauthorized"} Reason: Unauthorized'
    )


async def test_basic_auth_without_a_user_is_a_wrong_configuration(casepush: Api, target: FakeTarget) -> None:
    cid = await connector_id(
        casepush, ".cases-webhook", cases_config(target.url), {"secretHeaders": {"a": "b"}}
    )
    assert (
        await failed(casepush, cid, incident()) == "[Action]Webhook - Case Management: Wrong configuration."
    )
    assert target.requests == []


async def test_without_auth_nothing_is_sent(casepush: Api, target: FakeTarget) -> None:
    target.credentials = None
    cid = await connector_id(casepush, ".cases-webhook", cases_config(target.url, hasAuth=False), {})
    await ok(casepush, cid, incident())
    assert "Authorization" not in target.requests[0].headers


# --- .cases-webhook: Kibana's checks and messages ------------------------------------------------------


@pytest.mark.parametrize(
    ("canned", "detail"),
    [
        (answer(201, {"data": {}}), "Response is missing the expected field: data.id"),
        (Canned(201, b'"text"'), "Response is not a valid JSON"),
        (
            Canned(201, b"<html/>", "text/html"),
            "Unsupported content type: text/html in post {url}/api/issues."
            " Supported content types: application/json",
        ),
        (
            Canned(201, b"", None),
            "Missing content type header in post {url}/api/issues. Supported content types: application/json",
        ),
    ],
    ids=["missing-key", "not-json", "content-type", "no-content-type"],
)
async def test_create_answers_kibana_refuses(
    casepush: Api, target: FakeTarget, canned: Canned, detail: str
) -> None:
    cid = await connector_id(casepush, ".cases-webhook", cases_config(target.url), BASIC)
    target.fail_next(canned)
    message = await failed(casepush, cid, incident())
    assert message == f"{CASES}: Unable to create case. Error: {detail.format(url=target.url)}.  "


async def test_a_failed_read_back_is_wrapped_twice(casepush: Api, target: FakeTarget) -> None:
    config = cases_config(target.url, getIncidentResponseExternalTitleKey="fields.nothing")
    cid = await connector_id(casepush, ".cases-webhook", config, BASIC)
    assert await failed(casepush, cid, incident()) == (
        f"{CASES}: Unable to create case. Error: {CASES}: Unable to get case with id 100. Error: Response is"
        " missing the expected field: fields.nothing.  .  "
    )


@pytest.mark.parametrize(
    ("field", "template", "what"),
    [
        ("createIncidentJson", '{"summary": {{case.title}}}', "Create case JSON body"),
        ("updateIncidentJson", '{"summary": {{{case.title}}}', "Update case JSON body"),
        ("createCommentJson", "{{{case.comment}}", "Create comment JSON body"),
        ("createIncidentJson", "{{#case}}{{/title}}", "Create case JSON body"),
        ("getIncidentJson", "{id}", "Get case JSON body"),
    ],
)
async def test_bodies_must_render_as_json(
    casepush: Api, target: FakeTarget, field: str, template: str, what: str
) -> None:
    config = cases_config(target.url, **{field: template})
    if field == "getIncidentJson":
        config["getIncidentMethod"] = "post"
    cid = await connector_id(casepush, ".cases-webhook", config, BASIC)
    external_id = None if field == "createIncidentJson" else "100"
    target.issues["100"] = {"key": "T-9"}
    message = await failed(casepush, cid, incident(external_id, [("c1", "x")]))
    assert f"JSON Error: {what} must be valid JSON.  " in message


async def test_unreachable_target(casepush: Api, target: FakeTarget) -> None:
    cid = await connector_id(casepush, ".cases-webhook", cases_config("http://127.0.0.1:9"), BASIC)
    assert await failed(casepush, cid, incident()) == (
        f"{CASES}: Unable to create case. Error: connect ECONNREFUSED 127.0.0.1:9.  "
    )


GET_FAILED = f"Unable to create case. Error: {CASES}: Unable to get case with id 100"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"createIncidentUrl": "https://elsewhere.example/api"},
            "Unable to create case. Error: Invalid Create case URL: Error: error configuring connector"
            ' action: target url "https://elsewhere.example/api" is not added to the Kibana config'
            " xpack.actions.allowedHosts.  ",
        ),
        (
            {"viewIncidentUrl": "ftp://127.0.0.1/{{{external.system.title}}}"},
            "Unable to create case. Error: Invalid View case URL: Error: Invalid protocol.  ",
        ),
        (
            {"viewIncidentUrl": "mailto:{{{external.system.title}}}"},
            "Unable to create case. Error: Invalid View case URL: Error: URL must contain hostname.  ",
        ),
        (
            {"getIncidentUrl": "{{{external.system.id}}}"},
            f"{GET_FAILED}. Error: Invalid Get case URL: Error: Invalid URL.  .  ",
        ),
    ],
    ids=["not-allowed", "protocol", "hostname", "invalid"],
)
async def test_rendered_urls_are_checked_at_run_time(
    target: FakeTarget, overrides: dict, expected: str
) -> None:
    """Kibana checks each rendered URL again (allowed hosts may have changed since the connector was
    made), so this calls the service with a client that allows only the fake target."""
    config = msgspec.convert(cases_config(target.url, **overrides), CasesWebhookConfig)
    async with create_session() as session:
        http = OutboundClient(session, ["127.0.0.1"], 10, 1 << 20)
        service = CasesWebhookService(http, config, msgspec.convert(BASIC, CasesWebhookSecrets))
        with pytest.raises(ConnectorError) as raised:
            await push(service, msgspec.convert(incident(), CasesWebhookPush))
    assert raised.value.message == f"{CASES}: {expected}"


async def test_config_validation_messages(casepush: Api, target: FakeTarget) -> None:
    config = cases_config(target.url)
    prefix = "error validating action type"
    oauth = {**config, "authType": "webhook-oauth2-client-credentials"}
    assert await refused(casepush, ".cases-webhook", oauth, {"clientSecret": "s3cret"}) == (
        f"{prefix} config: OAuth2 authentication is not supported for cases webhook connector"
    )
    assert await refused(casepush, ".cases-webhook", {**config, "getIncidentUrl": "not a url"}, BASIC) == (
        f"{prefix} config: error configuring cases webhook action:"
        " unable to parse not a url: TypeError: Invalid URL"
    )
    assert await refused(casepush, ".cases-webhook", config, {"user": USER}) == (
        f"{prefix} secrets: must specify one of the following schemas: user and password; crt and key (with"
        " optional password); pfx (with optional password); or clientSecret (for OAuth2)"
    )
    assert await refused(casepush, ".cases-webhook", config, {}) == (
        f"{prefix} connector: must specify a secrets configuration"
    )
    missing = {k: v for k, v in config.items() if k != "createIncidentJson"}
    assert (await refused(casepush, ".cases-webhook", missing, BASIC)).startswith(f"{prefix} config: ")
    assert (
        await refused(casepush, ".cases-webhook", {**config, "createIncidentMethod": "patch"}, BASIC)
    ).startswith(f"{prefix} config: ")


@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ["example.com"]}], indirect=True)
async def test_config_urls_must_be_allowed(casepush: Api, target: FakeTarget) -> None:
    assert await refused(casepush, ".cases-webhook", cases_config(target.url), BASIC) == (
        "error validating action type config: error configuring cases webhook action:"
        f' target url "{target.url}/api/issues" is not added to the Kibana config xpack.actions.allowedHosts'
    )
    assert await refused(casepush, ".webhook", hook_config(target.url), {}) == (
        "error validating action type config: error configuring webhook action:"
        f' target url "{target.url}/hook" is not added to the Kibana config xpack.actions.allowedHosts'
    )


# --- .cases-webhook: SSL client certificates -----------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_target(
    fake_service: Callable[[], FakeService], aiohttp_server: Any, ca: trustme.CA
) -> FakeTarget:
    """The fake target over TLS, asking for a client certificate signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    service = FakeService(lambda app: aiohttp_server(app, ssl=context))
    return await FakeTarget(service).start()


def client_pems(ca: trustme.CA) -> tuple[bytes, bytes]:
    client = ca.issue_cert("client.example")
    return client.cert_chain_pems[0].bytes(), client.private_key_pem.bytes()


async def test_ssl_client_certificate_and_ca(casepush: Api, tls_target: FakeTarget, ca: trustme.CA) -> None:
    assert tls_target.url.startswith("https://")
    crt, key = client_pems(ca)
    config = cases_config(
        tls_target.url,
        authType="webhook-authentication-ssl",
        certType="ssl-crt-key",
        ca=b64(ca.cert_pem.bytes()),
        verificationMode="full",
    )
    cid = await connector_id(casepush, ".cases-webhook", config, {"crt": b64(crt), "key": b64(key)})
    assert (await ok(casepush, cid, incident()))["title"] == "T-1"
    assert "Authorization" not in tls_target.requests[0].headers


async def test_ssl_client_certificate_from_a_pfx(
    casepush: Api, tls_target: FakeTarget, ca: trustme.CA
) -> None:
    crt, key = client_pems(ca)
    pfx = pkcs12.serialize_key_and_certificates(
        b"client",
        load_pem_private_key(key, None),
        load_pem_x509_certificate(crt),
        None,
        BestAvailableEncryption(b"pfx-pass"),
    )
    config = cases_config(
        tls_target.url, authType="webhook-authentication-ssl", certType="ssl-pfx", ca=b64(ca.cert_pem.bytes())
    )
    cid = await connector_id(casepush, ".cases-webhook", config, {"pfx": b64(pfx), "password": "pfx-pass"})
    assert (await ok(casepush, cid, incident()))["id"] == "100"


async def test_without_the_ca_the_certificate_is_refused(
    casepush: Api, tls_target: FakeTarget, ca: trustme.CA
) -> None:
    crt, key = client_pems(ca)
    config = cases_config(tls_target.url, authType="webhook-authentication-ssl")
    cid = await connector_id(casepush, ".cases-webhook", config, {"crt": b64(crt), "key": b64(key)})
    message = await failed(casepush, cid, incident())
    assert message.startswith(
        f"{CASES}: Unable to create case. Error: certificate verify failed for 127.0.0.1"
    )
    assert tls_target.requests == []


# --- .cases-webhook: the README's Jira config against the Jira plugin's fake Jira ------------------------


def readme_jira_connector(jira_url: str) -> dict:
    """The README's example connector, as written, pointed at the fake Jira."""
    readme = (HERE.parent / "README.md").read_text()
    block = re.search(r"<!-- jira-example -->\s*```json\n(.*?)```", readme, re.S)
    assert block, "the README lost its Jira example"
    return msgspec.json.decode(block[1].replace("https://acme.atlassian.net", jira_url))


@pytest.fixture
async def jira(fake_service: Callable[[], FakeService]) -> FakeJira:
    return await start_jira(fake_service())


async def test_the_readme_jira_config_pushes_a_case_to_fake_jira(casepush: Api, jira: FakeJira) -> None:
    body = readme_jira_connector(jira.url)
    body["secrets"] = {"user": EMAIL, "password": API_TOKEN}
    status, made = await casepush.post("/api/actions/connector", body)
    assert status == 200, made
    case = await casepush.create_case()
    path = f"/api/cases/{case['id']}/connector/{made['id']}/_push"
    status, pushed = await casepush.post(path, {})
    assert status == 200, pushed
    assert pushed["external_service"]["external_title"] == "CK-1"
    assert pushed["external_service"]["external_url"] == f"{jira.url}/browse/CK-1"
    fields = jira.issues["10000"]["fields"]
    assert fields["summary"] == "Suspicious login" and fields["labels"] == ["auth", "triage"]
    assert fields["description"] == "Several failed logins followed by a success."
    status, _ = await casepush.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Blocked the IP.", "owner": "cases"}
    )
    assert status == 200
    status, pushed = await casepush.post(path, {})
    assert status == 200, pushed
    assert [c["body"].split("\n")[0] for c in jira.comments["10000"]] == ["Blocked the IP."]
    assert jira.calls()[-3:] == ["PUT /issue/10000", "GET /issue/10000", "POST /issue/10000/comment"]


# --- .webhook -----------------------------------------------------------------------------------------


async def test_webhook_sends_the_signed_document_and_records_the_case(
    casepush: Api, target: FakeTarget
) -> None:
    secrets = {**BASIC, "signingSecret": SIGNING_SECRET}
    cid = await connector_id(casepush, ".webhook", hook_config(target.url), secrets)
    data = await ok(casepush, cid, hook_params(None, [("c1", "Note")]))
    assert (data["id"], data["title"], data["url"]) == ("case-1", "Suspicious login", f"{target.url}/hook")
    sent = target.requests[0]
    assert sent.json() == {"action": "create", "external_id": None, **hook_params(None, [("c1", "Note")])}
    assert verify_signature(SIGNING_SECRET, sent.headers["X-Casepush-Signature"], sent.body)
    assert [c["commentId"] for c in data["comments"]] == ["c1"]


async def test_webhook_refused_signature_is_the_receivers_401(casepush: Api, target: FakeTarget) -> None:
    cid = await connector_id(
        casepush, ".webhook", hook_config(target.url), {**BASIC, "signingSecret": "other"}
    )
    assert await failed(casepush, cid, hook_params()) == (
        "[Action][Webhook]: Unable to create case. Error: Request failed with status code 401."
        ' {"error":"bad signature"} Reason: Unauthorized'
    )


async def test_webhook_records_the_answer_at_its_paths_and_updates_by_put(
    casepush: Api, target: FakeTarget
) -> None:
    target.signing_secret = None
    config = hook_config(target.url, method="put", responseIdKey="result.key", responseUrlKey="result.link")
    cid = await connector_id(casepush, ".webhook", config, BASIC)
    target.hook_answer = answer(200, {"result": {"key": 42, "link": "https://tickets.example/42"}})
    data = await ok(casepush, cid, hook_params())
    assert (data["id"], data["title"], data["url"]) == (
        "42",
        "Suspicious login",
        "https://tickets.example/42",
    )
    target.hook_answer = Canned(200, b"accepted", "text/plain")
    data = await ok(casepush, cid, hook_params("42"))
    assert data["id"] == "42"  # an answer without an id keeps the recorded one
    assert [r.method for r in target.requests] == ["PUT", "PUT"]
    assert target.requests[1].json()["action"] == "update"


async def test_webhook_body_template_and_headers(casepush: Api, target: FakeTarget) -> None:
    target.signing_secret = None
    config = hook_config(
        target.url,
        body='{"text": {{{case.title}}}, "tags": {{{case.tags}}}, "what": {{{action}}}, "case": {{{case}}}}',
        headers={"X-Team": "config", "Content-Type": "application/vnd.acme+json"},
    )
    secrets = {**BASIC, "secretHeaders": {"X-TEAM": "secret"}}
    cid = await connector_id(casepush, ".webhook", config, secrets)
    await ok(casepush, cid, hook_params())
    sent = target.requests[0]
    case = hook_params()["case"]
    assert sent.json() == {"text": "Suspicious login", "tags": ["auth"], "what": "create", "case": case}
    headers = {name.lower(): value for name, value in sent.headers.items()}
    assert headers["x-team"] == "secret" and headers["content-type"] == "application/vnd.acme+json"


async def test_webhook_errors_and_validation(casepush: Api, target: FakeTarget) -> None:
    cid = await connector_id(
        casepush, ".webhook", hook_config(target.url), {**BASIC, "signingSecret": SIGNING_SECRET}
    )
    target.fail_next(SERVER_ERROR)
    assert await failed(casepush, cid, hook_params("X-1")) == (
        "[Action][Webhook]: Unable to update case with id X-1. Error: Request failed with status code 500."
        ' {"error":"boom"} Reason: Internal Server Error'
    )
    prefix = "error validating action type"
    assert await refused(casepush, ".webhook", {"url": "nope"}, {}) == (
        f"{prefix} config: error configuring webhook action: unable to parse url: TypeError: Invalid URL"
    )
    assert await refused(casepush, ".webhook", hook_config(target.url), {"user": USER}) == (
        f"{prefix} secrets: user and password must both be specified"
    )
    assert await refused(casepush, ".webhook", hook_config(target.url, body="{{#a}}{{/b}}"), {}) == (
        f"{prefix} config: error configuring webhook action: invalid body template:"
        " Section end tag mismatch at position 12. Found {{/b}}, expected {{/a}}"
    )
    assert (await refused(casepush, ".webhook", hook_config(target.url, method="patch"), {})).startswith(
        f"{prefix} config: "
    )


# --- case pushes --------------------------------------------------------------------------------------


async def test_case_push_through_both_types(casepush: Api, target: FakeTarget) -> None:
    hook = await connector_id(
        casepush, ".webhook", hook_config(target.url), {**BASIC, "signingSecret": SIGNING_SECRET}
    )
    cases = await connector_id(casepush, ".cases-webhook", cases_config(target.url), BASIC)
    case = await casepush.create_case()
    status, _ = await casepush.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Checked.", "owner": "cases"}
    )
    assert status == 200
    for connector in (hook, cases):
        status, pushed = await casepush.post(f"/api/cases/{case['id']}/connector/{connector}/_push", {})
        assert status == 200, pushed
    document = target.requests[0].json()
    assert set(document) == DOCUMENT  # no status or assignees unless the case sync settings push them
    assert document["action"] == "create" and document["case"]["id"] == case["id"]
    assert [c["comment"] for c in document["comments"]] == ["Checked."]
    assert document["alerts_count"] == 0
    created = target.requests[1].json()
    assert created["summary"] == "Suspicious login" and "Added by" not in created["body"]
    assert target.comments[0][1]["text"].startswith("Checked.\n\nAdded by ")
    assert pushed["external_service"]["external_title"] == "T-1"


# --- the case's state: status and assignees, beyond Kibana -----------------------------------------------

ALICE = CaseAssignee("alice", "alice@example.com", "Alice Archer")
BOB = CaseAssignee("bob")  # no casepush user of that name: no email, no full name
BOTH = CaseState(status="in-progress", assignees=[ALICE, BOB], options=StateOptions())
ALICE_OUT = {"uid": "alice", "email": "alice@example.com", "full_name": "Alice Archer"}
BOB_OUT = {"uid": "bob", "email": None, "full_name": None}
ELASTIC = {"username": "elastic", "full_name": None, "email": None}


def a_case() -> Case:
    return msgspec.convert(
        {
            "id": "case-1",
            "version": "WzEsMV0=",
            "title": 'Login "storm"',
            "description": "Many logins",
            "tags": ["auth", "t2"],
            "status": "in-progress",
            "severity": "high",
            "owner": "cases",
            "assignees": [{"uid": "alice"}, {"uid": "bob"}],
            "settings": {"syncAlerts": False},
            "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
            "created_at": "2026-01-02T03:04:05.000Z",
            "created_by": ELASTIC,
        },
        Case,
    )


def for_push(
    state: CaseState | None = None, external_id: str | None = None, comments: Any = ()
) -> CaseForPush:
    """A case as the core hands it to ``transform_case``, with the state its case sync settings push."""
    case = a_case()
    return CaseForPush(
        case=case,
        title=case.title,
        description=f"{case.description}\n\nAdded by elastic.",
        comments=[PushComment(cid, f"{text}\n\nAdded by elastic.") for cid, text in comments],
        external_id=external_id,
        new_comments=[
            UserComment(
                id=cid, comment=text, owner="cases", created_at=case.created_at, created_by=case.created_by
            )
            for cid, text in comments
        ],
        alerts_count=1,
        state=state,
    )


def a_connector(connector_type: ConnectorType, config: dict, secrets: dict) -> Connector:
    return Connector(
        "connector-1",
        "Target",
        connector_type,
        msgspec.convert(config, connector_type.config),
        msgspec.convert(secrets, connector_type.secrets),
    )


def params_for(connector: Connector, case: CaseForPush) -> Any:
    """What the core makes of ``transform_case``'s answer: the type's ``pushToService`` struct."""
    params = casepush_webhook.transform_case(connector=connector, case=case)
    return msgspec.convert(msgspec.to_builtins(params), connector.type.sub_actions[PUSH_TO_SERVICE])


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["127.0.0.1"], 10, 1 << 20)


async def push_case(connector: Connector, case: CaseForPush, http: OutboundClient) -> PushedIncident:
    """A push as the core makes it: ``transform_case``'s params, and the case's state apart."""
    return await casepush_webhook.push_to_service(
        connector=connector, params=params_for(connector, case), http=http, state=case.state
    )


def signed_hook(target: FakeTarget, **config: Any) -> Connector:
    return a_connector(WEBHOOK, hook_config(target.url, **config), {**BASIC, "signingSecret": SIGNING_SECRET})


def test_both_types_push_the_state_with_the_case_and_take_no_options() -> None:
    for connector_type in (WEBHOOK, CASES_WEBHOOK):
        assert connector_type.pushes_state == {STATUS, ASSIGNEES}
        assert connector_type.state_options is StateOptions
    assert msgspec.convert({}, StateOptions) == StateOptions()
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"statuses": {"open": "To Do"}}, StateOptions)
    assert not hasattr(casepush_webhook, "push_case_state")


async def test_webhook_document_without_state_is_the_contracts(
    target: FakeTarget, http: OutboundClient
) -> None:
    connector = signed_hook(target)
    for state in (None, CaseState(status=None, assignees=None, options=StateOptions())):
        params = casepush_webhook.transform_case(connector=connector, case=for_push(state))
        assert set(params) == {"case", "external_id", "comments", "alerts_count"}
        await push_case(connector, for_push(state, comments=[("c1", "Note")]), http)
        sent = target.requests[-1]
        assert set(sent.json()) == DOCUMENT
        assert verify_signature(SIGNING_SECRET, sent.headers["X-Casepush-Signature"], sent.body)
    assert target.requests[0].json() == target.requests[1].json()


async def test_webhook_document_with_state(target: FakeTarget, http: OutboundClient) -> None:
    connector = signed_hook(target)
    pushed = await push_case(connector, for_push(BOTH, comments=[("c1", "Note")]), http)
    assert pushed.id == "case-1"
    sent = target.requests[0]
    document = sent.json()
    assert set(document) == DOCUMENT | {"status", "assignees"}
    assert document["status"] == "in-progress"
    assert document["assignees"] == [ALICE_OUT, BOB_OUT]
    # the rest is the document as without state; the case keeps Kibana's own assignees ({uid})
    assert document["case"]["assignees"] == [{"uid": "alice"}, {"uid": "bob"}]
    assert [c["comment"] for c in document["comments"]] == ["Note"]
    assert (document["action"], document["external_id"], document["alerts_count"]) == ("create", None, 1)
    assert verify_signature(SIGNING_SECRET, sent.headers["X-Casepush-Signature"], sent.body)

    await push_case(connector, for_push(CaseState("closed", None, StateOptions()), "case-1"), http)
    await push_case(connector, for_push(CaseState(None, [], StateOptions()), "case-1"), http)
    status_only, nobody = target.requests[1].json(), target.requests[2].json()
    assert set(status_only) == DOCUMENT | {"status"} and status_only["status"] == "closed"
    assert set(nobody) == DOCUMENT | {"assignees"} and nobody["assignees"] == []


async def test_webhook_records_the_comment_ids_the_answer_gives(
    target: FakeTarget, http: OutboundClient
) -> None:
    """An answer's ``comments: [{commentId, id}]`` are the comments' external ids (for two-way sync); an
    entry that does not fit is passed over, and the push still succeeds."""
    connector = signed_hook(target)
    comments = [("c1", "Note"), ("c2", "Other"), ("c3", "Third"), ("c4", "Fourth")]
    target.hook_answer = answer(
        200,
        {
            "id": "T-9",
            "comments": [
                {"commentId": "c1", "id": 501},
                {"commentId": "c2", "id": "ext-2", "extra": "fine"},
                {"commentId": "c3", "id": True},
                {"commentId": "c4", "id": ""},
                "junk",
                {"commentId": "unknown", "id": "x"},
                {"id": "no-comment-id"},
            ],
        },
    )
    pushed = await push_case(connector, for_push(comments=comments), http)
    assert pushed.id == "T-9"
    assert [(c.comment_id, c.external_id) for c in pushed.comments] == [
        ("c1", "501"),
        ("c2", "ext-2"),
        ("c3", None),
        ("c4", None),
    ]
    # An answer without an incident id (an update keeps the recorded one) may still give them.
    target.hook_answer = answer(200, {"comments": [{"commentId": "c5", "id": "ext-5"}]})
    pushed = await push_case(connector, for_push(external_id="T-9", comments=[("c5", "Later")]), http)
    assert (pushed.id, [c.external_id for c in pushed.comments]) == ("T-9", ["ext-5"])
    for other in (
        answer(200, {"comments": {"c6": "ext-6"}}),
        answer(200, []),
        Canned(200, b"ok", "text/plain"),
    ):
        target.hook_answer = other
        pushed = await push_case(connector, for_push(external_id="T-9", comments=[("c6", "More")]), http)
        assert [(c.comment_id, c.external_id) for c in pushed.comments] == [("c6", None)]


async def test_webhook_execute_answers_kibanas_comments_whatever_their_ids(
    casepush: Api, target: FakeTarget
) -> None:
    target.signing_secret = None
    target.hook_answer = answer(200, {"id": "T-9", "comments": [{"commentId": "c1", "id": "ext-1"}]})
    cid = await connector_id(casepush, ".webhook", hook_config(target.url), BASIC)
    data = await ok(casepush, cid, hook_params(None, [("c1", "Note")]))
    assert [set(c) for c in data["comments"]] == [{"commentId", "pushedDate"}]


async def test_webhook_body_template_gets_the_state(target: FakeTarget, http: OutboundClient) -> None:
    target.signing_secret = None
    body = (
        '{"id": {{{case.id}}}, "what": {{{action}}}{{#status}}, "state": {{{status}}}{{/status}}'
        '{{#assignees}}, "people": {{{assignees}}}{{/assignees}}}'
    )
    connector = a_connector(WEBHOOK, hook_config(target.url, body=body), BASIC)
    await push_case(connector, for_push(BOTH), http)
    await push_case(connector, for_push(), http)
    assert target.requests[0].json() == {
        "id": "case-1",
        "what": "create",
        "state": "in-progress",
        "people": [ALICE_OUT, BOB_OUT],
    }
    assert target.requests[1].json() == {"id": "case-1", "what": "create"}


async def test_webhook_execute_takes_the_state_too(casepush: Api, target: FakeTarget) -> None:
    target.signing_secret = None
    cid = await connector_id(casepush, ".webhook", hook_config(target.url), BASIC)
    params = {**hook_params(), "status": "closed", "assignees": [{"uid": "alice"}]}
    await ok(casepush, cid, params)
    document = target.requests[0].json()
    assert document["status"] == "closed"
    assert document["assignees"] == [{"uid": "alice", "email": None, "full_name": None}]
    body = {"params": {"subAction": "pushToService", "subActionParams": {**hook_params(), "status": "done"}}}
    status, answer_ = await casepush.post(f"/api/actions/connector/{cid}/_execute", body)
    assert status == 200 and answer_["status"] == "error", answer_
    assert answer_["message"].startswith("error validating action params: [subActionParams.status]: ")
    assert len(target.requests) == 1


STATE_TEMPLATES = {
    "createIncidentJson": (
        '{"summary": {{{case.title}}}, "status": {{{case.status}}}, "assignees": {{{case.assignees}}},'
        ' "assignee": {{{case.assignee}}}, "email": {{{case.assignee.email}}},'
        ' "name": {{{case.assignee.full_name}}}}'
    ),
    "updateIncidentJson": (
        '{"status": {{{case.status}}}, "owner": {{{case.assignee.uid}}}, "ref": {{{external.system.id}}}}'
    ),
    "createCommentJson": (
        '{"text": {{{case.comment}}}, "status": {{{case.status}}}, "by": {{{case.assignee.email}}}}'
    ),
}


async def test_cases_webhook_templates_get_the_state(target: FakeTarget, http: OutboundClient) -> None:
    connector = a_connector(CASES_WEBHOOK, cases_config(target.url, **STATE_TEMPLATES), BASIC)
    # Kibana's params stay Kibana's: the state reaches the templates apart from them.
    assert set(msgspec.to_builtins(params_for(connector, for_push(BOTH)))) == {"incident", "comments"}
    pushed = await push_case(connector, for_push(BOTH, comments=[("c1", "First")]), http)
    assert (pushed.id, pushed.title) == ("100", "T-1")
    assert target.requests[0].json() == {
        "summary": 'Login "storm"',
        "status": "in-progress",
        "assignees": [ALICE_OUT, BOB_OUT],
        "assignee": ALICE_OUT,
        "email": "alice@example.com",
        "name": "Alice Archer",
    }
    assert target.comments == [
        ("100", {"text": "First\n\nAdded by elastic.", "status": "in-progress", "by": "alice@example.com"})
    ]

    closed_nobody = CaseState(status="closed", assignees=[], options=StateOptions())
    await push_case(connector, for_push(closed_nobody, "100", [("c2", "Done")]), http)
    assert target.calls()[3:] == [
        "PUT /api/issues/100",
        "GET /api/issues/100",
        "POST /api/issues/100/comments",
    ]
    assert target.requests[3].json() == {"status": "closed", "owner": None, "ref": "100"}
    assert target.comments[1] == (
        "100",
        {"text": "Done\n\nAdded by elastic.", "status": "closed", "by": None},
    )

    config = cases_config(target.url, createIncidentJson='{"assignee": {{{case.assignee}}}}')
    nobody = CaseState(status=None, assignees=[], options=StateOptions())
    await push_case(a_connector(CASES_WEBHOOK, config, BASIC), for_push(nobody), http)
    assert target.requests[-2].json() == {"assignee": None}


async def test_cases_webhook_without_state_renders_as_kibana(
    target: FakeTarget, http: OutboundClient
) -> None:
    """Without state the params are Kibana's, ``case.status`` is Kibana's in incident bodies, and the
    state's variables render empty as Kibana renders any unknown one (a section can test for them)."""
    guarded = cases_config(
        target.url,
        createIncidentJson=(
            '{"summary": {{{case.title}}}, "status": {{{case.status}}}'
            '{{#case.assignees}}, "assignees": {{{case.assignees}}}{{/case.assignees}}}'
        ),
        createCommentJson=(
            '{"text": {{{case.comment}}}{{#case.status}}, "status": {{{case.status}}}{{/case.status}}}'
        ),
    )
    connector = a_connector(CASES_WEBHOOK, guarded, BASIC)
    assert set(msgspec.to_builtins(params_for(connector, for_push()))) == {"incident", "comments"}
    await push_case(connector, for_push(comments=[("c1", "First")]), http)
    assert target.requests[0].json() == {"summary": 'Login "storm"', "status": "in-progress"}
    assert target.comments == [("100", {"text": "First\n\nAdded by elastic."})]

    bare = a_connector(CASES_WEBHOOK, cases_config(target.url, **STATE_TEMPLATES), BASIC)
    with pytest.raises(ConnectorError) as raised:
        await push_case(bare, for_push(), http)
    assert raised.value.message == (
        f"{CASES}: Unable to create case. Error: JSON Error: Create case JSON body must be valid JSON.  "
    )
    assert raised.value.status is None
    assert len(target.requests) == 3  # nothing sent for the bare template


async def test_cases_webhook_execute_refuses_a_state_as_kibanas_schema_does(
    casepush: Api, target: FakeTarget
) -> None:
    config = cases_config(target.url, **STATE_TEMPLATES)
    cid = await connector_id(casepush, ".cases-webhook", config, BASIC)
    params = {**incident(), "state": {"status": "open"}}

    status, result = await casepush.post(
        f"/api/actions/connector/{cid}/_execute",
        {"params": {"subAction": "pushToService", "subActionParams": params}},
    )

    assert status == 200 and result["status"] == "error", result
    assert result["message"].endswith("[subActionParams.state]: definition for this key is missing")
    assert target.requests == []


# --- error statuses: what automatic pushes retry --------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("canned", "times", "status", "wait"),
    [
        (SERVER_ERROR, 1, 500, None),
        (answer(503, {"error": "busy"}, Retry_After="120"), 1, 503, 120.0),
        (answer(429, {"error": "slow down"}, Retry_After="0.01"), 3, 429, 0.01),
        (answer(400, {"error": "bad"}), 1, 400, None),
        (answer(403, {"error": "forbidden"}), 1, 403, None),
    ],
    ids=["500", "503-retry-after", "429-retried-then-given-up", "400", "403"],
)
async def test_webhook_errors_carry_the_answers_status(
    target: FakeTarget, http: OutboundClient, canned: Canned, times: int, status: int, wait: float | None
) -> None:
    target.fail_next(canned, times=times)
    with pytest.raises(ConnectorError) as raised:
        await push_case(signed_hook(target), for_push(BOTH), http)
    assert (raised.value.status, raised.value.retry_after) == (status, wait)
    assert raised.value.message.startswith(
        f"[Action][Webhook]: Unable to create case. Error: Request failed with status code {status}. "
    )
    assert len(target.requests) == times  # only a 429 is retried, and only three times in all


async def test_webhook_refused_signature_and_no_answer(target: FakeTarget, http: OutboundClient) -> None:
    connector = a_connector(WEBHOOK, hook_config(target.url), {**BASIC, "signingSecret": "other"})
    with pytest.raises(ConnectorError) as raised:
        await push_case(connector, for_push(), http)
    assert raised.value.status == 401
    nowhere = a_connector(WEBHOOK, {"url": f"http://127.0.0.1:{closed_port()}/hook"}, {})
    with pytest.raises(ConnectorError) as raised:
        await push_case(nowhere, for_push(), http)
    assert (raised.value.status, raised.value.retry_after) == (None, None)
    assert raised.value.message.startswith("[Action][Webhook]: Unable to create case. Error: ")


@pytest.mark.parametrize(
    ("external_id", "config", "secrets", "call", "canned", "status", "message"),
    [
        (
            None,
            {},
            BASIC,
            "POST /api/issues",
            answer(400, {"errors": ["summary"]}),
            400,
            "Unable to create case. Error: Request failed with status code 400.",
        ),
        (
            "100",
            {},
            {"user": USER, "password": "nope"},
            None,
            None,
            401,
            "Unable to update case with id 100. Error: Request failed with status code 401.",
        ),
        (
            None,
            {"createIncidentResponseKey": "data.key"},
            BASIC,
            None,
            None,
            201,  # the create answered, and may have made the incident: not a failure to retry
            "Unable to create case. Error: Response is missing the expected field: data.key.  ",
        ),
        (
            None,
            {"getIncidentUrl": "{base}/api/issues/x{{{{{{external.system.id}}}}}}"},
            BASIC,
            None,
            None,
            404,
            f"Unable to create case. Error: {CASES}: Unable to get case with id 100."
            " Error: Request failed with status code 404.",
        ),
        (
            None,
            {},
            BASIC,
            "POST /api/issues/100/comments",
            answer(503, {"error": "busy"}, Retry_After="7"),
            503,
            "Unable to create comment at case with id 100. Error: Request failed with status code 503.",
        ),
        (
            None,
            {},
            {"secretHeaders": {"X-Token": "t"}},
            None,
            None,
            None,  # no answer: casepush's own refusal of the connector's configuration
            "",
        ),
    ],
    ids=["create-400", "update-401", "create-201-unusable", "read-back-404", "comment-503", "no-answer"],
)
async def test_cases_webhook_errors_carry_the_answers_status(
    target: FakeTarget,
    http: OutboundClient,
    external_id: str | None,
    config: dict,
    secrets: dict,
    call: str | None,
    canned: Canned | None,
    status: int | None,
    message: str,
) -> None:
    if external_id:
        target.issues[external_id] = {"key": "T-1"}
    if canned:
        target.fail_next(canned, call=call)
    overrides = {name: value.format(base=target.url) for name, value in config.items()}
    connector = a_connector(CASES_WEBHOOK, cases_config(target.url, **overrides), secrets)
    with pytest.raises(ConnectorError) as raised:
        await push_case(connector, for_push(BOTH, external_id, [("c1", "First")]), http)
    assert raised.value.status == status
    assert raised.value.retry_after == (7.0 if status == 503 else None)
    if message:
        assert raised.value.message.startswith(f"{CASES}: {message}")
    else:
        assert raised.value.message == "[Action]Webhook - Case Management: Wrong configuration."


# --- contracts ----------------------------------------------------------------------------------------


class TestCasesWebhookContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".cases-webhook"

    @pytest.fixture
    def contract_connector(self, target: FakeTarget) -> dict:
        return {"config": cases_config(target.url), "secrets": BASIC}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return incident

    @pytest.fixture
    def contract_break(self, target: FakeTarget) -> Callable[[], None]:
        return lambda: target.fail_next(SERVER_ERROR, times=100)


class TestWebhookContract(TestCasesWebhookContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".webhook"

    @pytest.fixture
    def contract_connector(self, target: FakeTarget) -> dict:
        return {"config": hook_config(target.url), "secrets": {**BASIC, "signingSecret": SIGNING_SECRET}}

    @pytest.fixture
    def contract_inbound_call(self) -> Callable[[str, str, str], tuple[bytes, dict[str, str]]]:
        """The sender's signed document reporting a person's new comment on the ticket."""

        def call(external_id: str, text: str, secret: str) -> tuple[bytes, dict[str, str]]:
            now = datetime.now(UTC)
            at = now.isoformat(timespec="seconds").replace("+00:00", "Z")
            comment = {"id": "c-1", "body": text, "author": "Jane Doe", "created_at": at}
            event = {"id": "evt-1", "at": at, "author": "Jane Doe", "comment": comment}
            body = msgspec.json.encode({"external_id": external_id, "events": [event]})
            signed = signature(secret, body, int(now.timestamp()))
            return body, {"X-Casepush-Signature": signed, "Content-Type": "application/json"}

        return call

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return hook_params
