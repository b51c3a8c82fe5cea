"""The HTML report of a study: one self-contained file (figures inlined, nothing loaded from the
network, no script) with the study file, the summary with its confidence intervals, every
figure and the details of every trial.

Every string that comes from the user or the store (names, labels, schedule texts, errors) is
HTML-escaped: a study named ``<script>alert(1)</script>`` shows as that text. Figures are SVG
inside ``<img>`` data URIs, where no script can run.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._text import short_name
from ..lab.stats import MeanCI
from ..lab.store import Store
from ..lab.summary import StudyResults, summarize_study

__all__ = ["render_report", "write_report"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #1d2430; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid
#d6dbe3; padding-bottom: 0.2em; }
.meta { color: #5a6372; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d6dbe3; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f1f4f8; }
tr.best td { background: #eef8ee; } tr.tie td { background: #f6fbf3; }
tr.unranked td { color: #8a93a3; }
.note { color: #5a6372; margin: 0.2em 0; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto;
  border: 1px solid #e3e7ee; }
figcaption { color: #5a6372; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; border: 1px solid #e3e7ee; }
details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: 600; }
.bad { color: #b42318; }
"""


def _e(value: Any) -> str:
    """``value`` as escaped HTML text (``-`` for ``None``)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return html.escape(
            f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
        )
    if isinstance(value, (list, dict)):
        return html.escape(json.dumps(value))
    return html.escape(str(value))


def _ci(ci: MeanCI | None, *, signed: bool = False, digits: int = 4) -> str:
    """``mean ± half-width``; the interval itself and n in the cell's tooltip."""
    if ci is None or ci.n == 0:
        return "-"
    value = round(ci.mean, digits) + 0.0  # + 0.0: no "-0.0000"
    mean = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if ci.n < 2:
        return f"{mean} <span class=note>(n=1, no CI)</span>"
    tip = f"95% CI [{ci.low:.{digits}f}, {ci.high:.{digits}f}], n={ci.n}"
    return f"<span title='{tip}'>{mean} ± {ci.half_width:.{digits}f}</span>"


def _label(value: Any) -> str:
    return html.escape(f"{value:g}") if isinstance(value, float) else _e(value)


def _summary_table(results: StudyResults) -> str:
    if not results.configs:
        return "<p>No finished trials.</p>"
    labels = list(results.configs[0].labels)
    metric = results.sort.removeprefix("final_")
    speed = any(c.threshold is not None for c in results.configs)
    head = ["#", *(short_name(k) for k in labels), "n", f"{metric} (95% CI)"]
    head.append("vs best (paired, 95% CI)")
    if speed:
        head += ["epochs to threshold", "AUC", "volatility"]
    head += ["diverged", "dead", "stopped"]
    rows = []
    for c in results.configs:
        cls = "best" if c.rank == 1 else ("tie" if c.tied_with_best and c.rank else "")
        cls = "unranked" if c.rank is None else cls
        cells = ["-" if c.rank is None else str(c.rank)]
        cells += [_label(c.labels.get(k)) for k in labels]
        cells += [str(c.used), _ci(c.metric)]
        if c.rank == 1:
            cells.append("best")
        else:
            tie = (
                " (cannot be told apart)"
                if c.tied_with_best and c.vs_best and c.vs_best.n >= 2
                else ""
            )
            cells.append(_ci(c.vs_best, signed=True) + tie)
        if speed:
            cells += [
                _ci(c.metrics.get("epochs_to_threshold"), digits=1)
                + (f" <span class=bad>({c.not_reached} never)</span>" if c.not_reached else ""),
                _ci(c.metrics.get("auc"), digits=3),
                _ci(c.metrics.get("volatility"), digits=3),
            ]
        cells += [f"{c.diverged}/{c.seeds}", f"{c.dead}/{c.seeds}", f"{c.stopped}/{c.seeds}"]
        rows.append(f"<tr class='{cls}'>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    notes = [
        f"Mean over seeds with its {100 * results.level:g}% Student-t confidence interval; n: "
        "seeds in the mean (diverged and never-learning runs are counted, not averaged).",
        "vs best: the difference from the best configuration paired by seed; where its interval "
        "holds 0, the two cannot be told apart with these seeds.",
    ]
    if speed:
        notes.append(f"Epochs to threshold: the first epoch at {_e(results.threshold_rule)}.")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>" + "".join(
        f"<p class=note>{n}</p>" for n in notes
    )


def _figures(store: Store, study: str) -> list[tuple[str, str]]:
    """``(caption, data URI)`` of every figure of :func:`~lrlab.report.study_figures`."""
    import tempfile

    from ._figures import study_figures

    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in study_figures(store, study, tmp, formats=("svg",)):
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            out.append((path.stem.replace("_", " "), f"data:image/svg+xml;base64,{data}"))
    return out


def _trials_table(records: Sequence[Mapping[str, Any]], results: StudyResults) -> str:
    label_of = {
        c.group: ", ".join(f"{short_name(k)}={_label(v)}" for k, v in c.labels.items())
        for c in results.configs
    }
    head = [
        "trial",
        "configuration",
        "seed",
        "status",
        "epochs",
        "val_accuracy",
        "val_loss",
        "loss",
        "diverged at",
        "stopped at",
        "error",
    ]
    rows = []
    for r in records:
        diverged = r.get("diverged_epoch") if r.get("diverged") else None
        stopped = r.get("stopped_epoch") if (r.get("stopped_epoch") or -1) >= 0 else None
        cells = [
            r.get("trial_id"),
            None,  # the configuration, escaped when it was made
            r.get("seed"),
            r.get("status"),
            r.get("epochs_run"),
            r.get("final_val_accuracy"),
            r.get("final_val_loss"),
            r.get("final_loss"),
            diverged,
            stopped,
            r.get("error"),
        ]
        text = [_e(x) for x in cells]
        text[1] = label_of.get(r.get("group"), _e(r.get("group")))
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in text) + "</tr>")
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_report(store: Store, study: str, *, figures: bool = True) -> str:
    """The report of ``study`` in ``store`` as one HTML document (see :func:`write_report`)."""
    known = {s["name"]: s for s in store.studies()}
    if study not in known:
        names = ", ".join(repr(n) for n in known) or "none"
        raise ValueError(f"study: no study {study!r} in the store; studies: {names}")
    info = known[study]
    records = store.records(study, include_pending=True)
    done = [r for r in records if r["status"] == "done"]
    histories = {r["trial_id"]: store.history(r["trial_id"]) for r in done}
    spec = info.get("spec") if isinstance(info.get("spec"), dict) else None
    results = summarize_study(done, histories, spec=spec)
    from .. import __version__

    counts = f"{info['done']} done, {info['failed']} failed, {info['pending']} pending"
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>lrlab: {_e(study)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(study)}</h1>",
        f"<p class=meta>{_e(info.get('description') or '')}</p>",
        f"<p class=meta>{_e(info['trials'])} trials ({_e(counts)}) · store {_e(str(store.path))}"
        f" · lrlab {_e(__version__)} · {_e(_dt.datetime.now().strftime('%Y-%m-%d %H:%M'))}</p>",
        "<h2>Summary</h2>",
        _summary_table(results),
    ]
    if figures and done:
        parts.append("<h2>Figures</h2>")
        for caption, uri in _figures(store, study):
            parts.append(
                f"<figure><img src='{uri}' alt='{_e(caption)}'>"
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    spec = json.dumps(info.get("spec"), indent=2, sort_keys=False, default=str)
    parts += [
        "<h2>Study file</h2>",
        f"<pre>{html.escape(spec)}</pre>",
        "<h2>Trials</h2>",
        f"<details><summary>{len(records)} trials</summary>",
        _trials_table(records, results),
        "</details></body></html>",
    ]
    return "\n".join(parts)


def write_report(store: Store, study: str, out: str | Path, *, figures: bool = True) -> Path:
    """Write the report of ``study`` to ``out/index.html`` and return its path.

    One self-contained HTML file: the study's description and counts, the summary table (means
    with 95% confidence intervals, paired differences from the best, learning speed, diverged,
    dead and stopped counts), every figure of :func:`~lrlab.report.study_figures` as inline
    SVG, the study file, and a table of every trial. It loads nothing from the network and has
    no script; all text from the study and the store is escaped. ``out`` is created if needed;
    the file is written whole (a temporary file renamed into place).

    Example:
        >>> import tempfile, pathlib
        >>> from lrlab.lab.spec import Study
        >>> from lrlab.lab.store import Store
        >>> from lrlab.lab.study import run_study
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> study = Study.from_dict({"name": "<b>tiny</b>", "data": {"name": "blobs",
        ...     "n_samples": 100, "n_train": 50}, "model": {"hidden": [4]},
        ...     "train": {"epochs": 2, "batch_size": 25}, "schedule": "constant({lr})",
        ...     "grid": {"lr": [0.1, 0.01]}})
        >>> with Store(tmp / "lrlab.sqlite") as store:
        ...     _ = run_study(study, store)
        ...     page = write_report(store, "<b>tiny</b>", tmp / "report", figures=False)
        >>> text = page.read_text()
        >>> "&lt;b&gt;tiny&lt;/b&gt;" in text and "<b>tiny</b>" not in text
        True
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = render_report(store, study, figures=figures)
    target = out / "index.html"
    tmp = target.with_suffix(".html.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
