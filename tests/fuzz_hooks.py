"""schemathesis hooks of the fuzz test (``tests/test_fuzz.py``), loaded by its ``schemathesis run`` through
``SCHEMATHESIS_HOOKS``. ``FUZZ_URL`` names the server, ``FUZZ_CONNECTOR`` the body of a connector to
create (one whose external system answers) and ``FUZZ_TALLY`` the file the run's figures go to.

- a check: every error is Kibana's ``{"statusCode": N, "error": "<reason phrase>", "message": "..."}``, or
  Elasticsearch's on its paths;
- path parameters name real objects half of the time, and so do the bodies of updates that name their
  object (a bulk case update, a comment update), and an update of a real object carries its current
  version: so that requests reach past the 404s and 409s;
- a request that changed the fuzzer's own password is undone, so that the next ones still sign in;
- every status answered is counted.
"""

import atexit
import copy
import json
import os
import re
from collections import Counter
from http import HTTPStatus
from typing import Any

import requests
import schemathesis
from hypothesis import strategies as st

from casepush.testing.client import PASSWORD, basic_auth, case_body, configuration_body

URL = os.environ["FUZZ_URL"]
CONNECTOR = json.loads(os.environ["FUZZ_CONNECTOR"])
SUPERUSER = ("elastic", PASSWORD)
#: The space that ``/s/{space_id}`` paths name when they name a real one.
SPACE = "fuzz"
#: The paths on which a superuser changes their own password (so the fuzzer's).
OWN_PASSWORD_PATHS = {"/_security/user/_password", "/_security/user/{username}/_password"}
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@schemathesis.check
def error_body(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every error answers ``{"statusCode": N, "error": "<reason phrase>", "message": "..."}``, or on
    Elasticsearch's paths ``{"error": {"root_cause": [...], "type", "reason"}, "status": N}``."""
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), f"An error body that is not an object: {response.text!r}"
    if case.path.startswith("/_security"):
        elasticsearch_error(response.status_code, body)
        return
    assert body.get("statusCode") == response.status_code, f"statusCode is not the status: {body}"
    assert body.get("error") == HTTPStatus(response.status_code).phrase, f"error is not the phrase: {body}"
    message = body.get("message")
    assert isinstance(message, str) and message, f"No message: {body}"


def elasticsearch_error(status: int, body: dict) -> None:
    if "error" not in body:  # a lookup's own body with its 404, which the schema checks describe
        assert status == 404, f"An error without an error: {body}"
        return
    assert body.get("status") == status, f"status is not the status: {body}"
    error = body["error"]
    if isinstance(error, str):  # no handler took the request (an unknown path or method)
        assert error, f"No error: {body}"
        return
    [cause] = error["root_cause"]
    assert cause["type"] == error["type"] and cause["reason"] == error["reason"], f"A cause apart: {body}"
    assert isinstance(error["reason"], str) and error["reason"], f"No reason: {body}"


class Targets:
    """Real objects for path parameters to name. Each operation gets its own, made when its first request
    is generated: an earlier operation may have deleted or changed the last ones."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.auth = SUPERUSER
        self.session.headers["kbn-xsrf"] = "true"
        self.made: dict[str, dict[str, str]] = {}
        self.updated: dict[str, str] = {}

    def for_operation(self, operation: schemathesis.APIOperation) -> dict[str, str]:
        if operation.label not in self.made:
            self.made[operation.label] = self.make(operation.path)
        return self.made[operation.label]

    def bulk_updated_case(self, operation: schemathesis.APIOperation) -> str:
        """The path of a case for the bulk update ``operation`` to name (in its space, when spaced)."""
        if operation.label not in self.updated:
            prefix = f"/s/{SPACE}" if "{space_id}" in operation.path else ""
            if prefix:
                self.ensure_space(SPACE)
            case_id = self.created(f"{prefix}/api/cases", case_body())
            self.updated[operation.label] = f"{prefix}/api/cases/{case_id}"
        return self.updated[operation.label]

    def make(self, path: str) -> dict[str, str]:
        """A value for each path parameter of ``path`` that names an object that exists (and the id of a
        comment, when the path names a case)."""
        names = set(_PATH_PARAMETER.findall(path))
        real: dict[str, str] = {}
        prefix = ""
        if "space_id" in names:
            self.ensure_space(SPACE)
            real["space_id"], prefix = SPACE, f"/s/{SPACE}"
        if names & {"case_id", "comment_id", "alert_id"}:
            real.update(self.make_case(prefix))
        if "connector_id" in names or ("id" in names and "/actions/" in path):
            real["connector_id"] = real["id"] = self.created(f"{prefix}/api/actions/connector", CONNECTOR)
        if "id" in names and "/spaces/space/" in path:
            real["id"] = "fuzz-target"
            self.ensure_space("fuzz-target")
        if "configuration_id" in names:
            real["configuration_id"] = self.created(f"{prefix}/api/cases/configure", configuration_body())
        if "name" in names:
            self.send("PUT", "/api/security/role/fuzz-role", {"elasticsearch": {}, "kibana": []})
            real["name"] = "fuzz-role"
        if "username" in names:
            self.send("PUT", "/_security/user/fuzz-user", {"password": PASSWORD, "roles": []})
            real["username"] = "fuzz-user"
        return real

    def make_case(self, prefix: str) -> dict[str, str]:
        """A case with a comment and an alert."""
        case_id = self.created(f"{prefix}/api/cases", case_body())
        comment = {"type": "user", "comment": "Looked at it.", "owner": "cases"}
        commented = self.send("POST", f"{prefix}/api/cases/{case_id}/comments", comment)
        alert = {
            "type": "alert",
            "alertId": "fuzz-alert",
            "index": "alerts",
            "rule": {"id": "rule-1", "name": "Rule"},
            "owner": "cases",
        }
        self.send("POST", f"{prefix}/api/cases/{case_id}/comments", alert)
        return {"case_id": case_id, "comment_id": commented["comments"][-1]["id"], "alert_id": "fuzz-alert"}

    def ensure_space(self, space_id: str) -> None:
        response = self.session.post(f"{URL}/api/spaces/space", json={"id": space_id, "name": space_id})
        assert response.status_code in (200, 409), response.text

    def version(self, path: str, object_id: str) -> str | None:
        """The current version of the object ``path`` reads (or of ``object_id`` in the list it reads);
        None once it is gone (the stateful phase mixes operations: another may have deleted it)."""
        response = self.session.get(URL + path)
        found = response.json() if response.ok else None
        if isinstance(found, list):
            found = next((item for item in found if item["id"] == object_id), None)
        return found["version"] if found else None

    def created(self, path: str, body: Any) -> str:
        """The id of what a POST of ``body`` to ``path`` created."""
        return self.send("POST", path, body)["id"]

    def send(self, method: str, path: str, body: Any) -> Any:
        response = self.session.request(method, URL + path, json=body)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


TARGETS = Targets()
#: Statuses answered to the fuzzer, by operation; written to ``FUZZ_TALLY`` when the run ends.
TALLY: dict[str, Counter[int]] = {}
atexit.register(lambda: _write_tally(os.environ["FUZZ_TALLY"]))


def _write_tally(path: str) -> None:
    with open(path, "w") as file:
        json.dump(TALLY, file)


@schemathesis.hook
def flatmap_path_parameters(context: schemathesis.HookContext, generated: dict[str, Any] | None) -> Any:
    if not generated:
        return st.just(generated)
    real = TARGETS.for_operation(context.operation)
    return st.sampled_from([{name: real.get(name, value) for name, value in generated.items()}, generated])


@schemathesis.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Half of the updates whose body names their object by id name a real one."""
    if _named_in_body(context.operation, body) is None:
        return st.just(body)
    naming = copy.deepcopy(body)
    _named_in_body(context.operation, naming)["id"] = _real_id_in_body(context.operation)
    return st.sampled_from([naming, body])


@schemathesis.hook
def map_query(context: schemathesis.HookContext, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """No ``filter_path``: it keeps only part of an answer, which its schema then no longer describes
    (``tests/test_real_clients.py`` checks what it keeps)."""
    if query:
        query.pop("filter_path", None)
    return query


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    """An update that names a real object does so at its current version (earlier updates changed it)."""
    named = _real_object(case)
    if named is not None and isinstance(case.body, dict):
        part = _named_in_body(case.operation, case.body) or case.body
        if isinstance(part.get("version"), str) and (version := TARGETS.version(*named)) is not None:
            part["version"] = version


def _named_in_body(operation: schemathesis.APIOperation, body: Any) -> dict[str, Any] | None:
    """The part of an update's body that names its object by a string id: a case of a bulk update, a
    comment (a body whose id is invalid is left as generated)."""
    if operation.method.upper() != "PATCH" or not operation.path.endswith(("/api/cases", "/comments")):
        return None
    if operation.path.endswith("/api/cases"):
        cases = body.get("cases") if isinstance(body, dict) else None
        body = cases[0] if isinstance(cases, list) and cases else None
    return body if isinstance(body, dict) and isinstance(body.get("id"), str) else None


def _real_id_in_body(operation: schemathesis.APIOperation) -> str:
    if operation.path.endswith("/comments"):
        return TARGETS.for_operation(operation)["comment_id"]
    return TARGETS.bulk_updated_case(operation).rsplit("/", 1)[1]


def _real_object(case: schemathesis.Case) -> tuple[str, str] | None:
    """If an update names a real object: the path that reads its version, and its id."""
    operation = case.operation
    if operation.method.upper() != "PATCH":
        return None
    named = _named_in_body(operation, case.body)
    if operation.path.endswith("/api/cases"):
        path = TARGETS.bulk_updated_case(operation)
        return (path, named["id"]) if named and named["id"] == _real_id_in_body(operation) else None
    real = TARGETS.for_operation(operation)
    if any(case.path_parameters.get(name) != real[name] for name in case.path_parameters):
        return None
    prefix = f"/s/{SPACE}" if "space_id" in real else ""
    if "configuration_id" in real:
        return f"{prefix}/api/cases/configure", real["configuration_id"]
    if named and named["id"] == real["comment_id"]:
        return f"{prefix}/api/cases/{real['case_id']}/comments/{real['comment_id']}", real["comment_id"]
    return None


@schemathesis.hook
def after_call(context: schemathesis.HookContext, case: schemathesis.Case, response: Any) -> None:
    TALLY.setdefault(case.operation.label, Counter())[response.status_code] += 1
    if _changed_own_password(case, response):
        # Encoded here: requests would encode a password as Latin-1, the server reads UTF-8.
        restored = requests.post(
            f"{URL}/_security/user/_password",
            json={"password": PASSWORD},
            headers={"Authorization": basic_auth(SUPERUSER[0], case.body["password"]), "kbn-xsrf": "true"},
        )
        assert restored.status_code == 200, restored.text


def _changed_own_password(case: schemathesis.Case, response: Any) -> bool:
    return (
        response.status_code == 200
        and case.operation.path in OWN_PASSWORD_PATHS
        and case.path_parameters.get("username", SUPERUSER[0]) == SUPERUSER[0]
    )
