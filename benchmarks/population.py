"""Population training against one-model-at-a-time training, side by side, on the blobs problem.

The classic sensitivity study: MLP 2-50-3 (relu, softmax, he_uniform), SGD, batch 32, 200
epochs, a full evaluation of the train and test splits after every epoch, 8 learning rates
1e0 ... 1e-7. Timed here, in one run:

1. lrlab: all 8 configurations as one population;
2. an idiomatic single-model PyTorch loop, one configuration after another;
3. Keras 3 ``model.fit`` one configuration after another, on the TensorFlow backend when
   TensorFlow is installed, else on ``KERAS_BACKEND`` (``--keras-backend`` chooses);
4. lrlab's scaling: seconds per configuration at C = 1, 8, 64, 256, 1024 on each engine
   (native where its kernel is available, NumPy up to C = 256, torch; they take turns and
   each keeps its best of two runs), the one ``engine="auto"`` picks, and the FLOP bound (the
   arithmetic of one configuration at this machine's measured peak sgemm rate);
5. with ``--engines``: the engine choice, each engine's seconds per configuration for five
   networks (2-50-3, 34-64-64-2, 784-8-10, 64-300-100-10, 784-300-100-10) at C = 1, 8, 64,
   256, the engine ``engine="auto"`` picks and how much slower it is than the best one (the
   minimum of ``--repeats`` runs each, as other work on the machine only ever adds time);
6. with ``--under-load``: each engine's milliseconds per configuration quiet and with one busy
   process that the script starts and stops, at one thread, two and the adaptive choice
   (NumPy and torch on 64-300-100-10 at C = 4, 16; native on 2-50-3 at C = 64, 1024).

Keras and the plain loop are slow, so by default they run a subset of the configurations
(``--keras-configs``, ``--torch-configs``) and the per-configuration time is reported; ratios
compare per-configuration times. Each peer runs with one torch thread and with torch's default
and keeps its faster time (lrlab chooses its own thread count). Run it on a quiet machine:
OpenMP threads that wait on a busy core make every torch number here several times slower.

    python benchmarks/population.py            # full (a few minutes)
    python benchmarks/population.py --quick    # fewer epochs, smaller C, seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch

from lrlab.lab.data import blobs
from lrlab.lab.engine import native_fits, native_status
from lrlab.lab.models import MLP
from lrlab.lab.optim import SGD
from lrlab.lab.population import auto_engine, train_population
from lrlab.schedules import constant

LRS = [10.0**-k for k in range(8)]
#: the engines' columns, in the order the tables print them
NAMES = ("native", "numpy", "torch")


#: the batch order of the 8-configuration study: :func:`torch_loop` seeds torch with 0 before
#: building each configuration's DataLoader, so every configuration draws the same batches in
#: the same order, which is lrlab's ``batch_order="shared"``
STUDY_BATCH_ORDER = "shared"


def lrlab_population(
    data: Any,
    lrs: list[float],
    epochs: int,
    device: str = "cpu",
    engine: str = "auto",
    sizes: tuple[int, ...] = (2, 50, 3),
    threads: int | None = None,
    batch_order: str = "per_seed",
    optimizer: Any = None,
) -> float:
    """Seconds to train one cohort of ``len(lrs)`` configurations (SGD without momentum unless
    ``optimizer`` says otherwise)."""
    model = MLP(sizes[0], tuple(sizes[1:-1]), sizes[-1])
    C = len(lrs)
    t = time.perf_counter()
    train_population(
        data,
        model,
        SGD(momentum=0.0) if optimizer is None else optimizer,
        [constant(lr) for lr in lrs],
        list(range(C)),
        epochs=epochs,
        batch_size=32,
        eval_train=True,
        device=device,
        engine=engine,
        threads=threads,
        batch_order=batch_order,
    )
    return time.perf_counter() - t


def torch_loop(
    data: Any, lr: float, epochs: int, sizes: tuple[int, int, int] = (2, 50, 3)
) -> float:
    """The idiomatic PyTorch loop with a full train/test evaluation each epoch."""
    torch.manual_seed(0)
    n_in, width, n_out = sizes
    net = torch.nn.Sequential(
        torch.nn.Linear(n_in, width), torch.nn.ReLU(), torch.nn.Linear(width, n_out)
    )
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    xt = torch.as_tensor(data.x_test, dtype=torch.float32)
    yt = torch.as_tensor(data.y_test)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True
    )
    t = time.perf_counter()
    for _ in range(epochs):
        net.train()
        for xb, yb in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xb), yb).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            for xs, ys in ((x, y), (xt, yt)):
                out = net(xs)
                torch.nn.functional.cross_entropy(out, ys)
                (out.argmax(1) == ys).float().mean()
    return time.perf_counter() - t


WIDE = (784, 128, 10)  # Fashion-MNIST's shape: 28x28 inputs, 10 classes


def wide_data(
    n_train: int = 6000, n_test: int = 1000, n_in: int = WIDE[0], n_out: int = WIDE[2]
) -> Any:
    """Random data of Fashion-MNIST's shape (a tenth of its rows): timing needs the shapes,
    not the pictures, and the real files are a download."""
    rng = np.random.default_rng(0)

    class Wide:
        x_train = rng.random((n_train, n_in), dtype=np.float32)
        y_train = rng.integers(0, n_out, n_train)
        x_test = rng.random((n_test, n_in), dtype=np.float32)
        y_test = rng.integers(0, n_out, n_test)

    return Wide


#: the networks of the engine-choice table, with the epochs and training rows each is timed on
CHOICE_NETWORKS = (
    ((2, 50, 3), 20, 500),
    # near the native engine's limits: 6,530 and 6,370 parameters, narrow and wide inputs
    ((34, 64, 64, 2), 3, 351),
    ((784, 8, 10), 1, 2000),
    ((64, 300, 100, 10), 1, 1024),
    ((784, 300, 100, 10), 1, 512),
)
CHOICE_SIZES = (1, 8, 64, 256)
#: seconds each engine runs at least per cell of the engine-choice table
CHOICE_SECONDS = 1.0


def engine_choice_table(repeats: int) -> dict[str, Any]:
    """``--engines``: each engine's seconds per configuration, the pick of ``engine="auto"``
    and how much slower the pick is than the better engine, per network and cohort size.

    Each time is the minimum of at least ``repeats`` runs and :data:`CHOICE_SECONDS` of runs
    (after one warm-up run each), the engines taking turns: other work on the machine only
    ever adds time, so the minimum is the closest to the engine's own cost.
    """
    print(
        f"\nengine choice: seconds per configuration (minimum of >= {repeats} runs and "
        f"{CHOICE_SECONDS:g} s per engine), SGD, batch 32, "
        "train+test evaluation every epoch"
    )
    print(
        f"  {'network':>16} {'rows':>5} {'ep':>3} {'C':>5} {'native':>9} {'numpy':>9} "
        f"{'torch':>9} {'auto':>6} {'auto vs best':>12}"
    )
    out: dict[str, Any] = {}
    for sizes, epochs, rows in CHOICE_NETWORKS:
        name = "-".join(map(str, sizes))
        data = blobs() if sizes == (2, 50, 3) else wide_data(rows, rows // 4, sizes[0], sizes[-1])
        model = MLP(sizes[0], tuple(sizes[1:-1]), sizes[-1])
        for C in CHOICE_SIZES:
            lrs = [LRS[i % 8] * 0.1 for i in range(C)]
            runs: dict[str, list[float]] = {"numpy": [], "torch": []}
            if native_status() == "available" and native_fits(model) is None:
                runs["native"] = []
            for engine in runs:
                lrlab_population(data, lrs, 1, "cpu", engine, sizes)  # warm up
            # the engines take turns, so a slower minute of the machine falls on both; short
            # cells run until each engine has had a second, since one 15 ms run says little
            while len(runs["torch"]) < repeats or sum(runs["torch"]) < CHOICE_SECONDS:
                for engine, times in runs.items():
                    times.append(lrlab_population(data, lrs, epochs, "cpu", engine, sizes))
            on = {engine: min(times) / C for engine, times in runs.items()}
            pick = auto_engine(model, C, 32)
            slower = on[pick] / min(on.values()) - 1
            cols = " ".join(f"{on[k]:9.4f}" if k in on else f"{'-':>9}" for k in NAMES)
            print(
                f"  {name:>16} {len(data.x_train):>5} {epochs:>3} {C:>5} {cols} "
                f"{pick:>6} {slower:+11.0%}"
            )
            out[f"{name} C={C}"] = {**on, "auto": pick, "auto_slower": slower}
    return out


def wide_table(epochs: int, sizes: list[int], device: str) -> dict[str, Any]:
    """``--wide``: ms per configuration on each engine for a 784-128-10 MLP, next to the loop."""
    data = wide_data()
    loop = min(_with_threads(n, torch_loop, data, 0.01, epochs, WIDE) for n in _thread_options())
    print(
        f"\nwide network: MLP 784-128-10 (Fashion-MNIST's shape), random data, 6000 train and "
        f"1000 test rows, SGD, batch 32, {epochs} epochs, train+test evaluation every epoch"
    )
    print(f"  PyTorch loop: {loop * 1e3:9.1f} ms per config")
    print(f"  {'C':>6} {'numpy':>9} {'torch':>9} {'auto':>6} {'loop/auto':>10}")
    out: dict[str, Any] = {"torch_loop": loop}
    for C in sizes:
        on = {}
        for engine in ("numpy", "torch") if device == "cpu" else ("torch",):
            lrlab_population(data, [0.01] * C, 1, device, engine, WIDE)  # warm up
            on[engine] = lrlab_population(data, [0.01] * C, epochs, device, engine, WIDE) / C
        pick = auto_engine(MLP(*WIDE[:1], (WIDE[1],), WIDE[2]), C, 32, device)
        cols = [f"{on[k] * 1e3:9.1f}" if k in on else f"{'-':>9}" for k in ("numpy", "torch")]
        print(f"  {C:>6} {cols[0]} {cols[1]} {pick:>6} {loop / on[pick]:9.1f}x")
        out[str(C)] = on
    return out


#: ``--under-load``: the digits-shaped network and cohorts of issue 15's table
LOAD_SIZES = (64, 300, 100, 10)
LOAD_COHORTS = (4, 16)
#: ... and the native engine's: the blobs network (the native engine takes up to 8192
#: parameters, not the 50,710 of LOAD_SIZES), at the cohorts of the scaling table's ends, with
#: this many times the epochs (its epoch is short)
NATIVE_LOAD_SIZES = (2, 50, 3)
NATIVE_LOAD_COHORTS = (64, 1024)
NATIVE_LOAD_EPOCHS = 20
LOAD_POLICIES = ((1, "1 thread"), (2, "2 threads"), (None, "adaptive"))
#: seconds ``--under-load`` waits before each timed run
SETTLE = 0.5


def spin(seconds: float) -> subprocess.Popen[bytes]:
    """One busy process: a pure-Python spin loop, pinned to nothing, that ends by itself after
    ``seconds`` (the caller kills it sooner)."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def _policy_times(
    data: Any,
    members: int,
    epochs: int,
    repeats: int,
    engines: tuple[str, ...] = ("numpy", "torch"),
    sizes: tuple[int, ...] = LOAD_SIZES,
) -> dict[str, dict[str, float]]:
    """Seconds per configuration for each engine and thread policy, the median of
    ``repeats`` runs taken in turn (policy by policy within each repeat), each after a pause
    of :data:`SETTLE` seconds: the BLAS and OpenMP workers of a run at two threads spin on for
    a while after it, and the next run would pay for them."""
    runs: dict[str, dict[str, list[float]]] = {}
    for _ in range(repeats):
        for engine in engines:
            for threads, name in LOAD_POLICIES:
                time.sleep(SETTLE)
                lrs = [0.01] * members
                t = lrlab_population(data, lrs, epochs, "cpu", engine, sizes, threads)
                runs.setdefault(engine, {}).setdefault(name, []).append(t / members)
    return {e: {k: float(np.median(v)) for k, v in on.items()} for e, on in runs.items()}


def under_load_table(epochs: int, repeats: int) -> dict[str, Any]:
    """``--under-load``: seconds per configuration quiet and with one busy process, per engine
    and thread policy (fixed 1, fixed 2, adaptive), side by side: the NumPy and torch engines
    on :data:`LOAD_SIZES`, the native engine (where this machine builds it) on
    :data:`NATIVE_LOAD_SIZES` with blobs' data.

    The busy process is started here and killed in a ``finally``; each time is the median of
    ``repeats`` runs, policies in turn. "Quiet" is the machine as it is without that process
    (the load average is printed with the table).
    """
    wide = wide_data(1347, 450, LOAD_SIZES[0], LOAD_SIZES[-1])
    cases = [(C, ("numpy", "torch"), wide, LOAD_SIZES, epochs) for C in LOAD_COHORTS]
    native = native_status() == "available"
    if native:
        native_epochs = NATIVE_LOAD_EPOCHS * epochs
        cases += [
            (C, ("native",), blobs(), NATIVE_LOAD_SIZES, native_epochs) for C in NATIVE_LOAD_COHORTS
        ]
    name = "-".join(map(str, LOAD_SIZES))
    print(
        f"\nunder load: MLP {name}, random data of digits' size (1347 train, 450 test rows), "
        f"SGD, batch 32, {epochs} epochs, test evaluation every epoch; ms per "
        f"configuration, median of {repeats}; load average before: {os.getloadavg()[0]:.2f}"
    )
    if native:
        print(
            f"  native engine: MLP {'-'.join(map(str, NATIVE_LOAD_SIZES))} on blobs (500 train, "
            f"500 test rows), {native_epochs} epochs"
        )
    else:
        print(f"  native engine: not timed ({native_status()})")
    for C, engines, data, sizes, _ in cases:  # warm up: first calls, kernels, agreement checks
        for engine in engines:
            lrlab_population(data, [0.01] * C, 1, "cpu", engine, sizes)
    out: dict[str, Any] = {}
    for C, engines, data, sizes, n in cases:
        out[f"C={C} quiet"] = _policy_times(data, C, n, repeats, engines, sizes)
    busy = spin(3600)
    try:
        time.sleep(0.5)
        for C, engines, data, sizes, n in cases:
            out[f"C={C} loaded"] = _policy_times(data, C, n, repeats, engines, sizes)
    finally:
        busy.kill()
        busy.wait()
    head = f"{'quiet':>8} {'loaded':>8} {'loaded/best1':>12}"
    print(f"  {'C':>4} {'engine':>6} {'threads':>9} {head}")
    for C, engines, *_ in cases:
        quiet, loaded = out[f"C={C} quiet"], out[f"C={C} loaded"]
        best1 = min(loaded[e]["1 thread"] for e in loaded)
        for engine in engines:
            for _, policy in LOAD_POLICIES:
                q, lo = quiet[engine][policy], loaded[engine][policy]
                ms = f"{1e3 * q:8.3f} {1e3 * lo:8.3f}"
                print(f"  {C:>4} {engine:>6} {policy:>9} {ms} {lo / best1:11.2f}x")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    return out


def keras_fit(data: Any, lr: float, epochs: int) -> tuple[float, str]:
    """One Keras ``fit`` of the configuration; run in a child process (:func:`keras_in_child`)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_test, data.y_test),
        epochs=epochs,
        batch_size=32,
        verbose=0,
    )
    return time.perf_counter() - t, keras.backend.backend()


def keras_in_child(lr: float, epochs: int, threads: int) -> tuple[float, str]:
    """:func:`keras_fit` in a fresh Python process with ``threads`` CPU threads.

    A separate process keeps the backend's thread pools (TensorFlow's stay alive and keep
    cores busy) out of the lrlab and PyTorch timings of this run.
    """
    cmd = [sys.executable, __file__, "--keras-child", repr(lr), str(epochs), str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    seconds, backend = json.loads(out.stdout.strip().splitlines()[-1])
    return float(seconds), str(backend)


def _keras_child(lr: str, epochs: str, threads: str) -> None:
    n = int(threads)
    torch.set_num_threads(n)
    if os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    print(json.dumps(keras_fit(blobs(), float(lr), int(epochs))))


def _thread_options() -> list[int]:
    return sorted({1, torch.get_num_threads()})


def _with_threads(n: int, fn: Any, *args: Any) -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before)


def peak_sgemm() -> float:
    """Measured single-precision matmul rate of this machine (FLOP/s)."""
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    n = 20
    t = time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 1024**3 * n / (time.perf_counter() - t)


def flops_per_config(epochs: int, n_train: int = 500, n_test: int = 500) -> float:
    """FLOPs of one configuration: training steps (forward + backward) and evaluation."""
    per_row_forward = 2 * (2 * 50 + 50 * 3)
    train = 3 * per_row_forward * n_train  # backward is about twice the forward
    evaluation = per_row_forward * (n_train + n_test)
    return epochs * (train + evaluation)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--keras-child":
        _keras_child(*sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20 epochs and C up to 256")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 200, quick 20)")
    p.add_argument(
        "--keras-configs", type=int, default=1, help="configs timed with Keras (0: skip)"
    )
    p.add_argument("--torch-configs", type=int, default=2, help="configs timed with the torch loop")
    p.add_argument(
        "--keras-backend",
        default=None,
        help="Keras backend (default: tensorflow when installed, else $KERAS_BACKEND or torch)",
    )
    p.add_argument("--device", default="cpu", help="device for lrlab (cpu, cuda)")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    p.add_argument(
        "--wide",
        action="store_true",
        help="also time a 784-128-10 MLP (Fashion-MNIST's shape) on each engine",
    )
    p.add_argument(
        "--engines",
        action="store_true",
        help="also time both engines over three widths and C = 1, 8, 64, 256 (engine choice)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per time in --engines (minimum)")
    p.add_argument(
        "--under-load",
        action="store_true",
        help="time 64-300-100-10 cohorts (2-50-3 ones on the native engine) quiet and with one "
        "busy process it starts, per engine and thread policy (1, 2, adaptive)",
    )
    p.add_argument(
        "--no-study", action="store_true", help="skip the 8-configuration study and its peers"
    )
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args()
    if args.keras_backend:
        os.environ["KERAS_BACKEND"] = args.keras_backend
    elif "KERAS_BACKEND" not in os.environ:
        tf = importlib.util.find_spec("tensorflow") is not None
        os.environ["KERAS_BACKEND"] = "tensorflow" if tf else "torch"
    epochs = args.epochs or (20 if args.quick else 200)
    sizes = [1, 8, 64, 256] if args.quick else [1, 8, 64, 256, 1024]
    if args.device.startswith("cuda"):
        sizes = [*sizes, 4096]
    data = blobs()
    results: dict[str, Any] = {
        "epochs": epochs,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
    }

    if not args.no_study:
        study_comparison(args, epochs, data, results)
    if not args.no_scaling:
        scaling_table(args, epochs, sizes, data, results)
    if args.wide:
        results["wide_seconds_per_config"] = wide_table(
            2 if args.quick else 5, [1, 8, 32] if args.quick else [1, 8, 32, 128], args.device
        )
    if args.engines:
        results["engine_choice"] = engine_choice_table(args.repeats)
    if args.under_load:
        results["under_load"] = under_load_table(args.epochs or 3, args.repeats)
    _write(args.json, results)


def study_comparison(
    args: argparse.Namespace, epochs: int, data: Any, results: dict[str, Any]
) -> None:
    """The 8-configuration study as one population against the PyTorch loop and Keras."""
    order = STUDY_BATCH_ORDER
    lrlab_population(data, LRS[:2], 1, args.device, batch_order=order)  # warm up
    # the best of 3 runs, as the peers keep the better of their two thread settings
    t_pop = min(
        lrlab_population(data, LRS, epochs, args.device, batch_order=order) for _ in range(3)
    )
    results["lrlab_8"] = t_pop
    # the same study with train_population's default, one batch order per seed (seeds 0 ... 7)
    t_seed = min(lrlab_population(data, LRS, epochs, args.device) for _ in range(3))
    results["lrlab_8_per_seed"] = t_seed
    # peers get their better thread setting (one thread is faster for a model this small, and
    # far faster when anything else runs on the machine); lrlab picks its own (auto)
    per_torch = [
        min(_with_threads(n, torch_loop, data, lr, epochs) for n in _thread_options())
        for lr in LRS[: args.torch_configs]
    ]
    results["torch_per_config"] = float(np.mean(per_torch))
    print(
        f"8-learning-rate study, {epochs} epochs, train+test evaluation every epoch; lrlab with "
        f"batch_order={order!r}, as the loop (torch.manual_seed(0) before each configuration's "
        "shuffling DataLoader: one order for all)"
    )
    print(
        f"  lrlab population (8 configs, best of 3): {t_pop:6.3f} s  ({t_pop / 8:.3f} s per config)"
    )
    tpc = results["torch_per_config"]
    print(
        f"  PyTorch loop, per config (n={len(per_torch)}):      {tpc:8.2f} s"
        f"  -> lrlab is {tpc * 8 / t_pop:6.1f}x faster for the study"
    )
    print(
        f"  lrlab with one batch order per seed (the default): {t_seed:6.3f} s "
        f"({t_seed / t_pop:.2f}x the shared order)"
    )
    if args.keras_configs:
        try:
            runs = [
                min(
                    (keras_in_child(lr, epochs, n) for n in _thread_options()),
                    key=lambda r: r[0],
                )
                for lr in LRS[: args.keras_configs]
            ]
            kpc = float(np.mean([r[0] for r in runs]))
            results["keras_per_config"] = kpc
            results["keras_backend"] = runs[0][1]
            print(
                f"  Keras 3 fit ({runs[0][1]}), per config (n={len(runs)}): {kpc:8.2f} s"
                f"  -> lrlab is {kpc * 8 / t_pop:6.1f}x faster for the study"
            )
        except subprocess.CalledProcessError as e:
            last = (e.stderr or "").strip().splitlines()[-1:] or ["no output"]
            print(f"  Keras 3: failed in its process, skipped ({last[0]})")


def scaling_table(
    args: argparse.Namespace, epochs: int, sizes: list[int], data: Any, results: dict[str, Any]
) -> None:
    """lrlab's seconds per configuration at each cohort size, on each engine."""
    peak = peak_sgemm()
    bound = flops_per_config(epochs) / peak
    results["peak_sgemm_gflops"] = peak / 1e9
    results["flop_bound_per_config"] = bound
    print(
        f"\nscaling (seconds per config; FLOP bound {bound * 1e3:.2f} ms per config at the "
        f"measured peak sgemm {peak / 1e9:.0f} GFLOP/s)"
    )
    print("  ms per config on each engine; auto: the engine train_population picks by default")
    print(
        "  batch_order='per_seed' (train_population's default; seeds 0 ... C-1, so one order "
        "per member: a gather of each member's rows per step)"
    )
    print(
        f"  {'C':>6} {'native':>9} {'numpy':>9} {'torch':>9} {'auto':>6} {'auto s':>8} "
        f"{'x bound':>8}"
    )
    scaling, engines = {}, {}
    native = args.device == "cpu" and native_status() == "available"
    for C in sizes:
        lrs = [LRS[i % 8] for i in range(C)]
        kinds = ["torch"] + (["numpy"] if args.device == "cpu" and C <= 256 else [])
        kinds += ["native"] if native else []
        # the engines take turns, each keeping its best of two runs
        on: dict[str, float] = {}
        for _ in range(2):
            for kind in kinds:
                t = lrlab_population(data, lrs, epochs, args.device, kind)
                on[kind] = min(on.get(kind, t), t)
        pick = auto_engine(MLP(2, (50,), 3), C, 32, args.device)
        t = on[pick]
        scaling[C], engines[C] = t, {k: v / C for k, v in on.items()}
        cols = [f"{on[k] / C * 1e3:9.2f}" if k in on else f"{'-':>9}" for k in NAMES]
        print(f"  {C:>6} {' '.join(cols)} {pick:>6} {t:8.2f} {t / C / bound:8.1f}")
    results["engines_seconds_per_config"] = engines
    results["scaling_total_seconds"] = scaling


def _write(path: str | None, results: dict[str, Any]) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
