"""Fuzzing: ``schemathesis run`` sends requests made from ``GET /api/openapi.json`` (valid and invalid ones)
to every operation of a real server, as the superuser. None may fail with a 5xx, every error must be Kibana's
``{statusCode, error, message}`` (Elasticsearch's body on its paths), every answer must match the document
(``tests/fuzz_hooks.py``) and the server may log no error.

``make test`` runs a few examples per operation, seeded; ``make fuzz`` many (``FUZZ_EXAMPLES``), with
schemathesis' coverage and stateful phases too (``FUZZ_PHASES``) and NUL characters (``FUZZ_NUL``), and
prints the run's figures.
"""

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

from tests.helpers import PASSWORD, connector_body
from tests.processes import call, start_with_plugins, stop

HOOKS = Path(__file__).with_name("fuzz_hooks.py")
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "5")
PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing")
SEED = os.environ.get("FUZZ_SEED", "1")
#: Whether generated strings may hold NUL, which every request is refused for at its first check: the
#: short run leaves it out to get further in its few examples.
NUL = os.environ.get("FUZZ_NUL", "false")
#: schemathesis' checks, and ours (``fuzz_hooks``). Left out: ``positive_data_acceptance`` (Kibana's rules
#: and limits are checked with Kibana's messages, not written into the schemas), ``unsupported_method``
#: (Kibana answers 404, not 405), ``ignored_auth`` (its wrong credentials would trip the login throttle),
#: and those that need links between operations, which the document does not declare.
CHECKS = (
    "not_a_server_error",
    "error_body",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


def schemathesis_run(document: Path, url: str, report: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "schemathesis.cli", "run", str(document), "--url", url),
        *("--auth", f"elastic:{PASSWORD}", "--header", "kbn-xsrf: true"),
        *("--checks", ",".join(CHECKS), "--phases", PHASES),
        *("--max-examples", EXAMPLES, "--seed", SEED, "--generation-allow-x00", NUL, "--workers", "1"),
        *("--report", "json", "--report-json-path", str(report), "--no-color"),
    ]


async def fuzz(url: str, connector: dict, folder: Path) -> tuple[int, str]:
    """``schemathesis run`` against the server at ``url``: its exit status and output. Its report
    (``report.json``) and the statuses it was answered (``tally.json``) are written to ``folder``."""
    # The served document, from a file: loaded from its URL, schemathesis leaves that operation out.
    document = folder / "openapi.json"
    document.write_text(json.dumps((await call(url, "GET", "/api/openapi.json"))[1]))
    hooks = {"SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_URL": url, "FUZZ_CONNECTOR": json.dumps(connector)}
    fuzzer = await asyncio.create_subprocess_exec(
        *schemathesis_run(document, url, folder / "report.json"),
        env={**os.environ, **hooks, "FUZZ_TALLY": str(folder / "tally.json")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=folder,
    )
    output, _ = await fuzzer.communicate()
    return fuzzer.returncode, output.decode()


def figures(folder: Path) -> str:
    """What ``make fuzz`` prints: operations, requests, run time and the statuses answered."""
    report = json.loads((folder / "report.json").read_text())
    tally = json.loads((folder / "tally.json").read_text())
    statuses = sum((Counter(counts) for counts in tally.values()), Counter())
    return (
        f"fuzzed {report['operations']['tested']} of {report['operations']['total']} operations:"
        f" {report['test_cases']['generated']} test cases, {statuses.total()} requests"
        f" in {report['running_time']:.1f} s; statuses "
        + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    )


async def test_every_operation_answers_without_5xx_and_its_errors_in_kibanas_format(
    settings, tmp_path, installed_echo, echo
):
    # With the example plugin, pushes reach its fake service and succeed. The server logs a line a
    # request: to a file, as nothing reads its output while the fuzzer runs.
    log = tmp_path / "server.log"
    process, url = await start_with_plugins(
        installed_echo, settings, log=log, CASEPUSH_ELASTIC_PASSWORD=PASSWORD
    )
    try:
        status, output = await fuzz(url, connector_body(echo.url), tmp_path)
    finally:
        await stop(process)

    assert status == 0, output
    assert [line for line in log.read_text().splitlines() if " ERROR " in line] == []
    print(figures(tmp_path))
