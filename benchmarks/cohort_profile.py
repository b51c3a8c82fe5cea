"""Where a population run's time goes: each engine method of the cohort loop timed around its
calls, per engine and optimizer, on the blobs study (MLP 2-50-3, batch 32, a full evaluation
of the train and test splits after every epoch, one batch order per member).

Milliseconds per configuration, scaled from ``--epochs`` to the study's 200 epochs:
``step`` (the training steps, optimizer update included), ``evaluate`` (both splits),
``orders`` (each epoch's batch orders), ``epoch end`` (training totals, divergence check) and
``other`` (the loop itself, the learning-rate table, initialisation, thread probes). The
engines and optimizers take turns, each keeps its fastest of ``--repeats`` runs. Optimizers
(``--optimizers``): ``sgd`` (no momentum), ``momentum`` (0.9, torch's form), ``keras``
(momentum 0.9, Keras' form), ``adam``. ``--archs`` builds the native engine's kernel for each
instruction set named (``native``: the CPU's own; ``x86-64-v3``: AVX2, 8 members per vector;
``x86-64``: SSE2, 4, no fused multiply-add) and times each build as an engine of its own.

    python benchmarks/cohort_profile.py [--members 1024] [--epochs 20] [--repeats 3]
        [--engines native,torch] [--optimizers sgd] [--archs native] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from population import LRS, lrlab_population  # (this folder's population.py: the same run)

from lrlab.lab.data import blobs
from lrlab.lab.engine import _loop, _native_lib, native_status
from lrlab.lab.engine._native import NativeEngine
from lrlab.lab.engine._numpy import NumpyEngine
from lrlab.lab.optim import SGD, Adam

OPTIMIZERS = {
    "sgd": SGD(),
    "momentum": SGD(momentum=0.9),
    "keras": SGD(momentum=0.9, form="keras"),
    "adam": Adam(),
}

PHASES = {
    "step": ("step",),
    "evaluate": ("evaluate",),
    "epoch end": ("epoch_totals", "finite", "start_epoch"),
}


def _timed(fn: Callable[..., Any], into: dict[str, float], phase: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into[phase] += time.perf_counter() - t

    return wrapper


def profile(
    engine: str, members: int, epochs: int, threads: int | None, optimizer: str = "sgd"
) -> dict[str, float]:
    """Seconds of each phase of one run (and ``total``)."""
    spent: dict[str, float] = defaultdict(float)
    classes: list[Any] = [NumpyEngine, NativeEngine]
    if engine == "torch":
        from lrlab.lab.engine._torch import TorchEngine

        classes.append(TorchEngine)
    saved: list[tuple[Any, str, Any]] = []
    for cls in classes:
        for phase, names in PHASES.items():
            for name in names:
                saved.append((cls, name, cls.__dict__.get(name, getattr(cls, name))))
                setattr(cls, name, _timed(getattr(cls, name), spent, phase))
    orders = _loop.cohort_orders

    def timed_orders(*args: Any) -> Iterator[Any]:
        source = orders(*args)
        while True:
            t = time.perf_counter()
            item = next(source)
            spent["orders"] += time.perf_counter() - t
            yield item

    _loop.cohort_orders = timed_orders
    try:
        lrs = [LRS[i % 8] for i in range(members)]
        spent["total"] = lrlab_population(
            blobs(), lrs, epochs, "cpu", engine, threads=threads, optimizer=OPTIMIZERS[optimizer]
        )
    finally:
        _loop.cohort_orders = orders
        for cls, name, fn in saved:
            setattr(cls, name, fn)
    # the timed methods do not call one another, so what is left is the loop's own time
    spent["other"] = spent["total"] - sum(v for k, v in spent.items() if k != "total")
    return dict(spent)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", default="native,torch", help="comma-separated engines")
    p.add_argument("--threads", type=int, default=None, help="fixed threads (default: adaptive)")
    p.add_argument(
        "--optimizers", default="sgd", help=f"comma-separated, of {', '.join(OPTIMIZERS)}"
    )
    p.add_argument(
        "--archs", default="native", help="comma-separated instruction sets of the native kernel"
    )
    args = p.parse_args()
    engines = [
        e for e in args.engines.split(",") if e != "native" or native_status() == "available"
    ]
    optimizers = args.optimizers.split(",")
    unknown = sorted(set(optimizers) - set(OPTIMIZERS))
    if unknown:
        p.error(f"--optimizers: unknown {', '.join(unknown)} (choose from {', '.join(OPTIMIZERS)})")
    archs = args.archs.split(",")
    runs = [
        (e, o, a) for e in engines for a in (archs if e == "native" else ["-"]) for o in optimizers
    ]
    lanes: dict[str, int] = {}

    def profile_run(key: tuple[str, str, str], epochs: int) -> dict[str, float]:
        engine, opt, arch = key
        if engine == "native" and (arch not in lanes or os.environ[_native_lib.ARCH_ENV] != arch):
            os.environ[_native_lib.ARCH_ENV] = arch  # ("native": -march=native)
            _native_lib.reset()
            lib = _native_lib.library()
            if lib is None:
                p.error(f"--archs {arch}: {native_status()}")
            lanes[arch] = int(lib.lrlab_lanes())
        return profile(engine, args.members, epochs, args.threads, opt)

    for key in runs:  # warm up: compile, first calls, thread probes of the shapes
        profile_run(key, 1)
    best: dict[tuple[str, str, str], dict[str, float]] = {}
    for _ in range(args.repeats):
        for key in runs:
            run = profile_run(key, args.epochs)
            if key not in best or run["total"] < best[key]["total"]:
                best[key] = run
    scale = 200 / args.epochs / args.members * 1e3
    cols = ["step", "evaluate", "orders", "epoch end", "other", "total"]
    print(
        f"blobs 2-50-3, C = {args.members}, batch 32, train+test evaluation every epoch, "
        f"one batch order per member; {args.epochs} epochs scaled to 200, ms per configuration, "
        f"fastest of {args.repeats} runs, threads {args.threads or 'adaptive'}"
    )
    print(f"  {'engine':>8} {'optimizer':>9} " + " ".join(f"{c:>10}" for c in cols))
    for (engine, opt, arch), run in best.items():
        cells = " ".join(f"{run.get(c, 0.0) * scale:10.2f}" for c in cols)
        build = f" ({arch}, {lanes[arch]} lanes)" if engine == "native" and arch in lanes else ""
        print(f"  {engine:>8} {opt:>9} {cells}{build}")


if __name__ == "__main__":
    main()
