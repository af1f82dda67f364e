"""The pure core never imports Beam: ``pipelines -> trailbeam.beam -> trailbeam (pure)``, never the reverse.

Modules are discovered with pkgutil, without importing them, so a new module is covered the moment
it exists. Each pure module is imported in a fresh interpreter (the only way to see what importing it
pulls in), and its source is also read, so a Beam import hidden inside a function is caught too.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import trailbeam

PACKAGE_DIR = Path(trailbeam.__file__).parent
REPO = PACKAGE_DIR.parent
SHELL = "trailbeam.beam"
# The console script is a composition root like pipelines/: it may import the Beam shell and the
# pipelines (lazily, for the commands that run them), and nothing else in the package imports it.
ENTRY_POINT = "trailbeam.cli"
FORBIDDEN_IN_PURE = ("apache_beam", SHELL, "pipelines")
GRAB_BAGS = ("utils.py", "helpers.py", "util.py", "helper.py")


def discover(path: Path = PACKAGE_DIR, prefix: str = "trailbeam.") -> Iterator[tuple[str, Path]]:
    """(module name, source file) of every module and package under trailbeam, without importing any."""
    for info in pkgutil.iter_modules([str(path)], prefix):
        short = info.name.rpartition(".")[2]
        if info.ispkg:
            yield info.name, path / short / "__init__.py"
            yield from discover(path / short, f"{info.name}.")
        elif (path / f"{short}.py").exists():   # a compiled extension (trailbeam._storescan) has no source
            yield info.name, path / f"{short}.py"


def in_shell(module: str) -> bool:
    return module == SHELL or module.startswith(f"{SHELL}.")


MODULES = dict(discover())
def is_entry_point(module: str) -> bool:
    return module == ENTRY_POINT or module.startswith(f"{ENTRY_POINT}.")


PURE = ["trailbeam"] + sorted(name for name in MODULES if not in_shell(name) and not is_entry_point(name))
SOURCES = {"trailbeam": PACKAGE_DIR / "__init__.py", **MODULES}

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
forbidden = tuple(json.loads(sys.argv[2]))
print(json.dumps(sorted({f for m in sys.modules for f in forbidden if m == f or m.startswith(f + ".")})))
"""


@pytest.fixture(scope="module")
def probes() -> dict[str, subprocess.Popen[str]]:
    """One fresh interpreter per pure module, all started at once (each takes ~0.1-0.2 s)."""
    started = {module: subprocess.Popen([sys.executable, "-c", PROBE, module, json.dumps(FORBIDDEN_IN_PURE)],
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for module in PURE}
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def test_discovery_finds_the_known_modules() -> None:
    assert {"trailbeam.avro", "trailbeam.cloudtrail", "trailbeam.store", "trailbeam.beam",
            "trailbeam.beam.ingest"} <= set(MODULES)
    assert "trailbeam.beam.ingest" not in PURE and "trailbeam.cli" not in PURE and "trailbeam.store" in PURE


@pytest.mark.parametrize("module", PURE)
def test_importing_a_pure_module_imports_neither_beam_nor_the_shell(
        module: str, probes: dict[str, subprocess.Popen[str]]) -> None:
    stdout, stderr = probes[module].communicate(timeout=120)
    assert probes[module].returncode == 0, stderr
    assert json.loads(stdout) == []


def imported_names(source: Path, root: Path = REPO) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, anywhere in the file (functions included), made absolute."""
    package = source.parent.relative_to(root).as_posix().replace("/", ".")
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield node.lineno, base
            for alias in node.names:  # from trailbeam import beam
                yield node.lineno, f"{base}.{alias.name}"


@pytest.mark.parametrize("module", PURE)
def test_pure_module_source_never_imports_beam_or_the_shell(module: str) -> None:
    """Catches what an import probe cannot: a lazy ``import apache_beam`` inside a function."""
    found = [f"line {line}: {name}" for line, name in imported_names(SOURCES[module])
             if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN_IN_PURE)]
    assert found == []


@pytest.mark.parametrize("module", sorted(name for name in MODULES if in_shell(name)))
def test_shell_modules_import_neither_the_pipelines_nor_the_cli(module: str) -> None:
    """Pipelines and the CLI are composition roots: they use the shell, never the other way round."""
    roots = ("pipelines", ENTRY_POINT)
    assert [name for _, name in imported_names(SOURCES[module])
            if any(name == root or name.startswith(f"{root}.") for root in roots)] == []


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_not_import_the_cli(module: str) -> None:
    assert [name for _, name in imported_names(SOURCES[module]) if is_entry_point(name)] == []


def test_import_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    fake = tmp_path / "trailbeam" / "sneaky.py"
    fake.parent.mkdir()
    fake.write_text("import json\n"
                    "def run():\n    import apache_beam as beam\n"
                    "from . import beam as shell\n"
                    "from .beam.ingest import IngestCloudTrail\n")
    names = {name for _, name in imported_names(fake, tmp_path)}
    assert {"json", "apache_beam", "trailbeam.beam", "trailbeam.beam.ingest"} <= names


def test_no_grab_bag_modules() -> None:
    """One concept per module: no utils.py or helpers.py anywhere in the package."""
    assert [path.relative_to(REPO).as_posix() for path in PACKAGE_DIR.rglob("*.py") if path.name in GRAB_BAGS] == []
