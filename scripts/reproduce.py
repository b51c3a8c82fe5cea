"""Reproduce the classic learning-rate experiments and write docs/reproductions/.

Each shipped demo that a tutorial ran (lrlab/demos) is trained with ``--seeds`` independent
replicates; every claim the tutorial makes is checked against the means and 95% confidence
intervals, and a page per experiment is written with the claim in the tutorial's words, the
table, the figure and a verdict:

- **holds**: the data support the claim with the intervals apart;
- **holds within noise**: the ordering is as claimed but the intervals overlap (more seeds
  could tell);
- **does not hold**: the data contradict it.

    python scripts/reproduce.py                     # 20 seeds, the tutorials' epochs (minutes)
    python scripts/reproduce.py --seeds 3 --epochs 20 --out /tmp/repro   # a quick check
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lrlab.demos
from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.lab.summary import ConfigResult, StudyResults, study_results

ROOT = Path(__file__).resolve().parent.parent
HOLDS, NOISE, FAILS = "holds", "holds within noise", "does not hold"


@dataclass
class Claim:
    """A tutorial's claim and the check that gives its verdict and the reason."""

    words: str
    check: Callable[[StudyResults], tuple[str, str]]


def _by(results: StudyResults, key: str) -> dict[Any, ConfigResult]:
    return {c.labels.get(key): c for c in results.configs}


def _metric(c: ConfigResult, name: str = "final_val_accuracy") -> Any:
    return c.metrics[name]


def _better(a: ConfigResult, b: ConfigResult, name: str, lower: bool = False) -> str:
    """HOLDS when a's interval is past b's, NOISE when only the means are ordered, else FAILS."""
    x, y = _metric(a, name), _metric(b, name)
    if x.n == 0 or y.n == 0:
        return FAILS
    sign = -1 if lower else 1
    if sign * (x.mean - y.mean) <= 0:
        return FAILS
    apart = x.low > y.high if not lower else x.high < y.low
    return HOLDS if apart else NOISE


def _worst(verdicts: list[str]) -> str:
    return FAILS if FAILS in verdicts else (NOISE if NOISE in verdicts else HOLDS)


def _fmt(c: ConfigResult, name: str = "final_val_accuracy", digits: int = 4) -> str:
    ci = _metric(c, name)
    if ci.n < 2:
        return "-" if ci.n == 0 else f"{ci.mean:.{digits}f}"
    return f"{ci.mean:.{digits}f} [{ci.low:.{digits}f}, {ci.high:.{digits}f}]"


# -- the claims ------------------------------------------------------------------------------------
def lr_claims() -> list[Claim]:
    def oscillates(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "lr")
        big, good = by[1.0], by[0.01]
        v = _better(big, good, "volatility")
        return v, f"volatility at 1e0 {_fmt(big, 'volatility')} vs 1e-2 {_fmt(good, 'volatility')}"

    def too_slow(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "lr")
        best = by[0.01]
        verdicts = [_better(best, by[lr], "final_val_accuracy") for lr in (1e-4, 1e-5, 1e-6, 1e-7)]
        text = ", ".join(f"{lr:g}: {_fmt(by[lr])}" for lr in (1e-4, 1e-5, 1e-6, 1e-7))
        return _worst(verdicts), f"final accuracy 1e-2: {_fmt(best)}; {text}"

    return [
        Claim("A learning rate of 1e0 makes the model oscillate.", oscillates),
        Claim("Learning rates of 1e-4 and below learn too slowly in 200 epochs.", too_slow),
    ]


def momentum_claims() -> list[Claim]:
    def fast(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "optimizer.momentum")
        verdicts = [_better(by[m], by[0.0], "epochs_to_threshold", lower=True) for m in (0.9, 0.99)]
        e = {m: _fmt(by[m], "epochs_to_threshold", 1) for m in (0.0, 0.9, 0.99)}
        within = all(_metric(by[m], "epochs_to_threshold").mean <= 50 for m in (0.9, 0.99))
        v = _worst(verdicts) if within else FAILS
        return v, f"epochs to threshold: momentum 0 {e[0.0]}, 0.9 {e[0.9]}, 0.99 {e[0.99]}"

    return [Claim("Momentum 0.9 and 0.99 learn within about 50 epochs, faster than none.", fast)]


def decay_claims() -> list[Claim]:
    def too_fast(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "decay")
        verdicts = [_better(by[1e-3], by[d], "final_val_accuracy") for d in (0.1, 0.01)]
        return _worst(verdicts), ", ".join(f"decay {d:g}: {_fmt(by[d])}" for d in sorted(by))

    def no_decay(r: StudyResults) -> tuple[str, str]:
        c = _by(r, "decay")[1e-4]
        diff = c.vs_best
        text = f"decay 1e-4: {_fmt(c)}"
        if c.rank == 1 or (diff is not None and diff.contains(0.0)):
            return HOLDS, text + " (not told apart from the best)"
        return NOISE, text + f" (behind the best by {diff.mean:+.4f})" if diff else FAILS

    return [
        Claim("Decay of 1e-1 and 1e-2 slows the rate too fast to learn well.", too_fast),
        Claim("Decay of 1e-4 is about no decay at all.", no_decay),
    ]


def plateau_claims() -> list[Claim]:
    def best(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "plateau.patience")
        top = {c.labels["plateau.patience"] for c in r.configs if c.rank and c.tied_with_best}
        text = ", ".join(f"patience {p}: {_fmt(by[p])}" for p in sorted(by))
        text += f"; best or tied with it: {sorted(top)}"
        if {5, 10} <= top:
            return (HOLDS if top == {5, 10} else NOISE), text
        return FAILS, text

    return [Claim("Patience 5 and 10 give the best final accuracy.", best)]


def optimizer_claims() -> list[Claim]:
    def faster(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "optimizer.name")
        verdicts = [
            _better(by[o], by["sgd"], "epochs_to_threshold", lower=True)
            for o in ("rmsprop", "adagrad", "adam")
        ]
        text = ", ".join(f"{o} {_fmt(by[o], 'epochs_to_threshold', 1)}" for o in sorted(by))
        return _worst(verdicts), f"epochs to threshold: {text}"

    return [Claim("The adaptive methods learn faster than plain SGD.", faster)]


def ionosphere_claims() -> list[Claim]:
    def reported(r: StudyResults) -> tuple[str, str]:
        by = _by(r, "optimizer.momentum")
        base, timed, drop = by[0.0], by[0.8], by[0.9]
        ok = [
            _better(timed, base, "final_val_accuracy"),
            _better(drop, base, "final_val_accuracy"),
        ]
        text = (
            f"baseline {_fmt(base)} (reported 0.9569), time-based with momentum 0.8 "
            f"{_fmt(timed)} (reported 0.9914), drop-based with momentum 0.9 {_fmt(drop)} "
            "(reported 0.9914)"
        )
        return _worst(ok), text

    return [
        Claim(
            "Time-based decay (with momentum 0.8) and drop-based decay (with momentum 0.9) "
            "reach 99.14% validation accuracy against 95.69% for the baseline.",
            reported,
        )
    ]


EXPERIMENTS: dict[str, tuple[str, Callable[[], list[Claim]], str]] = {
    # page: (demo, claims, the figure to show)
    "blobs_lr": ("blobs_lr", lr_claims, "sensitivity_lr"),
    "blobs_momentum": ("blobs_momentum", momentum_claims, "curves_val_accuracy"),
    "blobs_decay": ("blobs_decay", decay_claims, "curves_val_accuracy"),
    "blobs_plateau": ("blobs_plateau", plateau_claims, "lr"),
    "blobs_optimizers": ("blobs_optimizers", optimizer_claims, "curves_val_accuracy"),
    "ionosphere_decay": ("ionosphere_decay", ionosphere_claims, "curves_val_accuracy"),
}


def page(name: str, study: Study, results: StudyResults, claims: list[Claim], fig: str) -> str:
    lines = [
        f"# {study.description}",
        "",
        f"`lrlab demo {name}` with {len(study.seeds)} seeds (independent replicates: each its own "
        "initial weights and batch order, shared by the configurations for paired comparisons); "
        "the mean of each configuration with its 95% Student-t confidence interval. Regenerate "
        "with `python scripts/reproduce.py`.",
        "",
        "| claim (the tutorial's words) | verdict | evidence |",
        "|---|---|---|",
    ]
    verdicts = []
    for claim in claims:
        verdict, why = claim.check(results)
        verdicts.append(verdict)
        lines.append(f"| {claim.words} | **{verdict}** | {why} |")
    lines += ["", "```", results.table(), "```", "", f"![{name}]({name}_{fig}.png)", ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--epochs", type=int, default=None, help="override every demo's epochs")
    p.add_argument("--out", default=str(ROOT / "docs" / "reproductions"))
    p.add_argument("--only", default=None, help="comma-separated pages (default: all)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from lrlab.report import study_figures

    chosen = args.only.split(",") if args.only else list(EXPERIMENTS)
    index = ["# Reproductions of the classic learning-rate experiments", ""]
    for name in chosen:
        demo, claims_of, fig = EXPERIMENTS[name]
        changes: dict[str, Any] = {"seeds": list(range(args.seeds))}
        if args.epochs is not None:
            changes["train.epochs"] = args.epochs
        study = Study.from_toml(lrlab.demos.path(demo)).override(changes)
        with Store(out / f"{name}.sqlite") as store:
            run_study(study, store)
            results = study_results(store, study.name)
            tmp = out / f".{name}_figures"
            tmp.mkdir(exist_ok=True)
            for path in study_figures(store, study.name, tmp, formats=("png",)):
                path.replace(out / f"{name}_{path.name}")
            tmp.rmdir()
        claims = claims_of()
        if not (out / f"{name}_{fig}.png").exists():  # e.g. no rate change in a short run
            fig = "curves_val_accuracy"
        text = page(name, study, results, claims, fig)
        (out / f"{name}.md").write_text(text)
        verdicts = [c.check(results)[0] for c in claims]
        index.append(f"- [{study.description}]({name}.md): {', '.join(verdicts)}")
        print(f"{name}: {', '.join(verdicts)}")
        for leftover in out.glob(f"{name}.sqlite*"):  # the store, its WAL and lock files
            leftover.unlink()
    for name in EXPERIMENTS:  # the pages not rerun now keep their line in the index
        page_file = out / f"{name}.md"
        if name not in chosen and page_file.exists():
            text = page_file.read_text()
            title = text.splitlines()[0].removeprefix("# ")
            verdicts = re.findall(r"\| \*\*(.+?)\*\* \|", text)
            index.append(f"- [{title}]({name}.md): {', '.join(verdicts)}")
    (out / "README.md").write_text("\n".join(index) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
