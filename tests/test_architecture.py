"""The import contracts of pyproject.toml hold, and they fail on a crossing; docs/architecture.md names
only paths that exist."""

import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import casepush

ROOT = Path(__file__).parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
#: What a plugin may import of casepush (docs/architecture.md, "The plugin boundary").
PLUGIN_API = {"connectors", "hookspecs", "http", "types", "testing"}


def contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def lint_imports(packages: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with this repository's contracts, on the packages under ``packages`` first: run
    from there, so that neither the working directory nor the editable install shadows them."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(PYPROJECT)],
        cwd=packages,
        env={"PYTHONPATH": str(packages), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def copy_package(source: Path, packages: Path) -> None:
    shutil.copytree(source, packages / source.name, ignore=shutil.ignore_patterns("__pycache__"))


def test_the_code_keeps_every_contract(tmp_path):
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout


# The crossings issue 23 removed, and a plugin reaching past the plugin API: (package, module in it,
# the import added, the contract it breaks, the import as the report shows it).
CROSSINGS = [
    ("casepush", "web/openapi.py", "casepush.app", "layers", "casepush.web.openapi -> casepush.app"),
    ("casepush", "metrics.py", "casepush.store", "layers", "casepush.metrics -> casepush.store"),
    (
        "casepush",
        "web/cases.py",
        "casepush.store",
        "web-no-store",
        "casepush.web.cases -> casepush.store",
    ),
    (
        "plugins/casepush-webhook/casepush_webhook",
        "__init__.py",
        "casepush.store",
        "plugin-api",
        "casepush_webhook -> casepush.store",
    ),
]


@pytest.mark.parametrize(("package", "module", "imported", "contract", "shown"), CROSSINGS)
def test_a_crossing_breaks_its_contract(tmp_path, package, module, imported, contract, shown):
    for source in {"casepush", package}:
        copy_package(ROOT / source, tmp_path)
    crossing = tmp_path / Path(package).name / module
    crossing.write_text(crossing.read_text() + f"\nimport {imported}\n")

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contracts()[contract]['name']} BROKEN" in result.stdout
    assert f"Contracts: {len(contracts()) - 1} kept, 1 broken." in result.stdout
    assert shown in result.stdout


def test_the_plugin_boundary_forbids_every_module_but_the_plugin_api():
    core = {module.name for module in pkgutil.iter_modules(casepush.__path__)}
    forbidden = {name.removeprefix("casepush.") for name in contracts()["plugin-api"]["forbidden_modules"]}
    assert forbidden == core - PLUGIN_API


def test_the_architecture_page_names_only_paths_that_exist():
    page = (ROOT / "docs" / "architecture.md").read_text()
    paths = [p for p in re.findall(r"`([^`\s]+)`", page) if "/" in p and not p.startswith(("/", "http"))]
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert missing == []
