"""Time lrlab schedules: vectorised, per call, and side by side with torch, Optax and Keras.

Usage::

    python benchmarks/schedules.py            # full run (about a minute on a quiet 2-core machine)
    python benchmarks/schedules.py --quick    # fewer repeats, shorter torch loops (< 20 s)
    python benchmarks/schedules.py --json out.json --profile

Sections:

1. Vectorised evaluation of 1,000,000 steps, ``s(np.arange(1_000_000))``, for each family, on
   NumPy (float64), NumPy with float32 steps, a torch CPU tensor (float64) and under
   ``jax.jit`` (JAX's default float32; compiled once, then timed with ``block_until_ready``).
   The median of several repeats after a warm-up call; PASS/MISS against the target of
   10 ms per 1e6 steps.
2. Per-call cost of ``s(k)`` on Python ints, in microseconds.
3. torch's own schedulers stepped on a real SGD optimizer (``scheduler.step()`` N times; the
   time is scaled to 1e6 steps when N is smaller), with the ratios
   torch / lrlab-vectorised and torch-per-step / lrlab-per-call. Then Optax schedules and lrlab
   under ``jax.jit`` on the same 1e6 steps, with the ratio Optax / lrlab. Then (3c)
   ``lrlab.torch.LrlabScheduler.step()`` against torch's own scheduler for the same schedule,
   each on its own SGD optimizer, 20,000 steps, timed side by side in chunks of 1,000 steps
   that alternate between the two (so that drifts in load hit both); the ratio lrlab / torch
   is PASS at most 1.00. ``--scheduler-only`` runs this part alone.
4. Keras on TensorFlow: ``model.fit`` of a small MLP with a ``KerasSchedule`` against Keras' own
   schedule of the same shape (``CosineDecay`` and ``cosine``, ...), time per training step side
   by side, in ``fit``'s ``tf.function`` and with ``jit_compile=True``; the ratio lrlab / Keras
   is PASS at most 1.10 (lrlab's overhead at most 10%). It runs in a subprocess with
   ``KERAS_BACKEND=tensorflow`` (Keras fixes its backend at import), the two schedules of a pair
   alternating epoch by epoch, so that load drifts hit both alike.

Each side-by-side row also checks that the two libraries compute the same rates (``|diff|``,
relative to the peak rate), so the ratios compare like with like.

``--profile`` adds a breakdown of the NumPy time of each family by operation (which ufunc or
array function the schedule body spends its time in, and the cost of converting and checking
the input steps), run block by block as lrlab runs it. It uses lrlab internals
(``Schedule._eval``, ``schedules._array``, ``schedules._base.EVAL_BLOCK``), so it
is a diagnostic and may need updating when those change.

torch, JAX, Optax, Keras and TensorFlow are optional: the sections that need them are skipped
when they are not installed.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from lrlab.schedules import parse

N = 1_000_000
TARGET_MS = 10.0
PEAK = 0.1  # every schedule below peaks at (or starts from) 0.1

# name, text form (read by lrlab.schedules.parse); 1e6 steps of each are evaluated
FAMILIES: list[tuple[str, str]] = [
    ("constant", "constant(0.1)"),
    ("step_decay", "step_decay(init=0.1, drop=0.5, every=100000)"),
    ("multistep", "multistep(init=0.1, milestones=[300000, 600000, 900000], factor=0.1)"),
    ("exponential", "exponential(init=0.1, decay_rate=0.96, decay_steps=10000)"),
    ("inverse_time", "inverse_time(init=0.1, decay_rate=0.5, decay_steps=10000)"),
    ("polynomial", "polynomial(init=0.1, decay_steps=1000000, power=2.0)"),
    ("cosine", "cosine(init=0.1, decay_steps=1000000)"),
    ("cosine_restarts t_mul=1", "cosine_restarts(init=0.1, first_period=10000)"),
    ("cosine_restarts t_mul=2", "cosine_restarts(init=0.1, first_period=10000, t_mul=2.0)"),
    ("cyclic", "cyclic(base=0.01, peak=0.1, step_size_up=2000)"),
    ("one_cycle", "one_cycle(peak=0.1, total_steps=1000000)"),
    ("warmup_cosine", "warmup_cosine(peak=0.1, warmup_steps=10000, total_steps=1000000)"),
    ("wsd", "wsd(peak=0.1, total_steps=1000000, warmup_steps=10000, decay_steps=200000)"),
    ("inverse_sqrt", "inverse_sqrt(peak=0.1, warmup_steps=10000)"),
]


# -- optional frameworks ---------------------------------------------------------------------------
def _try_import(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None


torch = _try_import("torch")
jax = _try_import("jax")
optax = _try_import("optax") if jax is not None else None


# -- timing ----------------------------------------------------------------------------------------
def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def verdict(ms: float | None) -> str:
    if ms is None:
        return "-"
    return "PASS" if ms <= TARGET_MS else "MISS"


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}x" if x >= 0.995 else f"1/{1 / x:.1f}"


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Plain-text table; the first ``left`` columns are left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


# -- machine ---------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu,
        "nproc": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "jax": getattr(jax, "__version__", None),
        "jax_backend": jax.default_backend() if jax is not None else None,
        "optax": getattr(optax, "__version__", None),
        "lrlab": _lrlab_version(),
    }
    return info


def _lrlab_version() -> str:
    """lrlab's version, and the git commit of the checkout it runs from when there is one."""
    import subprocess
    from importlib import metadata

    import lrlab

    try:
        version = metadata.version("lrlab")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        out = subprocess.run(
            ["git", "-C", os.path.dirname(lrlab.__file__), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return version
    commit = out.stdout.strip()
    return f"{version} (commit {commit})" if out.returncode == 0 and commit else version


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not available
        return "unknown"


def _busy_seconds() -> tuple[float, float] | None:
    """(CPU seconds the whole machine has been busy, CPU seconds this process has used)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle, iowait
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system


def _section(t0: float, busy0: tuple[float, float] | None) -> dict[str, float | None]:
    wall = time.perf_counter() - t0
    return {"seconds": wall, "other_cpus_busy": other_load(busy0, wall)}


def other_load(before: tuple[float, float] | None, wall: float) -> float | None:
    """Average number of CPUs kept busy by other processes since ``before``."""
    after = _busy_seconds()
    if before is None or after is None or wall <= 0:
        return None
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall


# -- section 1 + 2: lrlab alone --------------------------------------------------------------------
def _minor_faults() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_lrlab(texts: list[str], repeats: int, scalar_calls: int) -> dict[str, dict[str, Any]]:
    """NumPy float64 vectorised time (and page faults per call) and per-call time of each text.

    All schedules are timed here, first, in the same phase of the run: how much fresh memory a
    call has to fault in depends on what the process allocated before, so timing lrlab's NumPy
    path after the torch and JAX work would not compare like with like.
    """
    steps64 = np.arange(N)
    out: dict[str, dict[str, Any]] = {}
    for text in dict.fromkeys(texts):
        s = parse(text)
        s(steps64)  # warm-up
        f0 = _minor_faults()
        ms = median_seconds(lambda s=s: s(steps64), repeats, warmup=0) * 1e3
        f1 = _minor_faults()
        faults = None if f0 is None or f1 is None else (f1 - f0) / repeats
        out[text] = {"numpy_ms": ms, "numpy_faults": faults}
    ks = list(range(0, N, N // scalar_calls))
    for text in out:
        s = parse(text)

        def calls(s: Any = s) -> None:
            for k in ks:
                s(k)

        out[text]["scalar_us"] = median_seconds(calls, max(3, repeats // 2)) / len(ks) * 1e6
    return out


def bench_families(repeats: int, lrlab: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Sections 1 and 2. One backend at a time over all families, so that one library's
    threads and allocations do not sit between another library's timed calls."""
    schedules = [(name, text, parse(text)) for name, text in FAMILIES]
    rows = [{"family": name, "schedule": text, **lrlab[text]} for name, text, _ in schedules]

    def each(key: str, steps: Any, wrap: Callable[[Any], Callable[[], Any]]) -> None:
        for row, (_, _, s) in zip(rows, schedules):
            if steps is None:
                row[key] = row[key.replace("_ms", "_faults")] = None
                continue
            fn = wrap(s)
            fn()  # warm-up
            f0 = _minor_faults()
            row[key] = median_seconds(fn, repeats, warmup=0) * 1e3
            f1 = _minor_faults()
            faults = None if f0 is None or f1 is None else (f1 - f0) / repeats
            row[key.replace("_ms", "_faults")] = faults

    steps32 = np.arange(N, dtype=np.float32)
    each("numpy_f32_ms", steps32, lambda s: lambda: s(steps32))
    tsteps = torch.arange(N) if torch is not None else None
    each("torch_ms", tsteps, lambda s: lambda: s(tsteps))
    jsteps = jax.numpy.arange(N) if jax is not None else None

    def jitted(s: Any) -> Callable[[], Any]:
        f = jax.jit(lambda t: s(t))
        f(jsteps).block_until_ready()  # compile once, outside the timing
        return lambda: f(jsteps).block_until_ready()

    each("jax_jit_ms", jsteps, jitted)
    return rows


def print_families(rows: list[dict[str, Any]]) -> None:
    print(
        f"1+2. lrlab: vectorised evaluation of {N:,} steps (ms, median) and per-call cost "
        f"of s(k) on Python ints (us)"
    )
    print(f"     target: <= {TARGET_MS:g} ms per 1e6 steps; PASS/MISS against it per column")
    print("     numpy f64: s(np.arange(N)) | numpy f32: float32 steps (float32 out) |")
    print("     torch f64: s(torch.arange(N)) | jax jit f32: jax.jit(s)(jnp.arange(N))")
    print("     faults: page faults per call (~2,000 = 8 MB of fresh memory touched)")
    headers = [
        "family",
        "numpy f64",
        "",
        "faults",
        "numpy f32",
        "",
        "torch f64",
        "",
        "faults",
        "jax jit f32",
        "",
        "s(k) us/call",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r["family"],
                fmt(r["numpy_ms"]),
                verdict(r["numpy_ms"]),
                fmt(r["numpy_faults"], ".0f"),
                fmt(r["numpy_f32_ms"]),
                verdict(r["numpy_f32_ms"]),
                fmt(r["torch_ms"]),
                verdict(r["torch_ms"]),
                fmt(r["torch_faults"], ".0f"),
                fmt(r["jax_jit_ms"]),
                verdict(r["jax_jit_ms"]),
                fmt(r["scalar_us"], ".1f"),
            ]
        )
    print(table(headers, body))
    for col, label in [
        ("numpy_ms", "numpy f64"),
        ("numpy_f32_ms", "numpy f32"),
        ("torch_ms", "torch f64"),
        ("jax_jit_ms", "jax jit f32"),
    ]:
        missed = [r["family"] for r in rows if r[col] is not None and r[col] > TARGET_MS]
        if any(r[col] is not None for r in rows):
            print(f"     {label}: {len(rows) - len(missed)}/{len(rows)} PASS", end="")
            print(f"; MISS: {', '.join(missed)}" if missed else "")
    print()


# -- section 3a: torch schedulers ------------------------------------------------------------------
def _torch_pairs() -> list[tuple[str, str, Callable[[int], str], Callable[[Any, int], Any]]]:
    L = torch.optim.lr_scheduler
    return [
        (
            "step_decay",
            "StepLR",
            lambda h: f"step_decay(init=0.1, drop=0.5, every={h // 10})",
            lambda opt, h: L.StepLR(opt, step_size=h // 10, gamma=0.5),
        ),
        (
            "multistep",
            "MultiStepLR",
            lambda h: (
                f"multistep(init=0.1, milestones=[{3 * h // 10}, {6 * h // 10}, {9 * h // 10}], "
                "factor=0.1)"
            ),
            lambda opt, h: L.MultiStepLR(
                opt, milestones=[3 * h // 10, 6 * h // 10, 9 * h // 10], gamma=0.1
            ),
        ),
        (
            "exponential",
            "ExponentialLR",
            lambda h: "exponential(init=0.1, decay_rate=0.999995)",
            lambda opt, h: L.ExponentialLR(opt, gamma=0.999995),
        ),
        (
            "cosine",
            "CosineAnnealingLR",
            lambda h: f"cosine(init=0.1, decay_steps={h}, past_end='periodic')",
            lambda opt, h: L.CosineAnnealingLR(opt, T_max=h),
        ),
        (
            "cosine_restarts t_mul=1",
            "CosineAnnealingWarmRestarts",
            lambda h: f"cosine_restarts(init=0.1, first_period={h // 100})",
            lambda opt, h: L.CosineAnnealingWarmRestarts(opt, T_0=h // 100),
        ),
        (
            "cosine_restarts t_mul=2",
            "CosineAnnealingWarmRestarts",
            lambda h: f"cosine_restarts(init=0.1, first_period={h // 100}, t_mul=2.0)",
            lambda opt, h: L.CosineAnnealingWarmRestarts(opt, T_0=h // 100, T_mult=2),
        ),
        (
            "cyclic",
            "CyclicLR",
            lambda h: "cyclic(base=0.01, peak=0.1, step_size_up=2000)",
            lambda opt, h: L.CyclicLR(
                opt, base_lr=0.01, max_lr=0.1, step_size_up=2000, cycle_momentum=False
            ),
        ),
        (
            "one_cycle",
            "OneCycleLR",
            lambda h: f"one_cycle(peak=0.1, total_steps={h + 1})",
            lambda opt, h: L.OneCycleLR(opt, max_lr=0.1, total_steps=h + 1, cycle_momentum=False),
        ),
        (
            "polynomial",
            "PolynomialLR",
            lambda h: f"polynomial(init=0.1, decay_steps={h}, power=2.0)",
            lambda opt, h: L.PolynomialLR(opt, total_iters=h, power=2.0),
        ),
        (
            "warmup + cosine",
            "SequentialLR(LinearLR, CosineAnnealingLR)",
            lambda h: (
                f"join([linear(init=0.001, end=0.1, steps={h // 20}), "
                f"cosine(init=0.1, decay_steps={h - h // 20}, past_end='periodic')], "
                f"boundaries=[{h // 20}])"
            ),
            lambda opt, h: L.SequentialLR(
                opt,
                [
                    L.LinearLR(opt, start_factor=0.01, total_iters=h // 20),
                    L.CosineAnnealingLR(opt, T_max=h - h // 20),
                ],
                milestones=[h // 20],
            ),
        ),
        (
            "wsd",
            "LambdaLR (warmup-stable-decay)",
            lambda h: (
                f"wsd(peak=0.1, total_steps={h}, warmup_steps={h // 20}, decay_steps={h // 5})"
            ),
            lambda opt, h: L.LambdaLR(opt, _wsd_factor(h, h // 20, h // 5)),
        ),
        (
            "inverse_sqrt",
            "LambdaLR (inverse square root)",
            lambda h: f"inverse_sqrt(peak=0.1, warmup_steps={h // 20})",
            lambda opt, h: L.LambdaLR(opt, _inverse_sqrt_factor(h // 20)),
        ),
    ]


def _wsd_factor(total: int, warmup: int, decay: int) -> Callable[[int], float]:
    """Warmup-stable-decay as a ``LambdaLR`` factor (as Hugging Face's ``get_wsd_schedule``)."""

    def factor(k: int) -> float:
        if k < warmup:
            return k / warmup
        return 1.0 if k < total - decay else max(0.0, (total - k) / decay)

    return factor


def _inverse_sqrt_factor(warmup: int) -> Callable[[int], float]:
    """Linear warmup, then ``sqrt(warmup / k)``, as a ``LambdaLR`` factor."""

    def factor(k: int) -> float:
        return k / warmup if k < warmup else math.sqrt(warmup / k)

    return factor


def _torch_run(make: Callable[[Any, int], Any], horizon: int, n: int) -> tuple[float, float]:
    """Step a fresh scheduler ``n`` times; return (seconds, learning rate after the last step)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=PEAK, momentum=0.9)
    sched = make(opt, horizon)
    opt.step()  # the usual order: optimizer.step() before scheduler.step()
    step = sched.step
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    dt = time.perf_counter() - t0
    return dt, float(opt.param_groups[0]["lr"])


def bench_torch(torch_steps: int, lrlab: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for family, cls, text_for, make in _torch_pairs():
        _torch_run(make, 2000, 1000)  # warm up this scheduler class
        seconds, last_lr = _torch_run(make, torch_steps, torch_steps)
        ref = parse(text_for(torch_steps))(torch_steps)
        mine = lrlab[text_for(N)]
        torch_step_s = seconds / torch_steps
        rows.append(
            {
                "family": family,
                "torch": cls,
                "schedule": text_for(N),
                "torch_steps": torch_steps,
                "torch_1e6_ms": torch_step_s * N * 1e3,
                "lrlab_numpy_ms": mine["numpy_ms"],
                "vectorised_ratio": torch_step_s * N / (mine["numpy_ms"] * 1e-3),
                "torch_us_per_step": torch_step_s * 1e6,
                "lrlab_us_per_call": mine["scalar_us"],
                "per_step_ratio": torch_step_s / (mine["scalar_us"] * 1e-6),
                "diff": abs(last_lr - ref) / PEAK,
            }
        )
    return rows


def print_torch(rows: list[dict[str, Any]]) -> None:
    n = rows[0]["torch_steps"]
    scaled = "" if n == N else f" (timed over {n:,} steps, scaled to {N:,})"
    print(f"3a. torch schedulers: scheduler.step() on SGD{scaled} vs lrlab on the same schedule")
    print("    vec ratio = torch time for 1e6 steps / lrlab s(np.arange(1e6));")
    print("    call ratio = torch us per step() / lrlab us per s(k); > 1x: lrlab faster")
    print(
        "    |diff|: |torch lr - lrlab s(n)| / peak after the n timed steps (same schedule); "
        "cycle_momentum=False"
    )
    headers = [
        "family",
        "torch scheduler",
        "torch 1e6 ms",
        "lrlab numpy ms",
        "vec ratio",
        "torch us/step",
        "lrlab us/call",
        "call ratio",
        "|diff|",
    ]
    body = [
        [
            r["family"],
            r["torch"],
            fmt(r["torch_1e6_ms"], ".0f"),
            fmt(r["lrlab_numpy_ms"]),
            fmt_ratio(r["vectorised_ratio"]),
            fmt(r["torch_us_per_step"]),
            fmt(r["lrlab_us_per_call"]),
            fmt_ratio(r["per_step_ratio"]),
            fmt(r["diff"], ".0e"),
        ]
        for r in rows
    ]
    print(table(headers, body, left=2))
    print()


# -- section 3b: Optax -----------------------------------------------------------------------------
def _optax_pairs() -> list[tuple[str, str, str, Callable[[Any], Any]]]:
    o = optax

    def sgdr(periods: list[int]) -> Any:
        return o.sgdr_schedule(
            [
                {
                    "init_value": PEAK,
                    "peak_value": PEAK,
                    "warmup_steps": 0,
                    "decay_steps": p,
                    "end_value": 0.0,
                }
                for p in periods
            ]
        )

    def vmapped(sched: Any) -> Callable[[Any], Any]:
        return jax.vmap(sched)

    doubling = [10000 * 2**k for k in range(7)]  # 1,270,000 steps: covers 1e6
    return [
        (
            "step_decay",
            "exponential_decay(staircase=True)",
            "step_decay(init=0.1, drop=0.5, every=100000)",
            o.exponential_decay(PEAK, 100000, 0.5, staircase=True),
        ),
        (
            "multistep",
            "piecewise_constant_schedule",
            "multistep(init=0.1, milestones=[300000, 600000, 900000], factor=0.1)",
            o.piecewise_constant_schedule(PEAK, {300000: 0.1, 600000: 0.1, 900000: 0.1}),
        ),
        (
            "exponential",
            "exponential_decay",
            "exponential(init=0.1, decay_rate=0.96, decay_steps=10000)",
            o.exponential_decay(PEAK, 10000, 0.96),
        ),
        (
            "linear",
            "linear_schedule",
            "linear(init=0.1, end=0.0, steps=1000000)",
            o.linear_schedule(PEAK, 0.0, N),
        ),
        (
            "polynomial",
            "polynomial_schedule",
            "polynomial(init=0.1, decay_steps=1000000, power=2.0)",
            o.polynomial_schedule(PEAK, 0.0, 2.0, N),
        ),
        (
            "cosine",
            "cosine_decay_schedule",
            "cosine(init=0.1, decay_steps=1000000)",
            o.cosine_decay_schedule(PEAK, N),
        ),
        (
            "cosine_restarts t_mul=1",
            "sgdr_schedule (100 periods)",
            "cosine_restarts(init=0.1, first_period=10000)",
            sgdr([10000] * 100),
        ),
        (
            "cosine_restarts t_mul=2",
            "sgdr_schedule (7 periods)",
            "cosine_restarts(init=0.1, first_period=10000, t_mul=2.0)",
            sgdr(doubling),
        ),
        (
            "warmup_cosine",
            "warmup_cosine_decay_schedule",
            "warmup_cosine(peak=0.1, warmup_steps=10000, total_steps=1000000)",
            o.warmup_cosine_decay_schedule(0.0, PEAK, 10000, N),
        ),
        (
            "one_cycle",
            "cosine_onecycle_schedule (vmap)",
            "one_cycle(peak=0.1, total_steps=1000000, convention='optax')",
            vmapped(o.cosine_onecycle_schedule(N, PEAK)),
        ),
    ]


def bench_optax(repeats: int) -> list[dict[str, Any]]:
    x = jax.numpy.arange(N)
    rows = []
    for family, name, text, sched in _optax_pairs():
        s = parse(text)
        fo = jax.jit(sched)
        fl = jax.jit(lambda t, s=s: s(t))
        yo = np.asarray(fo(x).block_until_ready())
        yl = np.asarray(fl(x).block_until_ready())
        to = median_seconds(lambda fo=fo: fo(x).block_until_ready(), repeats)
        tl = median_seconds(lambda fl=fl: fl(x).block_until_ready(), repeats)
        rows.append(
            {
                "family": family,
                "optax": name,
                "schedule": text,
                "optax_jit_ms": to * 1e3,
                "lrlab_jit_ms": tl * 1e3,
                "ratio": to / tl,
                "diff": float(np.max(np.abs(yo.astype(np.float64) - yl))) / PEAK,
            }
        )
    return rows


def print_optax(rows: list[dict[str, Any]]) -> None:
    print(f"3b. Optax vs lrlab, both under jax.jit, {N:,} steps (float32), ms (median)")
    print("    ratio = Optax time / lrlab time (> 1x: lrlab faster); |diff|: max over all steps")
    print("    of |optax - lrlab| / peak")
    headers = ["family", "optax", "optax ms", "lrlab ms", "ratio", "|diff|"]
    body = [
        [
            r["family"],
            r["optax"],
            fmt(r["optax_jit_ms"]),
            fmt(r["lrlab_jit_ms"]),
            fmt_ratio(r["ratio"]),
            fmt(r["diff"], ".0e"),
        ]
        for r in rows
    ]
    print(table(headers, body, left=2))
    print()


# -- section 3c: LrlabScheduler against torch's schedulers -----------------------------------------
SCHED_STEPS = 20_000  # steps of each scheduler, as in a short training run
SCHED_CHUNK = 1_000  # steps timed at a time, alternating between torch and lrlab


def _sgd() -> Any:
    """A fresh SGD optimizer on one parameter, as in section 3a."""
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK, momentum=0.9)


def _lrs(sched: Any, opt: Any, n: int) -> np.ndarray:
    """The lr of each of ``n`` updates (read before each ``optimizer.step()``)."""
    out = []
    for _ in range(n):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        sched.step()
    return np.array(out)


def bench_scheduler(steps: int, rounds: int) -> list[dict[str, Any]]:
    """Section 3c: microseconds per ``step()`` of torch's scheduler and of LrlabScheduler.

    Each round builds both schedulers fresh and steps them ``steps`` times, in chunks of
    :data:`SCHED_CHUNK` steps that alternate between the two (which one goes first alternates
    by round); the time per step is the median over all chunks of all rounds, and the ratio
    the median of the ratios of the two chunks timed one after the other (so that a change in
    load between chunks cancels). Every step of the run is timed, so LrlabScheduler's block
    evaluations are part of its time.
    """
    from lrlab.torch import LrlabScheduler

    rows = []
    for family, cls, text_for, make in _torch_pairs():
        s = parse(text_for(steps))
        makers: dict[str, Callable[[Any], Any]] = {
            "torch": lambda opt, make=make: make(opt, steps),
            "lrlab": lambda opt, s=s: LrlabScheduler(opt, s),
        }
        lrs = {}
        for name, build in makers.items():  # untimed: the two give the same rates
            opt = _sgd()
            lrs[name] = _lrs(build(opt), opt, steps)
        times: dict[str, list[float]] = {"torch": [], "lrlab": []}
        for r in range(rounds):
            scheds = {}
            for name, build in makers.items():
                opt = _sgd()
                scheds[name] = build(opt)
                opt.step()  # the usual order: optimizer.step() before scheduler.step()
            order = ["torch", "lrlab"] if r % 2 == 0 else ["lrlab", "torch"]
            gc.collect()
            for lo in range(0, steps, SCHED_CHUNK):
                n = min(SCHED_CHUNK, steps - lo)
                for name in order:
                    step = scheds[name].step
                    t0 = time.perf_counter()
                    for _ in range(n):
                        step()
                    times[name].append((time.perf_counter() - t0) / n)
        torch_us = statistics.median(times["torch"]) * 1e6
        lrlab_us = statistics.median(times["lrlab"]) * 1e6
        ratio = statistics.median(a / b for a, b in zip(times["lrlab"], times["torch"]))
        rows.append(
            {
                "family": family,
                "torch": cls,
                "schedule": text_for(steps),
                "steps": steps,
                "rounds": rounds,
                "torch_us_per_step": torch_us,
                "lrlab_us_per_step": lrlab_us,
                "torch_us_min": min(times["torch"]) * 1e6,
                "lrlab_us_min": min(times["lrlab"]) * 1e6,
                "ratio": ratio,
                "diff": float(np.max(np.abs(lrs["torch"] - lrs["lrlab"]))) / PEAK,
            }
        )
    return rows


def print_scheduler(rows: list[dict[str, Any]]) -> None:
    n, rounds = rows[0]["steps"], rows[0]["rounds"]
    print(
        f"3c. LrlabScheduler.step() vs torch's own scheduler.step() for the same schedule, "
        f"each on SGD, {n:,} steps x {rounds} rounds"
    )
    print(
        f"    us per step: median over chunks of {SCHED_CHUNK:,} steps, torch and lrlab "
        "alternating chunk by chunk;"
    )
    print(
        "    ratio = lrlab / torch: median over the pairs of chunks timed one after the other, PASS"
    )
    print("    at most 1.00 (< 1: LrlabScheduler is cheaper); min: the fastest chunk of each;")
    print("    |diff|: max over the steps of |torch lr - lrlab lr| / peak")
    headers = [
        "family",
        "torch scheduler",
        "torch us/step",
        "lrlab us/step",
        "ratio",
        "",
        "torch min",
        "lrlab min",
        "|diff|",
    ]
    body = [
        [
            r["family"],
            r["torch"],
            fmt(r["torch_us_per_step"]),
            fmt(r["lrlab_us_per_step"]),
            f"{r['ratio']:.2f}",
            "PASS" if r["ratio"] <= 1.0 else "MISS",
            fmt(r["torch_us_min"]),
            fmt(r["lrlab_us_min"]),
            fmt(r["diff"], ".0e"),
        ]
        for r in rows
    ]
    print(table(headers, body, left=2))
    passed = sum(r["ratio"] <= 1.0 for r in rows)
    print(f"    {passed}/{len(rows)} PASS")
    print()


# -- Keras on TensorFlow and on torch -------------------------------------------------------------
KERAS_MAX_RATIO = 1.10
KERAS_DECAY = 20_000  # steps of each decay; the timed steps stay well inside it


def _keras_pairs(keras: Any) -> list[tuple[str, str, Any]]:
    """(family, lrlab text, Keras' own schedule of the same shape)."""
    ks = keras.optimizers.schedules
    d = KERAS_DECAY
    return [
        ("cosine", f"cosine(init=0.1, decay_steps={d})", ks.CosineDecay(0.1, d)),
        (
            "warmup + cosine",
            f"warmup(cosine(init=0.1, decay_steps={d - 100}), steps=100)",
            ks.CosineDecay(0.0, d - 100, warmup_target=0.1, warmup_steps=100),
        ),
        (
            "exponential staircase",
            "exponential(init=0.1, decay_rate=0.5, decay_steps=1000, staircase=True)",
            ks.ExponentialDecay(0.1, 1000, 0.5, staircase=True),
        ),
        (
            "piecewise_constant",
            "piecewise_constant(boundaries=[1000, 5000], values=[0.1, 0.01, 0.001], "
            "switch='after')",
            ks.PiecewiseConstantDecay([1000, 5000], [0.1, 0.01, 0.001]),
        ),
    ]


#: Keras backends of section 4, each with the module that must be installed for it
KERAS_BACKENDS = (("tensorflow", "tensorflow"), ("torch", "torch"))


def keras_worker(quick: bool, backend: str) -> dict[str, Any]:
    """Runs in the subprocess (``KERAS_BACKEND=backend``): per-step times of ``fit``, on
    TensorFlow traced (``tf.function``) and with XLA, on torch eagerly (Keras' torch backend
    runs ``fit`` eagerly unless ``jit_compile=True`` asks for ``torch.compile``)."""
    import importlib

    import keras

    from lrlab.integrations.keras import KerasSchedule

    assert keras.backend.backend() == backend, keras.backend.backend()
    framework = importlib.import_module(backend)
    compiled = (False, True) if backend == "tensorflow" else (False,)
    rng = np.random.default_rng(0)
    batch, steps = 32, 100 if quick else 200  # steps per timed epoch
    x = rng.normal(size=(batch * steps, 32)).astype("float32")
    y = rng.normal(size=(batch * steps, 1)).astype("float32")
    repeats = 5 if quick else 15

    def model_for(lr: Any, jit: bool) -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(keras.optimizers.SGD(lr, momentum=0.9), loss="mse", jit_compile=jit)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # trace / compile, warm up
        return model

    def epoch(model: Any) -> float:
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - t0

    step = keras.Variable(1234, dtype="int64", trainable=False)  # an optimizer's iterations

    def per_call(schedule: Any) -> float:
        """Microseconds per eager call on the step variable, median of 5 rounds."""
        n = 300 if quick else 2000
        schedule(step)
        rounds = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                schedule(step)
            rounds.append((time.perf_counter() - t0) / n * 1e6)
        return statistics.median(rounds)

    rows = []
    for family, text, theirs in _keras_pairs(keras):
        ours = KerasSchedule(parse(text))
        call_keras, call_lrlab = per_call(theirs), per_call(ours)
        k = np.array([0, 50, 99, 100, 999, 1000, 4999, 5000, 12345, KERAS_DECAY - 1])
        yk = np.array([float(theirs(int(i))) for i in k])
        yl = np.array([float(ours(int(i))) for i in k])
        for jit in compiled:
            m_keras, m_lrlab = model_for(theirs, jit), model_for(ours, jit)
            tk, tl = [], []
            for _ in range(repeats):  # alternating, so that drifts in load hit both
                tk.append(epoch(m_keras))
                tl.append(epoch(m_lrlab))
            keras_ms = statistics.median(tk) / steps * 1e3
            lrlab_ms = statistics.median(tl) / steps * 1e3
            rows.append(
                {
                    "family": family,
                    "schedule": text,
                    "keras": type(theirs).__name__,
                    "jit_compile": jit,
                    "keras_ms_per_step": keras_ms,
                    "lrlab_ms_per_step": lrlab_ms,
                    "ratio": lrlab_ms / keras_ms,
                    "keras_us_per_call": call_keras,
                    "lrlab_us_per_call": call_lrlab,
                    "diff": float(np.max(np.abs(yk - yl))) / PEAK,
                }
            )
    return {
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": framework.__version__,
        "rows": rows,
    }


def bench_keras(quick: bool, backend: str, module: str) -> dict[str, Any] | str:
    """Section 4 on one Keras backend, in a subprocess; its result, or why it did not run."""
    import importlib.util
    import subprocess

    missing = [m for m in ("keras", module) if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, os.path.abspath(__file__), "--keras-worker", backend]
    out = subprocess.run(
        cmd + (["--quick"] if quick else []), env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        return f"the {backend} subprocess failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_keras(res: dict[str, Any]) -> None:
    print(
        f"4. Keras {res['keras']} on {res['backend']} {res['backend_version']}: model.fit with a "
        "KerasSchedule vs Keras' own schedule,"
    )
    print("    ms per training step (median over epochs, alternating); ratio = lrlab / Keras,")
    print("    call us: microseconds per eager call of the schedule on an int64 step variable")
    print(
        f"    PASS at most {KERAS_MAX_RATIO:.2f}; |diff|: max |keras - lrlab| / peak of the rates "
        "at 10 steps"
    )
    headers = [
        "family",
        "keras",
        "compiled",
        "keras ms",
        "lrlab ms",
        "ratio",
        "",
        "call us keras",
        "call us lrlab",
        "|diff|",
    ]
    body = [
        [
            r["family"],
            r["keras"],
            ("xla" if r["jit_compile"] else "tf.function")
            if res["backend"] == "tensorflow"
            else "eager",
            fmt(r["keras_ms_per_step"], ".3f"),
            fmt(r["lrlab_ms_per_step"], ".3f"),
            f"{r['ratio']:.3f}",
            "PASS" if r["ratio"] <= KERAS_MAX_RATIO else "MISS",
            fmt(r["keras_us_per_call"], ".1f"),
            fmt(r["lrlab_us_per_call"], ".1f"),
            fmt(r["diff"], ".0e"),
        ]
        for r in res["rows"]
    ]
    print(table(headers, body, left=3))
    print()


# -- profile (diagnostic) --------------------------------------------------------------------------
def profile_families(repeats: int) -> list[dict[str, Any]]:
    """Split each family's NumPy time into input preparation and the body's operations."""
    from lrlab.schedules import _array, _base  # internal: diagnostic only

    times: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()

    class Traced(np.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            args = [a.view(np.ndarray) if isinstance(a, Traced) else a for a in inputs]
            t0 = time.perf_counter()
            out = getattr(ufunc, method)(*args, **kwargs)
            times[ufunc.__name__] += time.perf_counter() - t0
            counts[ufunc.__name__] += 1
            return out.view(Traced) if isinstance(out, np.ndarray) else out

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            args = tuple(a.view(np.ndarray) if isinstance(a, Traced) else a for a in args)
            t0 = time.perf_counter()
            out = fn(*args)
            times[name] += time.perf_counter() - t0
            counts[name] += 1
            return out.view(Traced) if isinstance(out, np.ndarray) else out

        return wrapper

    _, base_ops, _ = _array.prepare(np.arange(2))
    ops = type(base_ops)(np)
    for meth in ("where", "full_like", "take"):  # array functions that are not ufuncs
        setattr(ops, meth, timed(meth, getattr(ops, meth)))
    # the body runs the way s(steps) runs it: block by block where lrlab evaluates long arrays
    # in blocks (schedules._base.EVAL_BLOCK), on float64 steps
    block = getattr(_base, "EVAL_BLOCK", None) or N

    steps = np.arange(N)
    t = steps.astype(np.float64)
    rows = []
    for name, text in FAMILIES:
        s = parse(text)
        total = median_seconds(lambda s=s: s(steps), repeats)
        prep = median_seconds(lambda: _array.prepare(steps), repeats)

        def body(s: Any = s) -> None:
            for lo in range(0, N, block):
                s._eval(t[lo : lo + block].view(Traced), ops)

        body()  # warm-up
        times.clear()
        counts.clear()
        for _ in range(repeats):
            body()
        ops_ms = {k: v / repeats * 1e3 for k, v in times.items()}
        blocks = -(-N // block)
        calls = {k: v // (repeats * blocks) for k, v in counts.items()}
        rows.append(
            {
                "family": name,
                "total_ms": total * 1e3,
                "prepare_ms": prep * 1e3,
                "ops_ms": dict(sorted(ops_ms.items(), key=lambda kv: -kv[1])),
                "op_calls": calls,
                "block": block,
            }
        )
    return rows


def print_profile(rows: list[dict[str, Any]]) -> None:
    block = rows[0]["block"] if rows else N
    how = "on the whole array" if block >= N else f"in blocks of {block:,} steps, as s() runs"
    print(f"Profile: where the NumPy float64 time of s(np.arange({N:,})) goes (ms, median)")
    print("    total = s(steps); prepare = checking the steps; ops = the body's operations")
    print(f"    ({how}), each timed alone, slowest first;")
    print("    xN: how often the body calls it. The rest of total is Python overhead and")
    print("    converting the steps to float64")
    headers = ["family", "total", "prepare", "ops", "slowest operations"]
    body = []
    for r in rows:
        ops = r["ops_ms"]
        top = ", ".join(f"{k} {v:.2f} (x{r['op_calls'][k]})" for k, v in list(ops.items())[:4])
        body.append(
            [
                r["family"],
                fmt(r["total_ms"]),
                fmt(r["prepare_ms"]),
                fmt(sum(ops.values())),
                top,
            ]
        )
    print(table(headers, body))
    print()


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "Time lrlab schedules (vectorised, per call) side by side with torch, Optax and Keras."
        )
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats and shorter torch loops")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    ap.add_argument("--profile", action="store_true", help="break the NumPy time down by operation")
    ap.add_argument(
        "--torch-steps",
        type=int,
        metavar="N",
        help="scheduler.step() calls per torch scheduler (default 1,000,000; --quick: 50,000)",
    )
    ap.add_argument(
        "--no-keras", action="store_true", help="skip section 4 (Keras on TensorFlow and torch)"
    )
    ap.add_argument("--keras-only", action="store_true", help="run only section 4")
    ap.add_argument(
        "--keras-backend",
        choices=[b for b, _ in KERAS_BACKENDS],
        help="section 4 on this Keras backend only (default: each installed one)",
    )
    ap.add_argument(
        "--scheduler-only",
        action="store_true",
        help="run only section 3c (LrlabScheduler.step() vs torch's scheduler.step())",
    )
    ap.add_argument("--keras-worker", metavar="BACKEND", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.keras_worker:  # section 4's subprocess: one JSON line on stdout
        print(json.dumps(keras_worker(args.quick, args.keras_worker)))
        return 0
    backends = [(b, m) for b, m in KERAS_BACKENDS if args.keras_backend in (None, b)]
    if args.keras_only:
        for backend, module in backends:
            kres = bench_keras(args.quick, backend, module)
            if isinstance(kres, str):
                print(f"4. Keras on {backend}: skipped ({kres})\n")
            else:
                print_keras(kres)
        return 0
    if args.torch_steps is not None and args.torch_steps < 100:
        ap.error(f"--torch-steps must be >= 100, got {args.torch_steps}")

    repeats = 3 if args.quick else 9
    sched_rounds = 1 if args.quick else 5
    scalar_calls = 2_000 if args.quick else 10_000
    torch_steps = args.torch_steps or (50_000 if args.quick else N)
    warnings.simplefilter("ignore", UserWarning)  # torch's scheduler notices

    start = time.perf_counter()
    busy_before = _busy_seconds()
    info = machine()
    command = "python benchmarks/schedules.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    print(f"lrlab schedule benchmark: {command}")
    print(f"lrlab {info['lrlab']}")
    print(
        f"machine: {info['cpu']}, {info['nproc']} CPUs usable; python {info['python']}, "
        f"numpy {info['numpy']}, torch {info['torch'] or '-'} "
        f"({info['torch_threads'] or '-'} threads), jax {info['jax'] or '-'} "
        f"({info['jax_backend'] or '-'}), optax {info['optax'] or '-'}"
    )
    print(f"repeats: {repeats} (median, after a warm-up call); s(k) timed over {scalar_calls:,} k")
    print(f"load average at start: {_load()} (other work on the machine inflates the times)")
    print()

    result: dict[str, Any] = {"machine": info, "command": command, "target_ms": TARGET_MS}
    result["load_start"] = _load()
    sections: dict[str, dict[str, float | None]] = {}
    if args.scheduler_only:
        if torch is None:
            print("3c. LrlabScheduler: skipped (torch is not installed)\n")
        else:
            t0, busy0 = time.perf_counter(), _busy_seconds()
            srows = bench_scheduler(SCHED_STEPS, sched_rounds)
            sections["scheduler"] = _section(t0, busy0)
            result["scheduler"] = srows
            print_scheduler(srows)
        return _finish(args, result, sections, info, start, busy_before)
    t0, busy0 = time.perf_counter(), _busy_seconds()
    texts = [text for _, text in FAMILIES]
    if torch is not None:
        texts += [text_for(N) for _, _, text_for, _ in _torch_pairs()]
    lrlab = time_lrlab(texts, repeats, scalar_calls)
    fam = bench_families(repeats, lrlab)
    sections["families"] = _section(t0, busy0)
    result["families"] = fam
    print_families(fam)

    if torch is not None:
        t0, busy0 = time.perf_counter(), _busy_seconds()
        tr = bench_torch(torch_steps, lrlab)
        sections["torch"] = _section(t0, busy0)
        result["torch"] = tr
        print_torch(tr)
    else:
        print("3a. torch schedulers: skipped (torch is not installed)\n")

    if optax is not None:
        t0, busy0 = time.perf_counter(), _busy_seconds()
        orows = bench_optax(repeats)
        sections["optax"] = _section(t0, busy0)
        result["optax"] = orows
        print_optax(orows)
    else:
        print("3b. Optax: skipped (jax/optax not installed)\n")

    if torch is not None:
        t0, busy0 = time.perf_counter(), _busy_seconds()
        srows = bench_scheduler(SCHED_STEPS, sched_rounds)
        sections["scheduler"] = _section(t0, busy0)
        result["scheduler"] = srows
        print_scheduler(srows)
    else:
        print("3c. LrlabScheduler: skipped (torch is not installed)\n")

    if not args.no_keras:
        t0, busy0 = time.perf_counter(), _busy_seconds()
        for backend, module in backends:
            kres = bench_keras(args.quick, backend, module)
            if isinstance(kres, str):
                print(f"4. Keras on {backend}: skipped ({kres})\n")
            else:
                result.setdefault("keras", {})[backend] = kres
                print_keras(kres)
        sections["keras"] = _section(t0, busy0)

    if args.profile:
        t0, busy0 = time.perf_counter(), _busy_seconds()
        prof = profile_families(repeats)
        sections["profile"] = _section(t0, busy0)
        result["profile"] = prof
        print_profile(prof)

    print("schedules (text form, 1e6 steps):")
    for name, text in FAMILIES:
        print(f"    {name:<24} {text}")
    return _finish(args, result, sections, info, start, busy_before)


def _finish(
    args: argparse.Namespace,
    result: dict[str, Any],
    sections: dict[str, dict[str, float | None]],
    info: dict[str, Any],
    start: float,
    busy_before: tuple[float, float] | None,
) -> int:
    """Print the load and the time of each section; write ``--json``."""
    elapsed = time.perf_counter() - start
    result["elapsed_s"] = elapsed
    result["sections"] = sections
    result["load_end"] = _load()
    others = other_load(busy_before, time.perf_counter() - start)
    result["other_cpus_busy"] = others
    print(
        f"\nload average at end: {result['load_end']}; other processes kept "
        f"{fmt(others)} of {info['nproc']} CPUs busy on average during the run"
    )
    parts = "; ".join(
        f"{k} {v['seconds']:.1f} s, others {fmt(v['other_cpus_busy'])} CPUs"
        for k, v in sections.items()
    )
    print(f"\ntotal time: {elapsed:.1f} s ({parts})")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
