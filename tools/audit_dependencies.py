"""Audit the installed dependencies for known vulnerabilities (``make lint``); exit 1 if one has any.

pip-audit asks PyPI's JSON API about each installed release (``/pypi/<name>/<version>/json``) and that is
the whole audit where the API answers. Where it does not (a PyPI mirror that serves only the project
pages, ``/pypi/<name>/json``, with OSV's API out of reach, as on this project's machines), pip-audit
skips every dependency and finds nothing; then a release that is its project's newest is audited from
its project page, which lists the newest release's known vulnerabilities, and any other is reported as
not audited. casepush and its plugins are editable installs, not on PyPI, and are left out.
"""

import json
import re
import subprocess
import sys
import urllib.request
from importlib import metadata
from urllib.error import URLError

PROJECT_PAGE = "https://pypi.org/pypi/{name}/json"
EDITABLE = "distribution marked as editable"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_audit() -> list[dict]:
    """pip-audit's findings on the running environment: each dependency, its vulns or its skip_reason."""
    command = [sys.executable, "-m", "pip_audit", "--skip-editable", "--format", "json"]
    done = subprocess.run([*command, "--progress-spinner", "off"], capture_output=True, text=True)
    try:  # its exit status is 1 for vulnerabilities found and for a failure alike
        dependencies = json.loads(done.stdout)["dependencies"]
    except (ValueError, KeyError):
        sys.exit(f"pip-audit failed:\n{done.stderr}")
    return [dependency for dependency in dependencies if dependency.get("skip_reason") != EDITABLE]


def newest_release_vulnerabilities(name: str, version: str) -> list[dict] | None:
    """The known vulnerabilities of ``version`` if it is the newest release (None: not known)."""
    try:
        with urllib.request.urlopen(PROJECT_PAGE.format(name=name), timeout=30) as response:
            project = json.load(response)
    except (URLError, TimeoutError, ValueError):
        return None
    if project["info"]["version"] != version:
        return None
    return [vuln for vuln in project.get("vulnerabilities") or [] if not vuln.get("withdrawn")]


def main() -> int:
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    vulnerable: dict[str, list[str]] = {}
    not_audited = []
    dependencies = pip_audit()
    for dependency in dependencies:
        name = dependency["name"]
        version = dependency.get("version") or installed.get(name, "")
        vulns = dependency.get("vulns")
        if "skip_reason" in dependency:
            vulns = newest_release_vulnerabilities(name, version)
            if vulns is None:
                not_audited.append(f"{name} {version}")
                continue
        if vulns:
            vulnerable[f"{name} {version}"] = [vuln["id"] for vuln in vulns]
    audited = len(dependencies) - len(not_audited)
    print(f"Dependency audit: {audited} of {len(dependencies)} installed releases audited.")
    if not_audited:
        print("Not audited (no vulnerability data for them here): " + ", ".join(not_audited))
    for release, ids in vulnerable.items():
        print(f"VULNERABLE: {release}: {', '.join(ids)}")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
