"""The price of independent replicates: the 8-learning-rate x 10-seed blobs study with one batch
order per seed (``train.batch_order = "per_seed"``, the default: a cohort per seed) against one
order for all (``"shared"``: one cohort), seconds per configuration side by side.

    python benchmarks/batch_order.py [--epochs 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lrlab.demos
from lrlab.lab.spec import Study
from lrlab.lab.study import run_study


def per_config(order: str, epochs: int, repeats: int) -> tuple[float, int]:
    study = Study.from_toml(lrlab.demos.path("blobs_lr")).override(
        {"seeds": list(range(10)), "train.batch_order": order, "train.epochs": epochs}
    )
    best, cohorts = float("inf"), 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = run_study(study, Path(tmp) / "s.sqlite")
            best = min(best, time.perf_counter() - t0)
            cohorts = summary.cohorts
    return best / summary.ran, cohorts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    shared, n_shared = per_config("shared", args.epochs, args.repeats)
    per_seed, n_per_seed = per_config("per_seed", args.epochs, args.repeats)
    print(f"blobs 2-50-3, 8 learning rates x 10 seeds, {args.epochs} epochs, min of {args.repeats}")
    print(f"shared batch order:   {shared * 1e3:7.2f} ms per configuration ({n_shared} cohort)")
    print(
        f"per-seed batch order: {per_seed * 1e3:7.2f} ms per configuration ({n_per_seed} cohorts)"
    )
    print(f"ratio: {per_seed / shared:.2f}x")


if __name__ == "__main__":
    main()
