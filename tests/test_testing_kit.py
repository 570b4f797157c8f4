"""The plugin authors' test kit (casepush.testing, a pytest plugin) as a plugin's project meets it: loaded
by pytest in every run, it imports nothing of the server and prints nothing unless the run uses it; its
needs are the ``testing`` extra; it works in pytest-asyncio's strict mode; and the plugin guide's
examples are the example plugin's source, which these tests run."""

import ast
import builtins
import configparser
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import symtable
import sys
from pathlib import Path

import pytest

import casepush.testing
from casepush.testing.plugin import backends_line

ROOT = Path(__file__).parent.parent
GUIDE = ROOT / "docs" / "writing-a-connector.md"
KIT = ROOT / "casepush" / "testing"
EXAMPLE_TESTS = ROOT / "tests" / "example-plugin" / "tests" / "test_casepush_echo.py"

#: The pytest settings the guide shows a plugin's project (pyproject.toml), which the example's tests run
#: with below: pytest-asyncio's strict mode, its default.
GUIDE_SETTINGS = """\
# region pytest-settings
[tool.pytest.ini_options]
# asyncio_mode is left to pytest-asyncio: "strict". With asyncio_mode = "auto", tests need no marks.
asyncio_default_fixture_loop_scope = "function"
# endregion
"""


# --- the plugin module loads nothing of the server ------------------------------------------------------

#: What pytest must not import in a project that has casepush installed, merely by loading the kit.
HEAVY = [
    "casepush.app",
    "casepush.config",
    "casepush.plugins",
    "casepush.store",
    "casepush.web",
    "casepush.domain",
    "casepush.connectors",
    "casepush.testing.client",
    "casepush.testing.database",
    "casepush.testing.fake",
    "aiohttp",
    "aiohttp.web",
    "asyncpg",
    "msgspec",
    "yarl",
]


def test_importing_the_pytest_plugin_imports_nothing_of_the_server(tmp_path):
    script = "import json, sys; import casepush.testing.plugin; print(json.dumps(sorted(sys.modules)))"
    shown = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    imported = set(json.loads(shown.stdout))
    assert "casepush.testing.plugin" in imported
    assert [name for name in HEAVY if name in imported] == []


def test_the_kits_names_are_still_imported_from_the_package():
    for name in casepush.testing.__all__:
        value = getattr(casepush.testing, name)
        source = importlib.import_module(casepush.testing._SOURCES[name])
        assert value is getattr(source, name)
    assert set(casepush.testing._SOURCES) == set(casepush.testing.__all__)
    assert set(casepush.testing.__all__) <= set(dir(casepush.testing))
    with pytest.raises(AttributeError):
        casepush.testing.nothing_of_that_name  # noqa: B018


# --- the testing extra -----------------------------------------------------------------------------------


def extras() -> dict[str, list[str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    found = {}
    for name, value in config["options.extras_require"].items():
        found[name] = [line.strip() for line in value.splitlines() if line.strip()]
    found["install_requires"] = [
        line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()
    ]
    return found


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_testing_extra_has_what_the_kit_imports_and_the_test_extra_has_the_kit():
    declared = extras()
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for module in KIT.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported - {"casepush"} if name not in sys.stdlib_module_names}
    needed = {requirement_name(distributions[name][0]) for name in third_party}
    testing = {requirement_name(requirement) for requirement in declared["testing"]}
    core = {requirement_name(requirement) for requirement in declared["install_requires"]}

    # pytest-aiohttp: the fixtures ask for its aiohttp_client and aiohttp_server, never import it.
    assert testing == {"pytest", "pytest-asyncio", "pytest-aiohttp"}
    assert needed <= core | testing, needed - core - testing
    # Not a browser: the kit's Browser (casepush.testing.browser) is aiohttp's client.
    assert "playwright" not in needed
    assert "casepush[testing]" in declared["test"]
    assert not testing & {requirement_name(requirement) for requirement in declared["test"]}


# --- a plugin's project: silent unless it uses the kit, and strict mode ---------------------------------


def project_env(site: Path | None = None) -> dict[str, str]:
    """This environment (``CASEPUSH_TEST_DATABASE_URL`` too), without what this pytest run set for
    itself; the example plugin's distribution, as pip installed it, on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    return {**env, "PYTHONPATH": str(site)} if site else env


def run_pytest(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfE", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_project_that_does_not_use_the_kit_sees_nothing_of_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n\n"
        "def test_nothing_of_casepush_is_loaded_but_the_kits_plugin_module():\n"
        "    loaded = sorted(name for name in sys.modules if name.split('.')[0] == 'casepush')\n"
        "    assert loaded == ['casepush', 'casepush.testing', 'casepush.testing.backends',"
        " 'casepush.testing.plugin']\n"
    )
    ran = run_pytest(tmp_path, project_env())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
    assert "casepush storage backends" not in ran.stdout + ran.stderr


@pytest.mark.parametrize(
    ("settings_file", "settings", "args"),
    [
        # The guide's settings (strict mode, as pytest-asyncio has it by default), under pytest-xdist: the
        # backends line comes from the workers' reports.
        ("pyproject.toml", GUIDE_SETTINGS, ["-n", "1", "-k", "not Contract"]),
        # Strict mode said outright (pytest-asyncio warns of the unset loop scope), every test.
        ("pytest.ini", "[pytest]\nasyncio_mode = strict\n", ["-p", "no:xdist"]),
    ],
    ids=["guide-settings", "strict"],
)
def test_the_examples_tests_pass_in_pytest_asyncios_strict_mode(
    installed_echo, tmp_path, settings_file, settings, args
):
    (tmp_path / settings_file).write_text(settings)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / EXAMPLE_TESTS.name).write_text(EXAMPLE_TESTS.read_text())

    ran = run_pytest(tmp_path, project_env(installed_echo), *args)

    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert "mode=Mode.STRICT" in output
    assert re.search(r"\b\d+ passed\b", ran.stdout), output
    assert ran.stdout.splitlines().count(backends_line()) == (1 if "-n" in args else 2), output


def test_the_kit_used_without_pytest_asyncio_and_pytest_aiohttp_says_what_to_install(
    installed_echo, tmp_path
):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / EXAMPLE_TESTS.name).write_text(EXAMPLE_TESTS.read_text())

    ran = run_pytest(tmp_path, project_env(installed_echo), "-p", "no:asyncio", "-p", "no:aiohttp", "-x")

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        "casepush's test kit needs pytest-asyncio and pytest-aiohttp (installed and not disabled with"
        " -p no:...): pip install 'casepush[testing]'"
    ) in ran.stdout
    assert "not found" not in ran.stdout


# --- the guide's examples are the example plugin's source ----------------------------------------------

MARKER = re.compile(r"<!-- from (?P<path>[^\s:]+)(?:: (?P<region>[\w-]+))? -->")


def region(path: Path, name: str | None) -> str:
    """The lines between ``# region name`` and ``# endregion`` (the whole file without a name), without
    the blank lines around them."""
    lines = path.read_text().splitlines()
    if name is not None:
        starts = [i for i, line in enumerate(lines) if line.strip() == f"# region {name}"]
        assert len(starts) == 1, f"{path.name} has {len(starts)} regions {name}"
        ends = [i for i, line in enumerate(lines) if i > starts[0] and line.strip() == "# endregion"]
        assert ends, f"{path.name}: the region {name} has no end"
        lines = lines[starts[0] + 1 : ends[0]]
    return "\n".join(lines).strip("\n")


def guide_blocks() -> list[tuple[str, str | None, str, str]]:
    """Each fenced block of the guide: the file and region its marker names, its language, its text."""
    lines = GUIDE.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j] == "```")
            marker = MARKER.fullmatch(lines[i - 1]) if i else None
            assert marker, f"the guide's block at line {i + 1} says not which source it comes from"
            blocks.append((marker["path"], marker["region"], lines[i][3:], "\n".join(lines[i + 1 : end])))
            i = end
        i += 1
    return blocks


def test_every_example_of_the_guide_is_its_source_as_it_is():
    blocks = guide_blocks()
    assert len(blocks) >= 15
    for path, name, _, text in blocks:
        expected = region(ROOT / path, name)
        assert text == expected, f"the guide's {path}: {name} is not the source's; it is now:\n{expected}"


def undefined_names(code: str) -> set[str]:
    """The names the code reads that neither it (at module level) nor Python's builtins define."""
    module = symtable.symtable(code, "<guide>", "exec")
    defined = {
        symbol.get_name() for symbol in module.get_symbols() if symbol.is_assigned() or symbol.is_imported()
    }
    defined |= set(dir(builtins))
    read = {symbol.get_name() for symbol in module.get_symbols() if symbol.is_referenced()}
    tables = list(module.get_children())
    while tables:
        table = tables.pop()
        tables += table.get_children()
        read |= {
            symbol.get_name()
            for symbol in table.get_symbols()
            if symbol.is_global() and symbol.is_referenced()
        }
    return read - defined


def test_the_guides_python_examples_define_or_import_every_name_they_use():
    by_file: dict[str, list[str]] = {}
    for path, _, language, text in guide_blocks():
        if language == "python":
            by_file.setdefault(path, []).append(text)
    assert set(by_file) == {
        "tests/example-plugin/casepush_echo.py",
        "tests/example-plugin/tests/test_casepush_echo.py",
    }
    for path, texts in by_file.items():
        assert undefined_names("\n\n\n".join(texts)) == set(), path
    # And the check sees a name left undefined.
    assert undefined_names("def f():\n    return now()\n") == {"now"}


def test_the_guide_sends_no_one_to_files_a_pip_install_does_not_have():
    """Where it names casepush's tests, it says they are in the source repository (not in a pip install)."""
    text = re.sub(r"```.*?```", "", MARKER.sub("", GUIDE.read_text()), flags=re.DOTALL)
    paragraphs = [paragraph for paragraph in text.split("\n\n") if re.search(r"`tests/", paragraph)]
    assert paragraphs
    for paragraph in paragraphs:
        assert "casepush's source repository" in paragraph, paragraph
