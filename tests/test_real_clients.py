"""The official Elasticsearch Python client, unchanged and with its product check on, against casepush's
``/_security`` paths: users, passwords, API keys (with role descriptors), and every error as the exception
the client raises for Elasticsearch's. Then what else Elasticsearch's clients rely on there: the product
header, no ``kbn-xsrf``, no cookie credentials, the query parameters every path takes (``filter_path``
applied as Elasticsearch applies it) and its answers to unknown paths and parameters."""

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    NotFoundError,
)

from casepush.web.elasticsearch import filtered
from tests.helpers import PASSWORD, Api, case_body

PRODUCT = ("X-Elastic-Product", "Elasticsearch")
ONLY_GENERAL_CASES_IN_DEFAULT = {
    "cases-in-default": {
        "applications": [
            {
                "application": "kibana-.kibana",
                "privileges": ["feature_generalCases.all"],
                "resources": ["space:default"],
            }
        ]
    }
}


@pytest.fixture
async def es(api: Api) -> AsyncIterator[Callable[..., AsyncElasticsearch]]:
    """``es(basic_auth=...)`` or ``es(api_key=...)``: an official client of the app under test (as
    ``elastic`` when given nothing), which retries nothing, so that every answer reaches the test."""
    clients: list[AsyncElasticsearch] = []

    def client(**auth: Any) -> AsyncElasticsearch:
        made = AsyncElasticsearch(
            f"http://{api.client.host}:{api.client.port}",
            **(auth or {"basic_auth": ("elastic", PASSWORD)}),
            max_retries=0,
            retry_on_status=(),
        )
        clients.append(made)
        return made

    yield client
    for made in clients:
        await made.close()


def reason(exc: ApiError) -> str:
    return exc.body["error"]["reason"]


# --- the client's calls -------------------------------------------------------------------------------


async def test_the_client_authenticates_with_its_product_check_on(es):
    me = await es().security.authenticate()

    assert me["username"] == "elastic" and me["roles"] == ["superuser"]
    assert (me.meta.headers.get(PRODUCT[0])) == PRODUCT[1]


async def test_the_client_puts_gets_disables_enables_and_deletes_a_user(es):
    admin = es()

    created = await admin.security.put_user(
        username="bob",
        password=PASSWORD,
        roles=["viewer"],
        full_name="Bob",
        email="bob@example.com",
        refresh="wait_for",
    )
    assert created["created"] is True
    found = await admin.security.get_user(username="bob")
    assert found["bob"]["full_name"] == "Bob" and found["bob"]["enabled"] is True
    bob = es(basic_auth=("bob", PASSWORD))
    assert (await bob.security.authenticate())["username"] == "bob"

    assert (await admin.security.disable_user(username="bob", refresh="true")).body == {}
    assert (await admin.security.get_user(username="bob"))["bob"]["enabled"] is False
    with pytest.raises(AuthenticationException) as refused:
        await bob.security.authenticate()
    assert (
        reason(refused.value)
        == "unable to authenticate user [bob] for REST request [/_security/_authenticate]"
    )

    assert (await admin.security.enable_user(username="bob")).body == {}
    assert (await bob.security.authenticate())["username"] == "bob"

    assert (await admin.security.delete_user(username="bob"))["found"] is True
    with pytest.raises(NotFoundError) as gone:
        await admin.security.get_user(username="bob")
    assert gone.value.body == {}
    with pytest.raises(NotFoundError) as again:
        await admin.security.delete_user(username="bob")
    assert again.value.body == {"found": False}


async def test_the_client_changes_a_password_and_signs_in_with_the_new_one(es):
    await es().security.put_user(username="bob", password=PASSWORD, roles=["viewer"])
    bob = es(basic_auth=("bob", PASSWORD))

    assert (await bob.security.change_password(password="a-brand-new-password")).body == {}

    with pytest.raises(AuthenticationException):
        await bob.security.authenticate()
    renewed = es(basic_auth=("bob", "a-brand-new-password"))
    assert (await renewed.security.authenticate())["username"] == "bob"
    await es().security.change_password(username="bob", password="set-by-the-admin")
    assert (await es(basic_auth=("bob", "set-by-the-admin")).security.authenticate())["username"] == "bob"


async def test_the_client_creates_keys_with_role_descriptors_and_expiration_gets_and_invalidates_them(es):
    admin = es()

    key = await admin.security.create_api_key(
        name="ci", expiration="1d", role_descriptors=ONLY_GENERAL_CASES_IN_DEFAULT, metadata={"team": "soc"}
    )
    assert {"id", "name", "api_key", "encoded", "expiration"} <= key.body.keys()
    by_id = await admin.security.get_api_key(id=key["id"])
    [listed] = by_id["api_keys"]
    assert (listed["name"], listed["metadata"], listed["invalidated"]) == ("ci", {"team": "soc"}, False)
    assert listed["expiration"] == key["expiration"]
    descriptor = listed["role_descriptors"]["cases-in-default"]
    assert descriptor["applications"] == ONLY_GENERAL_CASES_IN_DEFAULT["cases-in-default"]["applications"]
    assert [k["id"] for k in (await admin.security.get_api_key(name="c*"))["api_keys"]] == [key["id"]]
    limited = await admin.security.get_api_key(id=key["id"], with_limited_by=True)
    [owner_roles] = limited["api_keys"][0]["limited_by"]
    assert owner_roles["superuser"]["cluster"] == ["all"]

    with_key = es(api_key=key["encoded"])
    assert (await with_key.security.authenticate())["api_key"] == {"id": key["id"], "name": "ci"}
    invalidated = await admin.security.invalidate_api_key(ids=[key["id"]])
    assert invalidated["invalidated_api_keys"] == [key["id"]]
    with pytest.raises(AuthenticationException):
        await with_key.security.authenticate()
    with pytest.raises(NotFoundError):  # no active key has that id any more
        await admin.security.get_api_key(id=key["id"], active_only=True)
    assert (await admin.security.get_api_key(id=key["id"]))["api_keys"][0]["invalidated"] is True


async def test_a_missing_key_id_is_the_clients_not_found_error(es):
    with pytest.raises(NotFoundError) as missing:
        await es().security.get_api_key(id="no-such-key")
    assert missing.value.body == {"api_keys": []}


async def test_a_created_keys_encoded_value_works_on_the_kibana_apis_within_its_role_descriptors(es, api):
    await api.create_space("team")
    key = await es().security.create_api_key(name="cases-bot", role_descriptors=ONLY_GENERAL_CASES_IN_DEFAULT)
    bot = api.with_api_key(key["encoded"])

    status, case = await bot.post("/api/cases", case_body())
    assert status == 200, case
    assert case["created_by"]["username"] == "elastic"  # a key acts as its owner...
    status, refused = await bot.post("/api/cases", case_body(owner="securitySolution"))
    assert (status, refused["message"]) == (
        403,
        'Unauthorized to create case with owners: "securitySolution"',
    )
    assert (await bot.get("/s/team/api/cases/_find"))[0] == 403  # ...within its descriptors only
    assert (await bot.get("/api/actions/connectors"))[0] == 403
    with pytest.raises(AuthorizationException):  # and it manages no users, whoever its owner is
        await es(api_key=key["encoded"]).security.get_user()
    unrestricted = await es().security.create_api_key(name="admin-script")
    assert (await api.with_api_key(unrestricted["encoded"]).get("/s/team/api/cases/_find"))[0] == 200


async def test_a_key_never_grants_more_than_its_owner_has(es, api):
    await api.create_role(
        "cases_reader", {"spaces": ["*"], "base": [], "feature": {"generalCases": ["read"]}}
    )
    await es().security.put_user(username="bob", password=PASSWORD, roles=["cases_reader"])
    everything = {"all": {"applications": [{"application": "*", "privileges": ["*"], "resources": ["*"]}]}}

    key = await es(basic_auth=("bob", PASSWORD)).security.create_api_key(
        name="k", role_descriptors=everything
    )

    bot = api.with_api_key(key["encoded"])
    assert (await bot.get("/api/cases/_find"))[0] == 200
    assert (await bot.post("/api/cases", case_body()))[0] == 403


async def test_a_key_makes_a_derived_key_only_without_privileges(es):
    key = await es().security.create_api_key(name="parent")
    with_key = es(api_key=key["encoded"])

    with pytest.raises(BadRequestError) as refused:
        await with_key.security.create_api_key(name="child")
    assert refused.value.message == "illegal_argument_exception"
    derived = await with_key.security.create_api_key(name="child", role_descriptors={"none": {}})
    assert (await es(api_key=derived["encoded"]).security.authenticate())["username"] == "elastic"


# --- errors as the client's exceptions ----------------------------------------------------------------


async def test_each_error_status_is_the_clients_exception_with_elasticsearchs_type_and_reason(es, api):
    admin = es()
    await api.create_role(
        "cases_reader", {"spaces": ["*"], "base": [], "feature": {"generalCases": ["read"]}}
    )
    await admin.security.put_user(username="bob", password=PASSWORD, roles=["cases_reader"])

    with pytest.raises(BadRequestError) as short:
        await admin.security.put_user(username="carol", password="12345", roles=[])
    assert short.value.message == "validation_exception"
    assert reason(short.value) == "Validation Failed: 1: passwords must be at least [6] characters long;"
    assert "passwords must be at least [6] characters long" in str(short.value)

    with pytest.raises(BadRequestError) as unchecked:
        await admin.security.get_api_key(id="a", username="bob")
    assert unchecked.value.message == "action_request_validation_exception"

    with pytest.raises(AuthenticationException) as wrong:
        await es(basic_auth=("bob", "wrong-password")).security.authenticate()
    assert wrong.value.message == "security_exception"
    challenges = ['Basic realm="security", charset="UTF-8"', "ApiKey"]
    assert wrong.value.body["error"]["header"] == {"WWW-Authenticate": challenges}

    with pytest.raises(AuthorizationException) as forbidden:
        await es(basic_auth=("bob", PASSWORD)).security.delete_user(username="elastic")
    assert forbidden.value.message == "security_exception"
    assert reason(forbidden.value).startswith(
        "action [cluster:admin/xpack/security/user/delete] is unauthorized"
    )

    with pytest.raises(BadRequestError) as self_disable:
        await admin.security.disable_user(username="elastic")
    assert reason(self_disable.value) == "users may not update the enabled status of their own account"

    with pytest.raises(BadRequestError) as nobody:
        await admin.security.enable_user(username="nobody")
    assert reason(nobody.value) == "Validation Failed: 1: only existing users can be enabled;"


async def test_a_throttled_login_is_a_429_the_client_raises_with_retry_after(es, api_with):
    api = await api_with(login_max_failures=2)
    throttled_client = AsyncElasticsearch(
        f"http://{api.client.host}:{api.client.port}", basic_auth=("elastic", "wrong"), max_retries=0
    )
    try:
        for _ in range(2):
            with pytest.raises(AuthenticationException):
                await throttled_client.security.authenticate()
        with pytest.raises(ApiError) as throttled:
            await throttled_client.security.authenticate()
    finally:
        await throttled_client.close()
    assert throttled.value.meta.status == 429
    assert int(throttled.value.meta.headers["Retry-After"]) > 0
    assert reason(throttled.value).startswith("Too many failed login attempts")


# --- what the clients rely on, on the wire ---------------------------------------------------------------


async def test_every_answer_carries_the_product_header_but_401s_and_403s_as_in_elasticsearch(api):
    bob = await api.create_user("bob")
    answers = [
        (api, "PUT", "/_security/user/carol", {"password": PASSWORD, "roles": []}, 200),
        (api, "GET", "/_security/_authenticate?pretty", None, 200),
        (api, "PUT", "/_security/user/x", {"password": "1", "roles": []}, 400),
        (api, "GET", "/_security/user/nobody", None, 404),
        (api, "GET", "/_security/nothing-here", None, 400),
        (api, "PATCH", "/_security/user", None, 405),
        (Api(api.client, auth=None), "GET", "/_security/_authenticate", None, 401),
        (bob, "GET", "/_security/user", None, 403),
        (api, "GET", "/api/cases/_find", None, 200),
    ]
    for caller, method, path, body, status in answers:
        answered, _ = await caller.request(method, path, body)
        # Elasticsearch removes the header from 401s and 403s; Kibana's paths are Kibana's.
        expected = None if status in (401, 403) or path.startswith("/api") else PRODUCT[1]
        assert (answered, caller.last_headers.get(PRODUCT[0])) == (status, expected), path


async def test_writes_need_no_kbn_xsrf_on_elasticsearchs_paths_only(api):
    assert (await api.put("/_security/user/bob", {"password": PASSWORD, "roles": []}, xsrf=False))[0] == 200
    assert (await api.post("/_security/api_key", {"name": "k"}, xsrf=False))[0] == 200
    assert await api.post("/api/cases", case_body(), xsrf=False) == (
        400,
        {"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."},
    )


async def test_a_web_ui_session_cookie_is_no_credential_on_elasticsearchs_paths(api, stored):
    """So there is nothing for a CSRF guard to protect there: a page on another site that makes a
    signed-in browser send a request to ``/_security`` sends no credential it could use."""
    url = api.client.make_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        login_page = await (await browser.get(url("/app/login"))).text()
        csrf = re.search(r'name="csrf" value="([^"]*)"', login_page)[1]
        signed_in = await browser.post(
            url("/app/login"), data={"csrf": csrf, "username": "elastic", "password": PASSWORD}
        )
        assert signed_in.url.path == "/app/cases"
        users_before = await stored.rows("SELECT username FROM users ORDER BY username")

        async with browser.get(url("/_security/_authenticate")) as whoami:
            assert whoami.status == 401
        async with browser.put(
            url("/_security/user/mallory"), json={"password": PASSWORD, "roles": ["superuser"]}
        ) as put:
            assert put.status == 401
        async with browser.post(url("/_security/api_key"), json={"name": "stolen"}) as key:
            assert key.status == 401

    assert await stored.rows("SELECT username FROM users ORDER BY username") == users_before
    assert await stored.count("api_keys") == 0


async def test_the_parameters_of_every_path_are_accepted(api):
    flags = "pretty&human=true&error_trace=false&format=json"
    paths = [
        ("GET", f"/_security/_authenticate?{flags}"),
        ("GET", f"/_security/user?{flags}&with_profile_uid=true"),
        ("GET", f"/_security/api_key?{flags}&owner=true&active_only&with_limited_by=false&with_profile_uid"),
        ("PUT", f"/_security/user/bob?{flags}&refresh=wait_for"),
        ("POST", f"/_security/user/bob/_disable?{flags}&refresh"),
        ("PUT", f"/_security/user/bob/_enable?{flags}&refresh=false"),
        ("POST", f"/_security/user/bob/_password?{flags}&refresh=true"),
        ("POST", f"/_security/api_key?{flags}&refresh=true"),
        ("DELETE", f"/_security/api_key?{flags}"),
        ("DELETE", f"/_security/user/bob?{flags}&refresh=true"),
    ]
    bodies = {
        "/_security/user/bob?": {"password": PASSWORD, "roles": []},
        "/_password": {"password": PASSWORD},
        "/_security/api_key?": {"name": "k"},
    }
    for method, path in paths:
        body = next((b for marker, b in bodies.items() if marker in path and method != "DELETE"), None)
        if method == "DELETE" and path.startswith("/_security/api_key"):
            body = {"owner": True}
        status, answer = await api.request(method, path, body, xsrf=False)
        assert status == 200, (method, path, answer)


@pytest.mark.parametrize(
    ("query", "reason_"),
    [
        ("?usernme=x", "request [/_security/user] contains unrecognized parameter: [usernme]"),
        (
            "?prety=true",
            "request [/_security/user] contains unrecognized parameter: [prety] -> did you mean [pretty]?",
        ),
        (
            "?b=1&a=2",
            "request [/_security/user] contains unrecognized parameters: [a], [b]",
        ),
        ("?pretty=yes", "Failed to parse value [yes] as only [true] or [false] are allowed."),
    ],
)
async def test_an_unknown_or_bad_parameter_is_refused_in_elasticsearchs_words(api, query, reason_):
    status, body = await api.get(f"/_security/user{query}")

    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception" and body["error"]["reason"] == reason_


async def test_a_bad_refresh_is_refused_in_elasticsearchs_words(api):
    status, body = await api.put("/_security/user/bob?refresh=soon", {"password": PASSWORD, "roles": []})

    assert (status, body["error"]["reason"]) == (400, "Unknown value for refresh: [soon].")
    assert (await api.get("/_security/user/bob"))[0] == 404


async def test_unknown_paths_and_methods_are_answered_as_elasticsearch_does(api):
    assert await api.get("/_security/nothing?x=1") == (
        400,
        {"error": "no handler found for uri [/_security/nothing?x=1] and method [GET]", "status": 400},
    )
    status, body = await api.request("PATCH", "/_security/api_key")
    assert (status, body["status"]) == (405, 405)
    assert body["error"] == (
        "Incorrect HTTP method for uri [/_security/api_key] and method [PATCH],"
        " allowed: [DELETE, GET, POST, PUT]"
    )
    assert set(api.last_headers["Allow"].split(",")) >= {"GET", "PUT", "POST", "DELETE"}


async def test_filter_path_and_pretty_shape_the_answer_not_errors(es, api):
    await es().security.put_user(username="bob", password=PASSWORD, roles=["viewer"], email="bob@example.com")

    users = await es().security.get_user(filter_path="*.username,*.email")
    assert users.body == {
        "bob": {"username": "bob", "email": "bob@example.com"},
        "elastic": {"username": "elastic", "email": None},
    }
    headers = {"Authorization": api.auth}
    path = "/_security/user/bob?pretty&filter_path=-**.metadata,-**.email"
    async with api.client.get(path, headers=headers) as response:
        assert response.status == 200
        assert await response.text() == (
            '{\n  "bob" : {\n    "username" : "bob",\n    "roles" : [\n      "viewer"\n    ],\n'
            '    "full_name" : null,\n    "enabled" : true\n  }\n}\n'
        )
    # An error is left whole: filter_path keeps nothing of it here, but it is all there.
    status, error = await api.get("/_security/user?filter_path=nothing&foo=1")
    assert status == 400 and error["error"]["type"] == "illegal_argument_exception"
    status, error = await api.get("/_security/user/nobody,none?filter_path=nothing")
    assert (status, error) == (404, {})


# --- filter_path, as Elasticsearch applies it ------------------------------------------------------------

DOCUMENT = {
    "api_keys": [
        {"id": "a", "name": "ci", "metadata": {"team": "soc", "tier": 1}, "realm": "native"},
        {"id": "b", "name": "ops", "metadata": {}, "realm": "reserved"},
    ],
    "total": 2,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("total", {"total": 2}),
        ("api_keys.id", {"api_keys": [{"id": "a"}, {"id": "b"}]}),
        ("api_keys.*e", {"api_keys": [{"name": "ci"}, {"name": "ops"}]}),
        ("api_keys.metadata.team", {"api_keys": [{"metadata": {"team": "soc"}}]}),
        ("**.team,total", {"api_keys": [{"metadata": {"team": "soc"}}], "total": 2}),
        ("**", DOCUMENT),
        ("nothing", {}),
        ("-api_keys", {"total": 2}),
        (
            "-**.metadata,-**.realm,-total",
            {"api_keys": [{"id": "a", "name": "ci"}, {"id": "b", "name": "ops"}]},
        ),
        ("api_keys.id,-api_keys.id", {}),
        (
            "api_keys.*,-**.metadata",
            {
                "api_keys": [
                    {"id": "a", "name": "ci", "realm": "native"},
                    {"id": "b", "name": "ops", "realm": "reserved"},
                ]
            },
        ),
        (" total , ,", {"total": 2}),
    ],
)
def test_filter_path_keeps_and_drops_what_elasticsearch_does(expression, expected):
    assert filtered(DOCUMENT, expression) == expected
