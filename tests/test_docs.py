"""Documentation is enforced: every CLI command and flag (read from ``--help``, as a user sees
them) has help and is in its section of docs/cli.md, every
public schedule name is documented in docs/schedules.md, and every public object has a docstring.
(The code blocks in docs/*.md and README.md run as doctests through pytest's doctest-glob.)"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
from pathlib import Path

import pytest

import lrlab.control
import lrlab.schedules
from lrlab.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _help(argv: list[str]) -> str:
    """What ``lrlab ARGV --help`` prints (through ``main``, as a user sees it)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return out.getvalue()


def _section(text: str, title: str) -> str:
    """The lines of ``text`` under ``title:`` up to the next unindented line."""
    lines = text.splitlines()
    start = lines.index(f"{title}:") + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i] and not lines[i][0].isspace()), len(lines)
    )
    return "\n".join(lines[start:end])


def _commands(argv: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand, from the help texts: ``("schedule", "show")``, ..."""
    text = _help(list(argv))
    if "positional arguments:" not in text:
        return []
    found = []
    for line in _section(text, "positional arguments").splitlines():
        m = re.match(r"^ {4}([a-z][\w-]*)\s{2,}\S", line)
        if m:
            found.append((*argv, m.group(1)))
            found += _commands((*argv, m.group(1)))
    return found


def _options(help_text: str) -> list[tuple[str, str]]:
    """``(--flag, its help)`` for every option a help text lists."""
    out: list[tuple[str, str]] = []
    lines = _section(help_text, "options").splitlines()
    for i, line in enumerate(lines):
        m = re.match(
            r"^ {2}(?:-\w(?: \S+)?, )?(--[\w-]+)(?: [A-Z_.]+| \{[^}]*\})?(?:, (--[\w-]+))?(.*)$",
            line,
        )
        if not m:
            continue
        rest = m.group(3).strip()
        if not rest and i + 1 < len(lines) and lines[i + 1].startswith(" " * 8):
            rest = lines[i + 1].strip()
        out.append((m.group(1), rest))
    return out


COMMANDS = _commands()


def test_the_help_lists_the_commands():
    assert {c[0] for c in COMMANDS} >= {"schedule", "run", "demo", "results", "report", "export"}


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_and_flag_has_help_and_docs(command):
    docs = (DOCS / "cli.md").read_text()
    title = f"## `lrlab {' '.join(command)}`"
    assert title in docs, f"lrlab {' '.join(command)} not in docs/cli.md"
    section = docs.split(title, 1)[1].split("\n## ", 1)[0]
    text = _help(list(command))
    assert text.startswith(f"usage: lrlab {' '.join(command)}")
    for flag, help_text in _options(text):
        if flag in ("--help", "--version"):
            continue
        assert help_text, f"lrlab {' '.join(command)}: {flag} has no help text"
        assert f"`{flag}" in section, f"lrlab {' '.join(command)}: {flag} not in its docs section"


@pytest.mark.parametrize("name", lrlab.schedules.__all__)
def test_every_schedule_name_is_documented(name):
    text = (DOCS / "schedules.md").read_text()
    assert f"`{name}" in text, f"lrlab.schedules.{name} is not mentioned in docs/schedules.md"


@pytest.mark.parametrize(
    "obj",
    [
        getattr(m, n)
        for m in (lrlab.schedules, lrlab.control)
        for n in m.__all__
        if inspect.isclass(getattr(m, n)) or inspect.isfunction(getattr(m, n))
    ],
    ids=lambda o: o.__name__,
)
def test_public_objects_have_docstrings(obj):
    assert inspect.getdoc(obj), f"{obj.__name__} has no docstring"
