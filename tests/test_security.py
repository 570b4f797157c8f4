"""Authentication, users, roles and API keys over HTTP, with Elasticsearch's and Kibana's messages."""

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from tests.helpers import PASSWORD, Api, case_body

CASES_ALL = {"spaces": ["*"], "base": [], "feature": {"generalCases": ["all"]}}
CASES_READ = {"spaces": ["*"], "base": [], "feature": {"generalCases": ["read"]}}
CHALLENGES = ['Basic realm="security", charset="UTF-8"', "ApiKey"]
BAD_API_KEY = (
    "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
)
NATIVE = {"name": "default_native", "type": "native"}
RESERVED = {"name": "reserved", "type": "reserved"}
API_KEY_REALM = {"name": "_es_api_key", "type": "_es_api_key"}
WHOAMI = "/_security/_authenticate"
FIND = "/api/cases/_find"


def error(status: int, message: str) -> dict:
    phrase = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
    return {"statusCode": status, "error": phrase[status], "message": message}


def es_error(kind: str, reason: str) -> str:
    """How Kibana words an Elasticsearch error it relays."""
    return f"[{kind}\n\tRoot causes:\n\t\t{kind}: {reason}]: {reason}"


def es_failure(status: int, kind: str, reason: str, header: dict | None = None) -> dict:
    """Elasticsearch's error body, which its paths (``/_security``) answer."""
    cause = {"type": kind, "reason": reason, **({"header": header} if header else {})}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def es_unauthorized(reason: str) -> dict:
    return es_failure(401, "security_exception", reason, {"WWW-Authenticate": CHALLENGES})


API_KEY_REFUSED = error(401, es_error("security_exception", BAD_API_KEY))
ES_API_KEY_REFUSED = es_unauthorized(BAD_API_KEY)
NO_CASES = error(403, "Unauthorized to access cases of any owner")
BOB = "user [bob] with effective roles [cases_reader]"
MANAGE_SECURITY = "manage_security,all"
READ_SECURITY = "read_security,manage_security,all"
REQUEST_CHECKS, STORED_CHECKS = "action_request_validation_exception", "validation_exception"


def user_refused(username: str, path: str) -> str:
    return f"unable to authenticate user [{username}] for REST request [{path}]"


def bad_user(username: str, path: str) -> dict:
    """The 401 on a Kibana path: Elasticsearch's refusal relayed."""
    return error(401, es_error("security_exception", user_refused(username, path)))


def es_bad_user(username: str, path: str = WHOAMI) -> dict:
    return es_unauthorized(user_refused(username, path))


def validation_failed(*problems: str, kind: str = REQUEST_CHECKS) -> dict:
    reason = "Validation Failed: " + "".join(f"{n}: {p};" for n, p in enumerate(problems, 1))
    return es_failure(400, kind, reason)


def illegal_argument(reason: str) -> dict:
    return es_failure(400, "illegal_argument_exception", reason)


def parse_failure(reason: str) -> dict:
    return es_failure(400, "parse_exception", reason)


def unauthorized_action(
    action: str, who: str = BOB, privileges: str = MANAGE_SECURITY, kibana: bool = False
) -> dict:
    """Elasticsearch's 403 for a security action the caller lacks the cluster privileges for (as
    Kibana's role API passes it on, with ``kibana``)."""
    reason = (
        f"action [cluster:admin/xpack/security/{action}] is unauthorized for {who},"
        f" this action is granted by the cluster privileges [{privileges}]"
    )
    return error(403, reason) if kibana else es_failure(403, "security_exception", reason)


def key_of_bob(key: dict) -> str:
    return f"API key id [{key['id']}] of user [bob]"


def role_body(*kibana: dict, **fields: Any) -> dict:
    return {"elasticsearch": {}, "kibana": list(kibana), **fields}


def encoded_key(key_id: str, secret: str) -> str:
    return base64.b64encode(f"{key_id}:{secret}".encode()).decode()


async def reader(api: Api, username: str = "bob", **fields: Any) -> Api:
    """A user who may only read general cases (role ``cases_reader``)."""
    await api.create_role("cases_reader", CASES_READ)
    return await api.create_user(username, "cases_reader", **fields)


async def writer(api: Api, username: str = "bob", **fields: Any) -> Api:
    """A user who may do anything with general cases (role ``cases_writer``)."""
    await api.create_role("cases_writer", CASES_ALL)
    return await api.create_user(username, "cases_writer", **fields)


async def create_key(api: Api, name: str = "ci", **fields: Any) -> dict:
    status, key = await api.post("/_security/api_key", {"name": name, **fields})
    assert status == 200, key
    return key


async def key_client(api: Api, name: str = "ci") -> Api:
    return api.with_api_key((await create_key(api, name))["encoded"])


async def key_ids(api: Api, query: str = "") -> list[str]:
    status, found = await api.get(f"/_security/api_key{query}")
    assert status == 200, found
    return [key["id"] for key in found["api_keys"]]


async def invalidate(api: Api, body: dict) -> tuple[int, Any]:
    return await api.request("DELETE", "/_security/api_key", body)


async def user(api: Api, username: str) -> dict:
    status, found = await api.get(f"/_security/user/{username}")
    assert status == 200, found
    return found[username]


async def logs_in(api: Api) -> bool:
    status, body = await api.get(WHOAMI)
    assert status in (200, 401), body
    return status == 200


# --- 401s ---------------------------------------------------------------------------------------


async def test_no_credentials_get_kibanas_401_with_both_challenges(api):
    anonymous = Api(api.client, auth=None)

    status, body = await anonymous.get(FIND)

    assert status == 401
    assert body == error(401, "Unauthorized")
    assert anonymous.last_headers.getall("WWW-Authenticate") == CHALLENGES


async def test_an_unknown_scheme_counts_as_no_credentials(api):
    status, body = await Api(api.client, auth="Bearer abc").get(FIND)

    assert (status, body) == (401, error(401, "Unauthorized"))


@pytest.mark.parametrize("username", ["elastic", "nobody"])
async def test_a_wrong_password_or_unknown_user_relays_elasticsearchs_refusal(api, username):
    caller = api.as_user(username, "wrong-password")

    status, body = await caller.get(f"{FIND}?page=2")

    assert status == 401
    assert body == bad_user(username, f"{FIND}?page=2")
    assert caller.last_headers.getall("WWW-Authenticate") == CHALLENGES


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda key: encoded_key("no-such-id", key["api_key"]), id="unknown-id"),
        pytest.param(lambda key: encoded_key(key["id"], "wrong-secret"), id="wrong-secret"),
        pytest.param(lambda key: encoded_key(key["id"], ""), id="empty-secret"),
        pytest.param(lambda key: base64.b64encode(key["id"].encode()).decode(), id="no-colon"),
        pytest.param(lambda key: "!!not base64!!", id="garbage"),
    ],
)
async def test_a_bad_api_key_is_refused(api, credentials):
    key = await create_key(api)
    caller = api.with_api_key(credentials(key))

    status, body = await caller.get(FIND)

    assert (status, body) == (401, API_KEY_REFUSED)
    assert caller.last_headers.getall("WWW-Authenticate") == CHALLENGES


async def test_status_needs_no_credentials(api):
    status, body = await Api(api.client, auth=None).get("/api/status")

    assert status == 200
    assert body["status"]["overall"]["level"] == "available"


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        pytest.param(
            {"roles": ["cases_reader"], "enabled": False},
            WHOAMI,
            (401, es_bad_user("bob")),
            id="disabled",
        ),
        pytest.param({"roles": []}, FIND, (403, NO_CASES), id="roles-taken"),
    ],
)
async def test_a_login_checked_while_the_user_changes_is_not_remembered(api, change, path, expected):
    bob = await reader(api)
    assert await logs_in(api)  # elastic's check is cached now, so the change below is quick
    login = asyncio.create_task(bob.get(path))  # bob's password check takes tens of milliseconds...
    await asyncio.sleep(0.01)
    assert (await api.put("/_security/user/bob", change))[0] == 200  # ...and ends after the change
    await login

    assert await bob.get(path) == expected


async def test_a_password_may_contain_colons(api):
    await api.put("/_security/user/bob", {"password": "pa:ss:word", "roles": []})

    assert await logs_in(api.as_user("bob", "pa:ss:word"))


# --- users --------------------------------------------------------------------------------------


async def test_put_user_says_whether_it_created_the_user(api):
    body = {"password": PASSWORD, "roles": ["viewer"]}

    assert await api.put("/_security/user/bob", body) == (200, {"created": True})
    assert await api.post("/_security/user/bob", body) == (200, {"created": False})


async def test_get_users_lists_every_user_by_name_with_the_reserved_elastic(api):
    await api.create_user("bob", "viewer", full_name="Bob", email="bob@example.com", metadata={"team": "soc"})

    status, users = await api.get("/_security/user")

    assert status == 200
    assert users == {
        "bob": {
            "username": "bob",
            "roles": ["viewer"],
            "full_name": "Bob",
            "email": "bob@example.com",
            "metadata": {"team": "soc"},
            "enabled": True,
        },
        "elastic": {
            "username": "elastic",
            "roles": ["superuser"],
            "full_name": None,
            "email": None,
            "metadata": {"_reserved": True},
            "enabled": True,
        },
    }


async def test_get_user_by_name_and_by_a_list_of_names(api):
    await api.create_user("bob", "viewer")
    await api.create_user("carol", "editor")

    status, one = await api.get("/_security/user/bob")
    assert status == 200
    assert list(one) == ["bob"]
    assert one["bob"]["roles"] == ["viewer"]
    status, some = await api.get("/_security/user/carol,nobody")
    assert (status, list(some)) == (200, ["carol"])


async def test_get_an_unknown_user_is_404(api):
    assert await api.get("/_security/user/nobody") == (404, {})


async def test_delete_user_then_they_cannot_log_in_and_a_second_delete_is_404(api):
    bob = await api.create_user("bob", "viewer")
    assert await logs_in(bob)

    assert await api.delete("/_security/user/bob") == (200, {"found": True})

    assert await bob.get(WHOAMI) == (401, es_bad_user("bob"))
    assert await api.get("/_security/user/bob") == (404, {})
    assert await api.delete("/_security/user/bob") == (404, {"found": False})


@pytest.mark.parametrize(
    ("username", "body", "expected"),
    [
        pytest.param(
            "bob",
            {"password": "12345", "roles": []},
            validation_failed("passwords must be at least [6] characters long", kind=STORED_CHECKS),
            id="short-password",
        ),
        pytest.param(
            "bob",
            {"password": "123"},
            validation_failed("passwords must be at least [6] characters long", kind=STORED_CHECKS),
            id="the-password-is-checked-as-the-body-is-read-before-the-rest",
        ),
        pytest.param("bob", {"password": PASSWORD}, validation_failed("roles are missing"), id="no-roles"),
        pytest.param(
            "bob",
            {"password": PASSWORD, "metadata": {"_x": 1}},
            validation_failed("roles are missing", "metadata keys may not start with [_]"),
            id="every-problem-numbered",
        ),
        pytest.param(
            "bob",
            {"roles": ["viewer"]},
            validation_failed(
                "password must be specified unless you are updating an existing user", kind=STORED_CHECKS
            ),
            id="new-user-without-password",
        ),
        pytest.param(
            "bob",
            {"password": PASSWORD, "password_hash": "scrypt$1", "roles": []},
            validation_failed("only one of [password, passwordHash] can be provided", kind=STORED_CHECKS),
            id="password-and-hash",
        ),
        pytest.param(
            "bob",
            {"password_hash": "$2a$10$bcrypt-hash-from-elasticsearch", "roles": []},
            illegal_argument(
                "The provided password hash is not a hash or it could not be resolved to a supported hash"
                " algorithm. The supported password hash algorithms are [scrypt]"
            ),
            id="unknown-hash",
        ),
        pytest.param(
            "elastic",
            {"password": PASSWORD, "roles": ["superuser"]},
            validation_failed("user [elastic] is reserved and only the password can be changed"),
            id="reserved-elastic",
        ),
        pytest.param(
            "bob",
            {"password": PASSWORD, "roles": [], "metadata": {"_hidden": 1}},
            validation_failed("metadata keys may not start with [_]"),
            id="reserved-metadata-key",
        ),
        pytest.param(
            "bob",
            {"password": PASSWORD, "roles": [], "nickname": "b"},
            parse_failure("failed to parse add user request. unexpected field [nickname]"),
            id="unknown-field",
        ),
        pytest.param(
            "bob",
            {"username": "carol", "password": PASSWORD, "roles": []},
            parse_failure("[username] in source does not match the username provided [bob]"),
            id="other-username-in-body",
        ),
        pytest.param(
            "%20bob",
            {"password": PASSWORD, "roles": []},
            validation_failed(
                "User names must be at least 1 and no more than 507 characters. They can contain"
                " alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in"
                " the Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed."
            ),
            id="leading-space-in-name",
        ),
    ],
)
async def test_put_user_refuses_a_bad_request(api, username, body, expected):
    assert await api.put(f"/_security/user/{username}", body) == (400, expected)

    _, users = await api.get("/_security/user")
    assert sorted(users) == ["elastic"]


async def test_the_reserved_elastic_user_cannot_be_deleted(api):
    status, body = await api.delete("/_security/user/elastic")

    assert (status, body) == (400, illegal_argument("user [elastic] is reserved and cannot be deleted"))
    assert await logs_in(api)


async def test_an_update_without_password_keeps_the_password(api):
    bob = await api.create_user("bob", "viewer")

    status, body = await api.put("/_security/user/bob", {"roles": ["editor"], "full_name": "Bob B"})

    assert (status, body) == (200, {"created": False})
    status, me = await bob.get(WHOAMI)
    assert status == 200
    assert (me["roles"], me["full_name"]) == (["editor"], "Bob B")


async def test_a_disabled_user_cannot_log_in_until_enabled_again(api):
    bob = await api.create_user("bob", "viewer")
    assert await logs_in(bob)

    await api.create_user("bob", "viewer", enabled=False)
    assert await bob.get(WHOAMI) == (401, es_bad_user("bob"))
    assert (await user(api, "bob"))["enabled"] is False

    await api.create_user("bob", "viewer", enabled=True)
    assert await logs_in(bob)


async def test_passwords_are_stored_as_scrypt_hashes_only(api, stored):
    password = "clear-text-Pa55word-marker"
    await api.put("/_security/user/bob", {"password": password, "roles": ["viewer"]})
    assert await logs_in(api.as_user("bob", password))

    assert password.encode() not in await stored.everything()
    [(password_hash, data)] = await stored.rows(
        "SELECT password_hash, data FROM users WHERE username = 'bob'"
    )
    assert password_hash.startswith("scrypt$16384$8$1$")
    assert not [key for key in json.loads(data) if "password" in key]


# --- change password ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/_security/user/_password", "/_security/user/bob/_password"])
async def test_a_user_changes_their_own_password_and_the_old_one_stops_working_at_once(api, path):
    bob = await api.create_user("bob", "viewer")
    assert await logs_in(bob)

    assert await bob.post(path, {"password": "brand-new-password"}) == (200, {})

    assert await bob.get(WHOAMI) == (401, es_bad_user("bob"))
    assert await logs_in(api.as_user("bob", "brand-new-password"))


async def test_the_superuser_changes_anyones_password(api):
    await api.create_user("bob", "viewer")

    assert await api.put("/_security/user/bob/_password", {"password": "set-by-admin"}) == (200, {})

    assert await logs_in(api.as_user("bob", "set-by-admin"))
    assert await api.post("/_security/user/nobody/_password", {"password": "whatever"}) == (
        400,
        validation_failed("user must exist in order to change password", kind=STORED_CHECKS),
    )


async def test_a_new_password_must_be_long_enough(api):
    bob = await api.create_user("bob", "viewer")

    status, body = await bob.post("/_security/user/_password", {"password": "short"})

    assert (status, body) == (
        400,
        validation_failed("passwords must be at least [6] characters long", kind=STORED_CHECKS),
    )
    assert await logs_in(bob)


async def test_a_user_cannot_change_someone_elses_password(api):
    bob = await reader(api)
    carol = await api.create_user("carol", "viewer")

    status, body = await bob.post("/_security/user/carol/_password", {"password": "taken-over"})

    assert (status, body) == (403, unauthorized_action("user/change_password"))
    assert await logs_in(carol)


async def test_an_api_key_cannot_change_its_owners_password(api):
    bob = await reader(api)
    key = await create_key(bob)

    status, body = await bob.with_api_key(key["encoded"]).post(
        "/_security/user/_password", {"password": "taken-over"}
    )

    assert (status, body) == (403, unauthorized_action("user/change_password", key_of_bob(key)))
    assert await logs_in(bob)


# --- roles --------------------------------------------------------------------------------------


async def test_put_role_answers_204_and_get_shows_it_in_kibanas_shape(api):
    status, body = await api.put(
        "/api/security/role/cases_reader",
        role_body(CASES_READ, metadata={"team": "soc"}, description="Reads cases"),
    )
    assert (status, body) == (204, None)

    status, role = await api.get("/api/security/role/cases_reader")

    assert status == 200
    assert role == {
        "name": "cases_reader",
        "description": "Reads cases",
        "metadata": {"team": "soc"},
        "transient_metadata": {"enabled": True},
        "elasticsearch": {"cluster": [], "indices": [], "run_as": []},
        "kibana": [{"base": [], "feature": {"generalCases": ["read"]}, "spaces": ["*"]}],
        "_transform_error": [],
        "_unrecognized_applications": [],
    }


async def test_get_roles_lists_the_reserved_and_the_defined_roles_by_name(api):
    await api.create_role("cases_reader", CASES_READ)

    status, roles = await api.get("/api/security/role")

    assert status == 200
    by_name = {role["name"]: role for role in roles}
    assert [role["name"] for role in roles] == ["cases_reader", "editor", "superuser", "viewer"]
    for name in ("editor", "superuser", "viewer"):
        assert by_name[name]["metadata"] == {"_reserved": True}
        assert by_name[name]["transient_metadata"] == {"enabled": True}
    assert by_name["editor"]["kibana"] == [{"base": ["all"], "feature": {}, "spaces": ["*"]}]
    assert by_name["viewer"]["kibana"] == [{"base": ["read"], "feature": {}, "spaces": ["*"]}]
    assert by_name["cases_reader"]["kibana"] == [CASES_READ]
    assert by_name["cases_reader"]["metadata"] == {}


async def test_get_a_reserved_role(api):
    status, role = await api.get("/api/security/role/viewer")

    assert status == 200
    assert (role["name"], role["metadata"]) == ("viewer", {"_reserved": True})


async def test_get_an_unknown_role_is_404(api):
    assert await api.get("/api/security/role/nope") == (404, error(404, "Not Found"))


async def test_create_only_refuses_an_existing_role_with_409(api):
    assert (await api.put("/api/security/role/r?createOnly=true", role_body(CASES_READ)))[0] == 204

    status, body = await api.put("/api/security/role/r?createOnly=true", role_body(CASES_ALL))

    assert (status, body) == (409, error(409, "Role already exists and cannot be created: r"))
    _, role = await api.get("/api/security/role/r")
    assert role["kibana"][0]["feature"] == {"generalCases": ["read"]}


async def test_put_role_replaces_an_existing_role(api):
    await api.create_role("r", CASES_READ)

    await api.create_role("r", CASES_ALL)

    _, role = await api.get("/api/security/role/r")
    assert role["kibana"][0]["feature"] == {"generalCases": ["all"]}


def privilege(**fields: Any) -> dict:
    return {"spaces": ["*"], "base": [], "feature": {}, **fields}


@pytest.mark.parametrize(
    ("name", "kibana", "message"),
    [
        pytest.param(
            "r",
            [privilege(base=["read"], feature={"generalCases": ["all"]})],
            "[request body.kibana.0]: definition of [feature] isn't allowed"
            " when non-empty [base] is defined.",
            id="base-and-feature",
        ),
        pytest.param(
            "r",
            [privilege()],
            "[request body.kibana.0]: either [base] or [feature] is expected, but none of them specified",
            id="neither-base-nor-feature",
        ),
        pytest.param(
            "r",
            [CASES_READ, privilege(spaces=["default", "Bad Space"], base=["read"])],
            "[request body.kibana.1.spaces]: types that failed validation:\n"
            "- [request body.kibana.1.spaces.0.0]: expected value to equal [*]\n"
            "- [request body.kibana.1.spaces.1.1]: must be lower case, a-z, 0-9, '_', and '-' are allowed",
            id="bad-space-id",
        ),
        pytest.param(
            "r",
            [privilege(base=["x"])],
            '[request body.kibana.0.base.0]: unknown global privilege "x", must be one of [all,read]',
            id="unknown-global-privilege",
        ),
        pytest.param(
            "r",
            [privilege(spaces=["default"], base=["read", "x"])],
            '[request body.kibana.0.base.1]: unknown space privilege "x", must be one of [all,read]',
            id="unknown-space-privilege",
        ),
        pytest.param(
            "r",
            [privilege(feature={"bad feature": ["all"]})],
            '[request body.kibana.0.feature.key("bad feature")]:'
            " only a-z, A-Z, 0-9, '_', and '-' are allowed",
            id="bad-feature-name",
        ),
        pytest.param(
            "r",
            [
                privilege(spaces=["default", "ops"], base=["read"]),
                privilege(spaces=["ops", "soc"], base=["all"]),
            ],
            "[request body.kibana]: more than one privilege is applied to the following spaces: [ops]",
            id="overlapping-spaces",
        ),
        pytest.param(
            "superuser",
            [CASES_READ],
            es_error(
                "action_request_validation_exception",
                "Validation Failed: 1: Role [superuser] is reserved and may not be used.;",
            ),
            id="reserved-name",
        ),
        pytest.param(
            "r%20",
            [CASES_READ],
            es_error(
                "action_request_validation_exception",
                "Validation Failed: 1: Role names must be at least 1 and no more than 507 characters."
                " They can contain alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and"
                " printable symbols in the Basic Latin (ASCII) block. Leading or trailing whitespace is"
                " not allowed.;",
            ),
            id="trailing-space-in-name",
        ),
        pytest.param(
            "r" * 1025,
            [CASES_READ],
            "[request params.name]: value has length [1025] but it must have a maximum length of [1024].",
            id="name-too-long",
        ),
    ],
)
async def test_put_role_refuses_a_bad_role(api, name, kibana, message):
    assert await api.put(f"/api/security/role/{name}", role_body(*kibana)) == (400, error(400, message))

    _, roles = await api.get("/api/security/role")
    assert [role["name"] for role in roles] == ["editor", "superuser", "viewer"]


async def test_put_role_refuses_an_unknown_field(api):
    status, body = await api.put("/api/security/role/r", role_body(CASES_READ, colour="red"))

    assert (status, body) == (400, error(400, "[request body.colour]: definition for this key is missing"))


async def test_put_role_refuses_an_unknown_elasticsearch_field(api):
    status, body = await api.put(
        "/api/security/role/r", {"elasticsearch": {"clusters": []}, "kibana": [CASES_READ]}
    )

    assert (status, body) == (
        400,
        error(400, "[request body.elasticsearch.clusters]: definition for this key is missing"),
    )
    assert (await api.get("/api/security/role/r"))[0] == 404


async def test_delete_role_answers_204_then_404(api):
    await api.create_role("r", CASES_READ)

    assert await api.delete("/api/security/role/r") == (204, None)

    assert await api.get("/api/security/role/r") == (404, error(404, "Not Found"))
    assert await api.delete("/api/security/role/r") == (404, error(404, "Not Found"))


async def test_a_reserved_role_cannot_be_deleted(api):
    status, body = await api.delete("/api/security/role/viewer")

    reason = "role [viewer] is reserved and cannot be deleted"
    assert (status, body) == (400, error(400, es_error("illegal_argument_exception", reason)))


async def test_granting_a_role_takes_effect_at_once(api):
    await api.create_role("r", {"spaces": ["*"], "base": [], "feature": {"actions": ["read"]}})
    bob = await api.create_user("bob", "r")
    assert await bob.get(FIND) == (403, NO_CASES)

    await api.create_role("r", CASES_READ)

    status, found = await bob.get(FIND)
    assert (status, found["total"]) == (200, 0)


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda api: api.put("/api/security/role/cases_reader", role_body()), id="emptied"),
        pytest.param(lambda api: api.delete("/api/security/role/cases_reader"), id="deleted"),
        pytest.param(
            lambda api: api.put("/_security/user/bob", {"roles": ["other"]}), id="taken-from-the-user"
        ),
    ],
)
async def test_revoking_a_role_takes_effect_at_once(api, revoke):
    bob = await reader(api)
    assert (await bob.get(FIND))[0] == 200

    status, body = await revoke(api)
    assert status in (200, 204), body

    assert await bob.get(FIND) == (403, NO_CASES)


async def test_an_api_key_follows_its_owners_roles_at_once(api):
    with_key = await key_client(await reader(api))
    assert (await with_key.get(FIND))[0] == 200

    await api.put("/_security/user/bob", {"roles": []})

    assert await with_key.get(FIND) == (403, NO_CASES)


async def test_an_unknown_role_of_a_user_grants_nothing(api):
    bob = await api.create_user("bob", "no_such_role")

    assert await bob.get(FIND) == (403, NO_CASES)


# --- management is for superusers ---------------------------------------------------------------


MANAGEMENT = [
    (
        "PUT",
        "/_security/user/carol",
        {"password": PASSWORD, "roles": ["superuser"]},
        "user/put",
        MANAGE_SECURITY,
    ),
    ("GET", "/_security/user", None, "user/get", READ_SECURITY),
    ("GET", "/_security/user/bob", None, "user/get", READ_SECURITY),
    ("DELETE", "/_security/user/elastic", None, "user/delete", MANAGE_SECURITY),
    ("PUT", "/api/security/role/mine", role_body(CASES_ALL), "role/put", MANAGE_SECURITY),
    ("GET", "/api/security/role", None, "role/get", READ_SECURITY),
    ("GET", "/api/security/role/cases_reader", None, "role/get", READ_SECURITY),
    ("DELETE", "/api/security/role/cases_reader", None, "role/delete", MANAGE_SECURITY),
]


@pytest.mark.parametrize(("method", "path", "body", "action", "privileges"), MANAGEMENT)
async def test_only_a_superuser_manages_users_and_roles(api, method, path, body, action, privileges):
    bob = await reader(api)

    expected = unauthorized_action(action, privileges=privileges, kibana=path.startswith("/api"))
    assert await bob.request(method, path, body) == (403, expected)

    _, users = await api.get("/_security/user")
    assert sorted(users) == ["bob", "elastic"]
    _, roles = await api.get("/api/security/role")
    assert [role["name"] for role in roles] == ["cases_reader", "editor", "superuser", "viewer"]


async def test_the_403_names_every_role_sorted(api):
    await api.create_role("cases_reader", CASES_READ)
    bob = await api.create_user("bob", "viewer", "cases_reader")

    status, body = await bob.delete("/_security/user/elastic")

    who = "user [bob] with effective roles [cases_reader,viewer]"
    assert (status, body) == (403, unauthorized_action("user/delete", who))


async def test_the_403_to_an_api_key_names_the_key_instead_of_roles(api):
    key = await create_key(await reader(api))

    status, body = await api.with_api_key(key["encoded"]).get("/_security/user")

    assert (status, body) == (403, unauthorized_action("user/get", key_of_bob(key), READ_SECURITY))


async def test_a_user_with_the_superuser_role_manages_users_and_roles(api):
    carol = await api.create_user("carol", "superuser")

    assert await carol.put("/_security/user/dave", {"password": PASSWORD, "roles": []}) == (
        200,
        {"created": True},
    )
    await carol.create_role("r", CASES_READ)
    assert (await carol.get("/api/security/role/r"))[0] == 200
    assert await carol.delete("/_security/user/dave") == (200, {"found": True})


# --- API keys -----------------------------------------------------------------------------------


async def test_create_api_key_returns_the_secret_once_and_its_encoding(api):
    status, key = await api.post("/_security/api_key", {"name": "ci"})

    assert status == 200
    assert sorted(key) == ["api_key", "encoded", "id", "name"]
    assert key["name"] == "ci"
    assert key["encoded"] == encoded_key(key["id"], key["api_key"])


async def test_create_api_key_with_an_expiration_says_when(api):
    before = int(time.time() * 1000)

    key = await create_key(api, expiration="1d")

    day = 86_400_000
    assert before + day <= key["expiration"] <= int(time.time() * 1000) + day
    [listed] = (await api.get(f"/_security/api_key?id={key['id']}"))[1]["api_keys"]
    assert listed["expiration"] == key["expiration"]


async def test_an_api_key_acts_as_its_owner_with_the_owners_privileges(api):
    bob = await reader(api)
    await api.create_case()
    with_key = await key_client(bob)

    status, found = await with_key.get(FIND)
    assert (status, found["total"]) == (200, 1)
    status, body = await with_key.post("/api/cases", case_body())
    assert (status, body) == (403, error(403, 'Unauthorized to create case with owners: "cases"'))


async def test_a_case_created_with_an_api_key_is_created_by_its_owner(api):
    bob = await writer(api, full_name="Bob Builder", email="bob@example.com")
    with_key = await key_client(bob)

    case = await with_key.create_case()

    assert case["created_by"] == {"email": "bob@example.com", "full_name": "Bob Builder", "username": "bob"}


async def test_an_api_key_secret_is_not_stored_in_clear_text(api, stored):
    key = await create_key(api)
    assert await logs_in(api.with_api_key(key["encoded"]))

    everything = await stored.everything()
    assert key["api_key"].encode() not in everything
    assert key["encoded"].encode() not in everything
    [(secret_hash,)] = await stored.rows("SELECT secret_hash FROM api_keys WHERE id = ?", key["id"])
    assert len(secret_hash) == 64 and secret_hash != key["api_key"]


async def test_get_api_keys_describes_each_key(api):
    bob = await reader(api)
    key = await create_key(bob, metadata={"purpose": "ci"})

    status, found = await bob.get("/_security/api_key")

    assert status == 200
    [listed] = found["api_keys"]
    assert isinstance(listed.pop("creation"), int)
    assert listed == {
        "id": key["id"],
        "name": "ci",
        "type": "rest",
        "invalidated": False,
        "username": "bob",
        "realm": "default_native",
        "realm_type": "native",
        "metadata": {"purpose": "ci"},
        "role_descriptors": {},
    }


async def test_a_user_sees_only_their_own_keys_and_the_superuser_everyones(api):
    bob = await reader(api)
    bobs = await create_key(bob, "bobs")
    elastics = await create_key(api, "elastics")

    assert await key_ids(bob) == [bobs["id"]]
    assert await key_ids(bob, "?owner=true") == [bobs["id"]]
    assert await key_ids(api) == [bobs["id"], elastics["id"]]
    assert await key_ids(api, "?owner=true") == [elastics["id"]]
    assert await key_ids(api, "?username=bob") == [bobs["id"]]
    assert await key_ids(api, "?name=bob*") == [bobs["id"]]


@pytest.mark.parametrize(
    ("query", "problems"),
    [
        (
            "?id=a&username=bob",
            ["username or realm name must not be specified when the api key id or api key name is specified"],
        ),
        (
            "?owner=true&username=bob",
            ["neither username nor realm-name may be specified when retrieving owned API keys"],
        ),
        (
            "?id=a&name=ci&username=bob",
            [
                "username or realm name must not be specified"
                " when the api key id or api key name is specified",
                "only one of [api key id, api key name] can be specified",
            ],
        ),
    ],
)
async def test_get_api_keys_refuses_a_bad_query(api, query, problems):
    assert await api.get(f"/_security/api_key{query}") == (400, validation_failed(*problems))


async def test_a_user_cannot_see_another_users_keys(api):
    bob = await reader(api)
    elastics = await create_key(api, "elastics")

    assert await bob.get("/_security/api_key?username=elastic") == (
        403,
        unauthorized_action("api_key/get", privileges="read_security,manage_api_key,manage_security,all"),
    )
    assert await bob.get(f"/_security/api_key?id={elastics['id']}") == (
        404,
        {"api_keys": []},
    )


async def test_invalidating_a_key_refuses_it_at_once_and_twice_reports_it_previously_invalidated(api):
    key = await create_key(api)
    with_key = api.with_api_key(key["encoded"])
    assert await logs_in(with_key)

    first = await invalidate(api, {"ids": [key["id"]]})

    assert first == (
        200,
        {"invalidated_api_keys": [key["id"]], "previously_invalidated_api_keys": [], "error_count": 0},
    )
    assert await with_key.get(WHOAMI) == (401, ES_API_KEY_REFUSED)
    assert await invalidate(api, {"ids": [key["id"]]}) == (
        200,
        {"invalidated_api_keys": [], "previously_invalidated_api_keys": [key["id"]], "error_count": 0},
    )
    [listed] = (await api.get("/_security/api_key"))[1]["api_keys"]
    assert listed["invalidated"] is True and isinstance(listed["invalidation"], int)
    assert await key_ids(api, "?active_only=true") == []


async def test_a_user_invalidates_their_own_keys(api):
    bob = await reader(api)
    first, second = await create_key(bob, "first"), await create_key(bob, "second")

    status, body = await invalidate(bob, {"owner": True})

    assert status == 200
    assert body["invalidated_api_keys"] == [first["id"], second["id"]]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"ids": []}, "Field [ids] cannot be an empty array"),
        (
            {"ids": ["a", " "]},
            "Field [ids] must not contain blank id, but got blank id at index position: [1]",
        ),
        (
            {},
            "One of [api key id(s), api key name, username, realm name]"
            " must be specified if [owner] flag is false",
        ),
        (
            {"ids": ["a"], "username": "bob"},
            "username or realm name must not be specified"
            " when the api key id(s) or api key name are specified",
        ),
        (
            {"owner": True, "username": "bob"},
            "neither username nor realm-name may be specified when invalidating owned API keys",
        ),
        ({"ids": ["a"], "name": "ci"}, "only one of [api key id(s), api key name] can be specified"),
        (
            {"name": "ci", "realm_name": "default_native"},
            "username or realm name must not be specified"
            " when the api key id(s) or api key name are specified",
        ),
        (
            {"owner": True, "realm_name": "default_native"},
            "neither username nor realm-name may be specified when invalidating owned API keys",
        ),
    ],
)
async def test_invalidate_refuses_a_bad_request(api, body, problem):
    assert await invalidate(api, body) == (400, validation_failed(problem))


async def test_invalidate_lists_every_blank_id(api):
    status, body = await invalidate(api, {"ids": [" ", "a", ""]})

    problem = "Field [ids] must not contain blank id, but got blank ids at index positions: [0, 2]"
    assert (status, body) == (400, validation_failed(problem))


async def test_invalidate_numbers_every_problem(api):
    status, body = await invalidate(api, {"ids": ["a"], "name": "ci", "username": "bob"})

    assert (status, body) == (
        400,
        validation_failed(
            "username or realm name must not be specified"
            " when the api key id(s) or api key name are specified",
            "only one of [api key id(s), api key name] can be specified",
        ),
    )


async def test_invalidate_by_realm_spares_the_keys_of_other_realms(api):
    bobs = await create_key(await reader(api))
    elastics = await create_key(api)

    status, body = await invalidate(api, {"realm_name": "default_native"})

    assert (status, body["invalidated_api_keys"]) == (200, [bobs["id"]])
    assert await key_ids(api, "?active_only=true") == [elastics["id"]]


async def test_get_api_keys_by_realm(api):
    bobs = await create_key(await reader(api))
    elastics = await create_key(api)

    assert await key_ids(api, "?realm_name=default_native") == [bobs["id"]]
    assert await key_ids(api, "?realm_name=reserved") == [elastics["id"]]


async def test_a_user_cannot_invalidate_another_users_keys(api):
    bob = await reader(api)
    key = await create_key(api)

    assert await invalidate(bob, {"username": "elastic"}) == (
        403,
        unauthorized_action("api_key/invalidate", privileges="manage_api_key,manage_security,all"),
    )
    assert await invalidate(bob, {"ids": [key["id"]]}) == (
        200,
        {"invalidated_api_keys": [], "previously_invalidated_api_keys": [], "error_count": 0},
    )
    assert await logs_in(api.with_api_key(key["encoded"]))


async def test_an_expired_api_key_is_refused(api):
    key = await create_key(api, expiration="1ms")
    await asyncio.sleep(0.05)

    status, body = await api.with_api_key(key["encoded"]).get(WHOAMI)

    assert (status, body) == (401, ES_API_KEY_REFUSED)
    assert await key_ids(api, "?active_only=true") == []


async def test_a_key_used_before_it_expires_is_refused_after(api):
    with_key = api.with_api_key((await create_key(api, expiration="1s"))["encoded"])
    assert await logs_in(with_key)

    await asyncio.sleep(1.1)

    assert await with_key.get(WHOAMI) == (401, ES_API_KEY_REFUSED)


async def expire(stored: Any, key: dict) -> int:
    """Move a key's expiry into the past, behind the server's back; the new expiry."""
    past = int(time.time() * 1000) - 1000
    await stored.execute("UPDATE api_keys SET expires_ms = ? WHERE id = ?", past, key["id"])
    return past


async def test_a_key_past_its_stored_expiry_is_refused_and_listed_as_inactive(api, stored):
    key = await create_key(api, expiration="30d")
    expired_at = await expire(stored, key)

    assert await api.with_api_key(key["encoded"]).get(WHOAMI) == (401, ES_API_KEY_REFUSED)
    assert await key_ids(api, "?active_only=true") == []
    status, found = await api.get(f"/_security/api_key?id={key['id']}")
    assert status == 200, found
    assert (found["api_keys"][0]["expiration"], found["api_keys"][0]["invalidated"]) == (expired_at, False)


async def test_an_expired_key_can_still_be_invalidated(api, stored):
    key = await create_key(api, expiration="30d")
    await expire(stored, key)

    assert await invalidate(api, {"ids": [key["id"]]}) == (
        200,
        {"invalidated_api_keys": [key["id"]], "previously_invalidated_api_keys": [], "error_count": 0},
    )
    assert await api.with_api_key(key["encoded"]).get(WHOAMI) == (401, ES_API_KEY_REFUSED)


@pytest.mark.parametrize(
    "remove_owner",
    [
        pytest.param(lambda api: api.delete("/_security/user/bob"), id="deleted"),
        pytest.param(
            lambda api: api.put("/_security/user/bob", {"roles": [], "enabled": False}), id="disabled"
        ),
    ],
)
async def test_a_key_stops_working_with_its_owner(api, remove_owner):
    with_key = await key_client(await reader(api))
    assert await logs_in(with_key)

    status, body = await remove_owner(api)
    assert status == 200, body

    assert await with_key.get(WHOAMI) == (401, ES_API_KEY_REFUSED)


async def test_a_deleted_owners_keys_are_invalidated(api):
    key = await create_key(await reader(api))

    await api.delete("/_security/user/bob")
    await api.create_user("bob", "cases_reader")

    assert await key_ids(api, "?active_only=true") == []
    assert not await logs_in(api.with_api_key(key["encoded"]))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, validation_failed("api key name is required")),
        ({"name": ""}, validation_failed("api key name is required")),
        ({"name": "_ci"}, validation_failed("api key name may not begin with an underscore")),
        ({"name": "x" * 257}, validation_failed("api key name may not be more than [256] characters long")),
        (
            {"name": "ci", "metadata": {"_x": 1}},
            validation_failed("API key metadata keys may not start with [_]"),
        ),
        (
            {"name": "ci", "expiration": "tomorrow"},
            parse_failure(
                "failed to parse setting [expiration] with value [tomorrow] as a time value:"
                " unit is missing or unrecognized"
            ),
        ),
        (
            {"name": "ci", "role_descriptors": {"limited": {"clusters": []}}},
            parse_failure("failed to parse create api key request. unexpected field [clusters]"),
        ),
        (
            {"name": "ci", "colour": "red"},
            parse_failure("failed to parse create api key request. unexpected field [colour]"),
        ),
    ],
)
async def test_create_api_key_refuses_a_bad_request(api, body, expected):
    assert await api.post("/_security/api_key", body) == (400, expected)

    assert await key_ids(api) == []


async def test_an_api_key_cannot_create_an_api_key(api):
    with_key = await key_client(api)

    status, body = await with_key.post("/_security/api_key", {"name": "derived"})

    message = (
        "creating derived api keys requires an explicit role descriptor that is empty (has no privileges)"
    )
    assert (status, body) == (400, illegal_argument(message))
    assert len(await key_ids(api)) == 1


# --- _authenticate ------------------------------------------------------------------------------


async def test_authenticate_as_elastic(api):
    assert await api.get(WHOAMI) == (
        200,
        {
            "username": "elastic",
            "roles": ["superuser"],
            "full_name": None,
            "email": None,
            "metadata": {"_reserved": True},
            "enabled": True,
            "authentication_realm": RESERVED,
            "lookup_realm": RESERVED,
            "authentication_type": "realm",
        },
    )


async def test_authenticate_as_a_native_user(api):
    bob = await reader(api, full_name="Bob Builder", email="bob@example.com", metadata={"team": "soc"})

    assert await bob.get(WHOAMI) == (
        200,
        {
            "username": "bob",
            "roles": ["cases_reader"],
            "full_name": "Bob Builder",
            "email": "bob@example.com",
            "metadata": {"team": "soc"},
            "enabled": True,
            "authentication_realm": NATIVE,
            "lookup_realm": NATIVE,
            "authentication_type": "realm",
        },
    )


async def test_authenticate_with_an_api_key(api):
    bob = await reader(api, full_name="Bob Builder", email="bob@example.com")
    key = await create_key(bob, "ci")

    assert await bob.with_api_key(key["encoded"]).get(WHOAMI) == (
        200,
        {
            "username": "bob",
            "roles": [],
            "full_name": "Bob Builder",
            "email": "bob@example.com",
            "metadata": {},
            "enabled": True,
            "authentication_realm": API_KEY_REALM,
            "lookup_realm": API_KEY_REALM,
            "authentication_type": "api_key",
            "api_key": {"id": key["id"], "name": "ci"},
        },
    )


# --- who did it ---------------------------------------------------------------------------------


async def test_created_by_and_updated_by_carry_the_callers_name_and_email(api):
    bob = await writer(api, full_name="Bob Builder", email="bob@example.com")
    me = {"email": "bob@example.com", "full_name": "Bob Builder", "username": "bob"}

    case = await bob.create_case()
    status, updated = await bob.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "title": "Renamed"}]}
    )

    assert case["created_by"] == me
    assert status == 200, updated
    assert updated[0]["updated_by"] == me


async def test_concurrent_requests_with_new_credentials_share_one_password_check(api, password_checks):
    bob = await api.create_user("bob", "editor")
    password_checks.clear()  # the superuser's own, creating bob
    answers = await asyncio.gather(*(bob.get("/api/cases/_find") for _ in range(20)))

    assert [status for status, _ in answers] == [200] * 20
    assert password_checks == [PASSWORD]
