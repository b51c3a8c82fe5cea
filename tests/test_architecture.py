"""The layering rules of docs/architecture.md, checked on the source: what ``finder/`` may import,
that no package reaches into another's private modules or names, and the size limits.

The checks read every import statement, at module level and inside functions alike, so an
import that would only run when a function is called counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "lrlab"
FRAMEWORKS = ("torch", "keras", "tensorflow", "jax", "optax", "ray", "tensorboardX")
#: private modules of the root package, shared below every subpackage
SHARED = ("lrlab._checks", "lrlab._text")
MAX_MODULE_LINES = 650
MAX_FUNCTION_LINES = 150


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """``(line, absolute module, imported names)`` of every import in ``path``."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    package = list(parts if path.name == "__init__.py" else parts[:-1])
    if path.name == "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def _package(path: Path) -> str:
    """The subpackage a module belongs to: ``lrlab.finder``, ``lrlab.lab``, ... or ``lrlab``."""
    rel = path.relative_to(SRC).parts
    return "lrlab" if len(rel) == 1 else f"lrlab.{rel[0]}"


def test_imports_are_resolved():
    """The import reader sees the imports this file's checks rely on (a check of the checker)."""
    found = {m for _, m, _ in _imports(SRC / "lab" / "range_test.py")}
    assert {"lrlab.finder", "lrlab.lab.engine", "lrlab._checks"} <= found


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _package(p) == "lrlab.finder"], ids=lambda p: p.name
)
def test_finder_imports_no_framework_and_nothing_above_it(path):
    bad = [
        (line, module)
        for line, module, _ in _imports(path)
        if module.split(".")[0] in FRAMEWORKS
        or module.startswith(("lrlab.lab", "lrlab.integrations", "lrlab.report"))
        or module in ("lrlab.torch", "lrlab.keras", "lrlab.optax", "lrlab.cli")
    ]
    assert bad == [], f"{path.relative_to(SRC)} imports {bad}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_package_imports_another_packages_private_names(path):
    own = _package(path)
    bad = []
    for line, module, names in _imports(path):
        if not module.startswith("lrlab.") or module in SHARED:
            continue
        target = ".".join(module.split(".")[:2])
        if own != "lrlab" and (target == own or module.startswith(own + ".")):
            continue
        if own == "lrlab" and module.split(".")[1].startswith("_cli"):
            continue  # the command line's own modules, beside cli.py
        private = [p for p in module.split(".")[1:] if p.startswith("_")]
        private += [n for n in names if n.startswith("_")]
        if private:
            bad.append((line, module, private))
    assert bad == [], f"{path.relative_to(SRC)} reaches into private names: {bad}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_size_limits(path):
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    long = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"
