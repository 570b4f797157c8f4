"""HTTP conventions shared by every route: auth, kbn-xsrf, error bodies, request ids, spaces."""

import logging

import pytest

from tests.helpers import PASSWORD, Api, basic_auth, case_body

ERROR_KEYS = {"statusCode", "error", "message"}


async def test_status_answers_without_credentials(api):
    anonymous = Api(api.client, auth=None)
    status, body = await anonymous.get("/api/status")
    assert status == 200
    assert body["status"]["overall"]["level"] == "available"
    assert body["version"]["number"]


async def test_missing_credentials_are_401_with_kibana_body_and_challenge(api):
    anonymous = Api(api.client, auth=None)
    status, body = await anonymous.get("/api/cases/_find")
    assert status == 401
    assert body == {"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}
    assert anonymous.last_headers["WWW-Authenticate"].startswith("Basic")


async def test_wrong_password_and_unknown_user_and_garbage_header_are_401(api):
    for header in (
        basic_auth("elastic", "wrong"),
        basic_auth("nobody", "test-password"),
        "Basic !!!not-base64",
        "Bearer abc",
    ):
        status, body = await Api(api.client, auth=header).get("/api/cases/_find")
        assert (status, body["statusCode"]) == (401, 401), header


async def test_writes_need_kbn_xsrf_header(api, stored):
    status, body = await api.post("/api/cases", case_body(), xsrf=False)
    assert status == 400
    assert body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Request must contain a kbn-xsrf header.",
    }
    assert await stored.count("cases") == 0


async def test_reads_do_not_need_kbn_xsrf_header(api):
    status, _ = await api.get("/api/cases/_find", xsrf=False)
    assert status == 200


async def test_authentication_comes_before_the_xsrf_check(api):
    status, _ = await Api(api.client, auth=None).post("/api/cases", {}, xsrf=False)
    assert status == 401


async def test_unknown_route_is_a_kibana_404(api):
    status, body = await api.get("/api/nothing-here")
    assert status == 404
    assert body == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


async def test_wrong_method_on_a_known_path_is_a_404(api):
    status, body = await api.put("/api/cases/_find", {})
    assert status == 404
    assert set(body) == ERROR_KEYS


async def test_every_response_carries_a_request_id_and_honours_a_given_one(api):
    await api.get("/api/cases/_find")
    assert len(api.last_headers["X-Request-Id"]) >= 16
    await api.get("/api/cases/_find", headers={"X-Request-Id": "trace-123"})
    assert api.last_headers["X-Request-Id"] == "trace-123"
    await api.get("/api/cases/_find", headers={"X-Request-Id": "bad id with spaces"})
    assert api.last_headers["X-Request-Id"] != "bad id with spaces"


async def test_unexpected_failure_is_a_generic_500_logged_with_the_request_id(api, stored, caplog):
    case = await api.create_case()
    await stored.execute("UPDATE cases SET data = '{\"unexpected\": true}' WHERE id = ?", case["id"])
    with caplog.at_level(logging.ERROR, logger="casepush.http"):
        status, body = await api.get(f"/api/cases/{case['id']}")
    assert status == 500
    assert body == {
        "statusCode": 500,
        "error": "Internal Server Error",
        "message": "An internal server error occurred.",
    }
    request_id = api.last_headers["X-Request-Id"]
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert "Traceback" not in str(body)


async def test_default_space_prefix_is_the_same_space_as_bare_paths(api):
    case = await api.create_case()
    status, got = await api.get(f"/s/default/api/cases/{case['id']}")
    assert status == 200
    assert got["id"] == case["id"]


async def test_unknown_space_is_a_404(api):
    status, body = await api.get("/s/nowhere/api/cases/_find")
    assert status == 404
    assert set(body) == ERROR_KEYS


async def test_oversized_body_is_a_413_in_kibana_format_and_writes_nothing(api, stored):
    huge = case_body(description="x" * (1024 * 1024 + 1))
    status, body = await api.post("/api/cases", huge)
    assert status == 413
    assert body == {
        "statusCode": 413,
        "error": "Request Entity Too Large",
        "message": "Payload content length greater than maximum allowed: 1048576",
    }
    assert await stored.count("cases") == 0


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/api/cases", case_body(title="before\u0000after")),
        ("POST", "/api/cases", case_body(tags=["ok", "n\u0000ul"])),
        ("PUT", "/_security/user/bob", {"password": PASSWORD, "roles": [], "metadata": {"k\u0000": 1}}),
        ("GET", "/api/cases/before%00after", None),
        ("GET", "/api/cases/_find?search=before%00after", None),
    ],
    ids=["body", "body-list", "body-key", "path", "query"],
)
async def test_a_nul_character_is_a_400_on_every_backend_and_writes_nothing(api, stored, method, path, body):
    before = await stored.snapshot()
    status, error = await api.request(method, path, body)
    # Kibana's error body, or Elasticsearch's on its paths.
    message = error["message"] if "message" in error else error["error"]["reason"]
    assert (status, message) == (400, "Request may not contain the NUL character (\\u0000)")
    assert await stored.snapshot() == before


async def test_credentials_with_a_nul_character_are_a_401(api):
    await api.create_user("bob")
    status, error = await Api(api.client, basic_auth("bob\u0000", PASSWORD)).get("/api/cases/_find")
    assert status == 401
    assert "unable to authenticate with provided credentials" in error["message"]
