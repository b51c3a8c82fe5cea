"""Terminal text: the summary table of a study and the escaping of user text for a terminal.

Every string that came from the user (a study's name, a config value, a path) goes through
:func:`printable` before it reaches the terminal, so a name holding ``ESC [ 2 J`` prints as the
seven characters ``\\x1b[2J`` and cannot clear the screen or fake a line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_value", "printable", "progress_line", "render_table", "summary_table"]

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


_STATS = ("final_val_accuracy", "final_val_loss", "final_accuracy", "final_loss")


def summary_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table of :func:`lrlab.lab.store.summarize` rows, one line per config, best first.

    The columns are the rank (``-`` for a config whose every seed diverged), the fields that
    vary (``repr`` for floats), the seeds, the mean ± sample std of the first two final metrics
    that any config has, ``diverged`` (``k/n``) and, when early stopping stopped any trial,
    ``stopped``. When trials diverged, a last line counts them: they have no final metrics and
    are left out of the means and the ranking.

    Args:
        rows: From :func:`~lrlab.lab.store.summarize`.

    Returns:
        The table as text (``"no finished trials"`` when ``rows`` is empty).

    Example:
        >>> rows = [{"group": "g", "lr": 0.1, "seeds": 2, "diverged": 1, "stopped": 0,
        ...          "final_val_accuracy_mean": 0.8, "final_val_accuracy_std": None}]
        >>> print(summary_table(rows))
        #  lr   seeds  val_accuracy  diverged
        1  0.1  2      0.8000        1/2
        1 of 2 trials diverged: no final metrics, left out of the means and the ranking
    """
    if not rows:
        return "no finished trials"
    fixed = {"group", "seeds", "diverged", "stopped"} | {
        k for k in rows[0] if k.endswith(("_mean", "_std"))
    }
    labels = [k for k in rows[0] if k not in fixed] or ["group"]
    shown = [m for m in _STATS if any(r.get(f"{m}_mean") is not None for r in rows)][:2]
    header = ["#", *labels, "seeds", *(m.removeprefix("final_") for m in shown), "diverged"]
    stopped = any(r["stopped"] for r in rows)
    if stopped:
        header.append("stopped")
    body = []
    rank = 0
    for r in rows:
        # a config with no mean (every seed diverged) is listed last, without a rank
        ranked = any(r[f"{m}_mean"] is not None for m in shown)
        rank += ranked
        line = [str(rank) if ranked else "-"]
        line += [repr(r[k]) if isinstance(r[k], float) else format_value(r[k]) for k in labels]
        line.append(str(r["seeds"]))
        line += [format_value(r[f"{m}_mean"], r[f"{m}_std"]) for m in shown]
        line.append(f"{r['diverged']}/{r['seeds']}")
        if stopped:
            line.append(f"{r['stopped']}/{r['seeds']}")
        body.append(line)
    text = render_table(header, body)
    diverged, trials = sum(r["diverged"] for r in rows), sum(r["seeds"] for r in rows)
    if diverged:
        text += (
            f"\n{diverged} of {trials} trials diverged: no final metrics, left out of the "
            "means and the ranking"
        )
    return text


def progress_line(study: str, progress: Any) -> str:
    """One line of ``lrlab run``'s progress: the plan before the first cohort, then one line
    per cohort finished (its size and time, or its error).

    Args:
        study: The study's name (escaped here).
        progress: A :class:`lrlab.lab.study.Progress`.

    Example:
        >>> from lrlab.lab.study import Progress
        >>> progress_line("s", Progress(0, 8, 0, cohorts=2))
        's: 8 trials to run in 2 cohort(s) (0 already done)'
        >>> progress_line("s", Progress(4, 8, 0, cohort_size=4, seconds=1.25, cohorts_done=1,
        ...                             cohorts=2))
        '[1/2] 4/8 trials; cohort of 4 1.2 s'
    """
    p = progress
    if p.cohorts_done == 0:
        text = (
            f"{study}: {p.total} trials to run in {p.cohorts} cohort(s) ({p.skipped} already done)"
        )
    else:
        what = f"failed: {p.error.splitlines()[0]}" if p.error else f"{p.seconds:.1f} s"
        text = (
            f"[{p.cohorts_done}/{p.cohorts}] {p.done}/{p.total} trials; cohort of "
            f"{p.cohort_size} {what}"
        )
    return printable(text)
