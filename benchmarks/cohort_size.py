"""Seconds per configuration against the cohort size: where splitting a study into more, smaller
cohorts (one per Ray worker) stops being free.

The blobs study (MLP 2-50-3, SGD, batch 32, an evaluation after every epoch) trained as one
cohort of C configurations, for C = 1, 2, 4, 8, 16, 32, 64, on the engine ``auto`` picks, in
this process: the minimum of ``--repeats`` runs (other work on a machine only ever adds time).
The time per configuration falls steeply up to a cohort of about 32 and little after (on 2
cores: 7.6x the large-cohort time at C = 1, 1.8x at 8, 1.3x at 16, within 8% from 32); below
that each worker pays mostly for per-step overhead. ``lrlab.lab.executors.MIN_COHORT``
is that size: a study is split for W workers into cohorts of ``max(MIN_COHORT, ceil(n / W))``.

    python benchmarks/cohort_size.py [--epochs 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

from lrlab.lab.data import blobs
from lrlab.lab.executors import MIN_COHORT
from lrlab.lab.models import MLP
from lrlab.lab.optim import SGD
from lrlab.lab.population import train_population
from lrlab.schedules import constant


def per_config(data: object, c: int, epochs: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        train_population(
            data,
            MLP(n_inputs=2, hidden=(50,), n_outputs=3),
            SGD(),
            [constant(10.0 ** -(1 + i % 6)) for i in range(c)],
            list(range(c)),
            epochs=epochs,
            batch_size=32,
            batch_order="shared",  # a study's cohort: the members of one seed share one order
        )
        best = min(best, time.perf_counter() - t0)
    return best / c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="1,2,4,8,16,32,64")
    args = p.parse_args()
    data = blobs()
    sizes = [int(s) for s in args.sizes.split(",")]
    times = {c: per_config(data, c, args.epochs, args.repeats) for c in sizes}
    largest = times[sizes[-1]]
    print(f"blobs 2-50-3, {args.epochs} epochs, min of {args.repeats}; MIN_COHORT = {MIN_COHORT}")
    print(f"{'C':>5} {'s/config':>10} {'vs C=' + str(sizes[-1]):>10}")
    for c in sizes:
        print(f"{c:>5} {times[c]:>10.4f} {times[c] / largest:>9.2f}x")


if __name__ == "__main__":
    main()
