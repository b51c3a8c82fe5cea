"""Terminal text: the summary table of a study and the progress lines of ``lrlab run``.

Cells go through :func:`lrlab.report.printable` (user text with its control characters
escaped), from :mod:`lrlab._text`, which the summaries of :mod:`lrlab.lab` share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._text import format_value as format_value
from .._text import printable as printable
from .._text import render_table as render_table

__all__ = ["format_value", "printable", "progress_line", "render_table", "summary_table"]

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
