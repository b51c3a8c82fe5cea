"""Plain-text tables and the escaping of user text for a terminal, shared by every layer that
prints: :mod:`lrlab.report` and the summaries of :mod:`lrlab.lab`.

Every string that came from the user (a study's name, a config value, a path) goes through
:func:`printable` before it reaches the terminal, so a name holding ``ESC [ 2 J`` prints as the
seven characters ``\\x1b[2J`` and cannot clear the screen or fake a line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

__all__ = ["format_value", "printable", "render_table", "short_name"]

#: C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional overrides
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with every control character written as an escape (``\\x1b``, ``\\n``
    as ``\\x0a``, ``\\u202e``), so that it prints as one line of visible characters.

    Args:
        text: Anything; it is passed through ``str`` first.

    Returns:
        The escaped text; text without control characters is returned unchanged.

    Example:
        >>> printable("red\\x1b[31m name\\n")
        'red\\\\x1b[31m name\\\\x0a'
        >>> printable("constant(0.1)")
        'constant(0.1)'
    """
    return _CONTROL.sub(_escape, str(text))


def _number(value: float) -> str:
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3g}"


def format_value(value: object, std: object = None) -> str:
    """A table cell: ``-`` for ``None``; a float to 4 decimals (``.3g`` outside
    ``[1e-3, 1e4)``), followed by ``± std`` (written the same way) when ``std`` is given; JSON
    for lists and tables.

    Example:
        >>> format_value(0.81234, 0.01), format_value(None), format_value(2.06e6, 3572818.75)
        ('0.8123 ± 0.0100', '-', '2.06e+06 ± 3.57e+06')
    """
    if value is None:
        return "-"
    if isinstance(value, float):
        text = _number(value)
        return text if std is None else f"{text} ± {_number(float(std))}"  # type: ignore[arg-type]
    if isinstance(value, (list, dict)):
        return printable(json.dumps(value))
    return printable(value)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, the header first; cells are :func:`printable`.

    Example:
        >>> print(render_table(["#", "name"], [["1", "a\\tb"]]))
        #  name
        1  a\\x09b
    """
    cells = [[printable(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def short_name(path: str) -> str:
    """A swept field's column name: its last part, or its section's for a ``name`` field
    (``optimizer.momentum`` -> ``momentum``, ``optimizer.name`` -> ``optimizer``).

    Example:
        >>> [short_name(p) for p in ("lr", "optimizer.momentum", "optimizer.name")]
        ['lr', 'momentum', 'optimizer']
    """
    section, _, field = path.rpartition(".")
    return section.rsplit(".", 1)[-1] if field == "name" and section else field
