"""The shape of the code, checked so it stays true: import contracts kept, every package under them, short modules.

The contracts live in pyproject.toml (`[tool.importlinter]`): core <- accounts <- whiteboard <-
attendance <- families | reports | webhooks, config on top; bench and tests outside; in bench, one script
per question on bench.lib. `lint-imports` checks them from the command line as well.
"""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
DOMAIN_PACKAGES = ("core", "accounts", "whiteboard", "attendance", "families", "reports", "webhooks")
MAX_LINES = 400
REASON = re.compile(r"^\s*Long because:\s*\S", re.MULTILINE)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """import-linter's own command line on the project at `cwd`, as a developer runs it."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    return subprocess.run(
        [command, "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def broken_report(output: str) -> str:
    """The part of import-linter's output that names each broken contract and the imports that break it."""
    return output[output.find("Broken contracts") :] if "Broken contracts" in output else output


def test_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, broken_report(result.stdout + result.stderr)


def test_every_top_level_package_is_under_the_contracts():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    missing = packages - set(CONFIG["root_packages"])
    assert not missing, (
        f"top-level packages outside the import contracts: {sorted(missing)}; add each to root_packages in "
        "pyproject.toml and to a layer (for demo, the `(demo)` layer is already there)"
    )


# One import against the layers per contract and direction, each added to a copy of the project
# (to packages' __init__.py, which every later split of a module leaves in place).
BAD_IMPORTS = [
    ("core/__init__.py", "import accounts.apps", "core is not allowed to import accounts"),
    ("accounts/__init__.py", "import config.settings", "accounts is not allowed to import config"),
    ("whiteboard/__init__.py", "import attendance.apps", "whiteboard is not allowed to import attendance"),
    ("reports/__init__.py", "import families.apps", "reports is not allowed to import families"),
    ("families/__init__.py", "import reports.apps", "families is not allowed to import reports"),
    ("webhooks/__init__.py", "import families.apps", "webhooks is not allowed to import families"),
    ("reports/__init__.py", "import webhooks.apps", "reports is not allowed to import webhooks"),
    ("attendance/__init__.py", "import bench.lib.report", "attendance is not allowed to import bench"),
    ("config/__init__.py", "import tests.factories", "config is not allowed to import tests"),
    (
        "bench/dashboard_timing.py",
        "import bench.suggestion_timing",
        "bench.dashboard_timing is not allowed to import bench.suggestion_timing",
    ),
]


@pytest.fixture(scope="module")
def report_on_bad_imports(tmp_path_factory) -> subprocess.CompletedProcess:
    """import-linter's report on a copy of the project with every import of BAD_IMPORTS added (one run)."""
    copy = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    for module, bad_import, _ in BAD_IMPORTS:
        with (copy / module).open("a") as f:
            f.write(f"\n{bad_import}  # against the layers\n")
    return lint_imports(copy)


@pytest.mark.parametrize(("module", "bad_import", "expected"), BAD_IMPORTS)
def test_contracts_refuse_an_import_against_the_layers(report_on_bad_imports, module, bad_import, expected):
    # The contracts are only worth having if they catch what they are for.
    assert report_on_bad_imports.returncode != 0
    assert f"{expected}:" in report_on_bad_imports.stdout, report_on_bad_imports.stdout
    importer = module.removesuffix("/__init__.py").removesuffix(".py").replace("/", ".")
    assert f"- {importer} -> {bad_import.split()[1]}" in report_on_bad_imports.stdout


def _too_long_without_reason() -> list[str]:
    found = []
    for package in DOMAIN_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or "tests" in relative.parts:
                continue
            source = path.read_text()
            lines = len(source.splitlines())
            if lines > MAX_LINES and not REASON.search(ast.get_docstring(ast.parse(source)) or ""):
                found.append(f"{relative} ({lines} lines)")
    return found


def test_domain_modules_are_short_or_say_why():
    offenders = _too_long_without_reason()
    assert not offenders, (
        f"domain modules over {MAX_LINES} lines whose docstring gives no line 'Long because: ...': "
        + ", ".join(offenders)
    )
