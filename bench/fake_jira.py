"""A fake Jira for the push benchmark: exactly the REST v2 calls casepush's ``.jira`` connector makes to
create and update an issue and comment on it, answered at once with plausible bodies.

It stores no issue, only counters, so that its own cost stays small and the same for casepush and the
baseline. Besides Jira's paths it serves the benchmark (no auth, not counted):

- ``GET /_bench/counts``: the calls received, ``{"<METHOD> <path template>": n}``; ``DELETE`` zeroes them;
- ``POST /_bench/record``: record the calls from now on (method, path template, path and body);
  ``GET /_bench/recorded`` answers them and stops recording.

Standalone (only aiohttp): ``python bench/fake_jira.py --port 8080``.
"""

import argparse
import base64
import itertools
from collections import Counter
from typing import Any

from aiohttp import web

API = "/rest/api/2"
EMAIL = "bench@example.com"
API_TOKEN = "bench-jira-token"
PROJECT = "BENCH"
AUTHORIZATION = "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
#: Every date the fake answers: Jira's format, in Jira's server zone.
NOW = "2024-05-02T10:15:30.123+0200"


class FakeJira:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.recorded: list[dict[str, str]] | None = None
        self.issue_ids = itertools.count(10000)
        self.comment_ids = itertools.count(20000)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.count_calls])
        app.add_routes(
            [
                web.post(f"{API}/issue", self.create_issue),
                web.get(f"{API}/issue/{{id}}", self.get_issue),
                web.put(f"{API}/issue/{{id}}", self.edit_issue),
                web.post(f"{API}/issue/{{id}}/comment", self.add_comment),
                web.get("/_bench/counts", self.get_counts),
                web.delete("/_bench/counts", self.reset_counts),
                web.post("/_bench/record", self.start_recording),
                web.get("/_bench/recorded", self.stop_recording),
            ]
        )
        return app

    @web.middleware
    async def count_calls(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_bench/"):
            return await handler(request)
        # One string comparison: the check costs next to nothing and is the same for every caller.
        if request.headers.get("Authorization") != AUTHORIZATION:
            return web.Response(status=401, text="Client must be authenticated to access this resource.")
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        self.counts[f"{request.method} {template}"] += 1
        if self.recorded is not None:
            body = await request.text()
            self.recorded.append(
                {"method": request.method, "template": template, "path": request.path, "body": body}
            )
        return await handler(request)

    # --- Jira

    def issue_ref(self, issue_id: str) -> dict[str, str]:
        return {"id": issue_id, "key": f"{PROJECT}-{issue_id}", "self": f"{API}/issue/{issue_id}"}

    async def create_issue(self, request: web.Request) -> web.Response:
        return web.json_response(self.issue_ref(str(next(self.issue_ids))), status=201)

    async def get_issue(self, request: web.Request) -> web.Response:
        issue_id = request.match_info["id"]
        fields = {
            "summary": f"Issue {issue_id}",
            "project": {"key": PROJECT},
            "issuetype": {"id": "10006", "name": "Task"},
            "created": NOW,
            "updated": NOW,
        }
        return web.json_response({**self.issue_ref(issue_id), "fields": fields})

    async def edit_issue(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def add_comment(self, request: web.Request) -> web.Response:
        issue_id, comment_id = request.match_info["id"], str(next(self.comment_ids))
        comment = {
            "id": comment_id,
            "self": f"{API}/issue/{issue_id}/comment/{comment_id}",
            "author": {"emailAddress": EMAIL},
            "created": NOW,
            "updated": NOW,
        }
        return web.json_response(comment, status=201)

    # --- the benchmark's

    async def get_counts(self, request: web.Request) -> web.Response:
        return web.json_response(self.counts)

    async def reset_counts(self, request: web.Request) -> web.Response:
        self.counts.clear()
        return web.json_response({})

    async def start_recording(self, request: web.Request) -> web.Response:
        self.recorded = []
        return web.json_response({})

    async def stop_recording(self, request: web.Request) -> web.Response:
        recorded, self.recorded = self.recorded or [], None
        return web.json_response(recorded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, default=8080)
    port = parser.parse_args().port
    web.run_app(FakeJira().app(), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
