"""The native engine: its C kernel against the NumPy engine in float64, its elementwise
functions against NumPy's, members independent of the cohort and the threads, and the ways it
is not available (no compiler, turned off, a cache it cannot write)."""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrlab.lab.engine import (
    NATIVE_MAX_PARAMS,
    NativeEngine,
    NumpyEngine,
    _native,
    _native_lib,
    _order,
    auto_engine,
    make_engine,
    native_fits,
    native_status,
    run_cohort,
)
from lrlab.lab.engine._native import NativeKnob
from lrlab.lab.engine._order import cohort_orders, numpy_orders
from lrlab.lab.engine._threads import counts_agree
from lrlab.lab.models import MLP, TorchModule
from lrlab.lab.optim import SGD, Adam, AdamW
from lrlab.lab.optim._kernel import RULES
from lrlab.lab.population import train_population
from lrlab.schedules import constant

needs_native = pytest.mark.skipif(
    native_status() != "available", reason=f"native kernel: {native_status()}"
)


@pytest.fixture
def fresh_library(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A test that changes how the library loads: forgotten before and after."""
    _native_lib.reset()
    yield monkeypatch
    monkeypatch.undo()
    _native_lib.reset()


def _math(fn: int, x: np.ndarray) -> np.ndarray:
    lib = _native_lib.library()
    assert lib is not None
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    lib.lrlab_math(fn, x.ctypes.data, out.ctypes.data, x.size)
    return out


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    """The largest error of float32 ``got`` in units of the float32 spacing at ``want``."""
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want) / spacing))


@needs_native
def test_the_kernels_exp_log_tanh_sigmoid_are_within_a_few_ulps_of_the_exact_values():
    rng = np.random.default_rng(0)
    x = rng.uniform(-103.0, 88.7, 100_000).astype(np.float32)
    assert _ulps(_math(0, x), np.exp(x.astype(np.float64))) <= 1.5
    pos = np.exp(x / 4).astype(np.float32)
    assert _ulps(_math(1, pos), np.log(pos.astype(np.float64))) <= 1.5
    t = rng.uniform(-12.0, 12.0, 100_000).astype(np.float32)
    assert _ulps(_math(2, t), np.tanh(t.astype(np.float64))) <= 2.5
    assert _ulps(_math(3, t), 1 / (1 + np.exp(-t.astype(np.float64)))) <= 2.5
    u = rng.uniform(0.0, 1.0, 100_000).astype(np.float32)
    assert _ulps(_math(4, u), np.log1p(u.astype(np.float64))) <= 3.0


@needs_native
def test_the_kernels_functions_keep_nan_and_give_inf_and_zero_where_float32_does():
    special = np.array([np.nan, np.inf, -np.inf, 88.8, -104.0, 0.0], dtype=np.float32)
    with np.errstate(over="ignore"):
        want = np.exp(special)
    np.testing.assert_array_equal(_math(0, special), want)
    # the largest float below exp's overflow and a subnormal result, as NumPy rounds them
    edge = np.array([88.7228, -100.0], dtype=np.float32)
    np.testing.assert_allclose(_math(0, edge), np.exp(edge), rtol=3e-7)
    logs = np.array([np.nan, np.inf, 1.0, 3.0], dtype=np.float32)
    np.testing.assert_allclose(_math(1, logs), np.log(logs), rtol=2e-7)
    assert np.isnan(_math(2, np.array([np.nan], np.float32))[0])
    np.testing.assert_array_equal(_math(2, np.array([30.0, -30.0], np.float32)), [1.0, -1.0])
    np.testing.assert_array_equal(_math(3, np.array([-200.0, 200.0], np.float32)), [0.0, 1.0])


def _data(n: int = 60, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)


def _targets(output: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if output == "sigmoid":
        return (y > 0).astype(int)
    if output == "linear":
        return np.stack([x[:, 0] * 2, x[:, 1] - x[:, 2]], axis=1)
    return y


OUTPUTS = {"softmax": 3, "sigmoid": 1, "linear": 2}


@needs_native
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("apart", [False, True])
def test_a_step_and_an_evaluation_match_the_numpy_engine_in_float64(
    activation: str, output: str, apart: bool
):
    """The gradient of each step of an epoch (learning rate 0 keeps the weights), its losses,
    the epoch's totals and each split's evaluation, for 19 members (full groups and a part at
    any vector width), against the NumPy engine in float64 on the same float32 weights."""
    x, y = _data(61)
    t = _targets(output, x, y)
    model = MLP(3, (7, 5), OUTPUTS[output], activation=activation, output=output)
    C = 19
    # batches of 7 rows and a last one of 5: not multiples of the 4 samples the kernel takes
    # at once
    native = make_engine(
        "native", model, C, (x, t), (x[:25], t[:25]), batch_size=7, dtype="float32"
    )
    ref = make_engine("numpy", model, C, (x, t), (x[:25], t[:25]), batch_size=7, dtype="float64")
    assert isinstance(native, NativeEngine) and isinstance(ref, NumpyEngine)
    native.init(range(C), SGD())
    ref.init(range(C), SGD())
    everyone = np.ones(C, dtype=bool)
    ref.load_params(everyone, native.params())
    rng = np.random.default_rng(1)
    order = np.stack([rng.permutation(61) for _ in range(C)]) if apart else rng.permutation(61)
    for engine in (native, ref):
        engine.start_epoch(order)
    for b in range(native.steps_per_epoch):
        for engine in (native, ref):
            engine.step(b, np.zeros(C))
        scale = np.abs(ref.grad).max()
        np.testing.assert_allclose(native.grad, ref.grad, rtol=2e-5, atol=2e-6 * scale)
        np.testing.assert_allclose(native.batch_loss(), ref.batch_loss(), rtol=2e-6)
    (nl, nc), (rl, rc) = native.epoch_totals(), ref.epoch_totals()
    np.testing.assert_allclose(nl, rl, rtol=2e-6)
    if output != "linear":  # (no accuracy for the squared error)
        np.testing.assert_array_equal(nc, rc)
    for split in ("train", "test"):
        (nl, na), (rl, ra) = native.evaluate(split), ref.evaluate(split)
        np.testing.assert_allclose(nl, rl, rtol=2e-6)
        if output != "linear":
            np.testing.assert_array_equal(na, ra)


ALONE_OR_NOT = {
    "sgd": SGD(),  # inside the kernel
    "momentum": SGD(momentum=0.9),  # inside the kernel
    "adam": Adam(),  # inside the kernel
    "dampening": SGD(momentum=0.9, dampening=0.1),  # NumPy's update, on the kernel's threads
}


@needs_native
@pytest.mark.parametrize("name", list(ALONE_OR_NOT))
def test_a_member_is_bit_for_bit_the_same_alone_anywhere_in_a_cohort_and_on_any_thread_count(
    name: str,
):
    """Each lane runs one member's formula in a fixed order: member 6 (with its own batch
    order) trained alone, as member 1 of 3 or member 20 of 37, on one thread or two; with the
    update inside the kernel (plain SGD, momentum, Adam) and outside it (momentum with
    dampening: NumPy's update of each thread's members)."""
    x, y = _data(90)
    model = MLP(3, (9,), 3)
    rates = np.full((37, 6 * 6), 0.05)
    runs = []
    cohort = [*range(30, 50), 6, *range(50, 66)]  # member 6 at place 20 of 37
    for members, threads in (([6], 1), ([5, 6, 7], 1), (cohort, 2), (cohort, 1)):
        engine = make_engine(
            "native", model, len(members), (x, y), (x, y), batch_size=16, dtype="float32"
        )
        engine.init(members, ALONE_OR_NOT[name])
        assert (engine._update.kernel is None) == (name == "dampening")
        result = run_cohort(
            engine,
            rates[: len(members)],
            epochs=6,
            data_seed=[m + 100 for m in members],
            keep_params=True,
            threads=threads,
        )
        i = members.index(6)
        runs.append((result.params[i], {k: v[i] for k, v in result.history.items()}))
    alone, *others = runs
    for params, history in others:
        np.testing.assert_array_equal(params, alone[0])
        for k, v in history.items():
            np.testing.assert_array_equal(v, alone[1][k])


@needs_native
@pytest.mark.parametrize("members", [3, 5])
def test_a_small_cohort_runs_on_fewer_lanes_with_the_same_bits(
    members: int, monkeypatch: pytest.MonkeyPatch
):
    """A cohort of at most 8 members takes a build of 8 lanes where the CPU's vectors hold
    more, with the numbers of the CPU's own width."""
    wide, narrow = _native_lib.library().lrlab_lanes(), 8
    if wide <= narrow:
        pytest.skip(f"the CPU's vectors hold {wide} lanes")
    x, y = _data(90)
    runs = []
    for lanes in (narrow, wide):
        monkeypatch.setattr(_native, "NARROW_LANES", narrow if lanes == narrow else 0)
        engine = make_engine(
            "native", MLP(3, (9,), 3), members, (x, y), (x, y), batch_size=16, dtype="float32"
        )
        assert isinstance(engine, NativeEngine)
        assert engine._lanes == lanes
        engine.init(range(members), SGD(momentum=0.5))
        rates = np.full((members, 3 * 6), 0.05)
        result = run_cohort(engine, rates, epochs=3, keep_params=True)
        runs.append((result.params, result.history))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for k, v in runs[0][1].items():
        np.testing.assert_array_equal(v, runs[1][1][k])


@needs_native
def test_each_thread_updates_its_own_members_as_one_update_would():
    """The optimizer's update runs on each thread for the members whose gradient it computed:
    per-member hyperparameters (Adam's beta1, weight decay) are cut with them, and the step
    is counted once."""
    x, y = _data(90)
    model, C = MLP(3, (9,), 3), 37
    opt = Adam(
        betas=([0.9 - 0.01 * c for c in range(C)], 0.99), weight_decay=[0.001 * c for c in range(C)]
    )
    runs = []
    for threads in (1, 2):
        engine = make_engine("native", model, C, (x, y), None, batch_size=16, dtype="float32")
        engine.init(range(C), opt)
        result = run_cohort(
            engine,
            np.full((C, 3 * 6), 0.01),
            epochs=3,
            keep_params=True,
            threads=threads,
            has_test=False,
        )
        assert int(engine.state["step"]) == 3 * 6
        runs.append((result.params, engine.state["exp_avg"].copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


KERNEL_UPDATES = {
    "sgd": SGD(),
    "momentum": SGD(momentum=0.9),
    "momentum per member": SGD(momentum=[0.0, 0.5, 0.99, 0.9] * 9 + [0.3]),
    "keras_momentum": SGD(momentum=0.9, form="keras"),
    "momentum (Nesterov, weight decay)": SGD(momentum=0.9, nesterov=True, weight_decay=1e-2),
    "keras_momentum (Nesterov, weight decay)": SGD(
        momentum=0.9, nesterov=True, weight_decay=[0.0, 0.1] * 18 + [0.05], form="keras"
    ),
    "sgd (weight decay)": SGD(weight_decay=[0.0, 0.01, 0.1] * 12 + [0.05]),
    "adam": Adam(),
    "adam per member": Adam(betas=([0.3, 0.9, 0.5] * 12 + [0.8], [0.999, 0.99] * 18 + [0.9])),
    "adam (AdamW)": AdamW(weight_decay=[0.0, 0.01, 0.1] * 12 + [0.05]),
    "keras_adam": AdamW(betas=(0.9, 0.99), eps=1e-7, form="keras"),
}


@needs_native
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", list(KERNEL_UPDATES))
def test_an_update_in_the_kernel_is_numpys_bit_for_bit(name: str, threads: int):
    """SGD without dampening (momentum, Nesterov momentum, either weight decay) and Adam
    without AMSGrad or coupled weight decay run inside the kernel: the same bits as the
    optimizer's NumPy update
    (weights and buffers), each member at its own rate and hyperparameters, a rate of 0, and
    products below float32's normal range kept (the kernel flushes subnormals in its own
    arithmetic, not in the update)."""
    x, y = _data(90)
    model, C, opt = MLP(3, (9,), 3), 37, KERNEL_UPDATES[name]
    rates = np.full((C, 3 * 6), 0.05) * np.linspace(0.1, 2.0, C)[:, None]
    rates[0], rates[1] = 1e-40, 0.0  # member 0: a subnormal rate, subnormal products
    runs = []
    for in_kernel in (True, False):
        engine = make_engine("native", model, C, (x, y), None, batch_size=16, dtype="float32")
        engine.init(range(C), opt)
        assert isinstance(engine, NativeEngine)
        kernel = engine._update.kernel
        assert kernel is not None and kernel.rule == name.split(" ")[0]
        if in_kernel:  # NumPy's update is never called

            def numpy_update(*args: object) -> None:
                raise AssertionError("the kernel's update went through NumPy's")

            engine._update._up = numpy_update
        else:
            engine._update.kernel = None
        start = engine.params()
        result = run_cohort(
            engine, rates, epochs=3, keep_params=True, threads=threads, has_test=False
        )
        assert int(engine.state["step"]) == 3 * 6
        runs.append((result.params, {n: b for n, b in engine.state.items() if n != "step"}))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1].keys() == runs[1][1].keys() == {b for b in BUFFERS[kernel.rule]}
    for n, b in runs[0][1].items():
        np.testing.assert_array_equal(b, runs[1][1][n])
        assert (b[2:] != 0).any()
    np.testing.assert_array_equal(runs[0][0][1], start[1])  # rate 0: no step, no decay
    if kernel.rule in ("sgd", "momentum", "keras_momentum"):
        moved = runs[0][0][0][start[0] == 0]  # biases: zero at first, then minus the products
        assert (moved != 0).any() and (np.abs(moved) < np.finfo(np.float32).tiny).all()


BUFFERS = {
    "sgd": (),
    "momentum": ("momentum_buffer",),
    "keras_momentum": ("momentum_buffer",),
    "adam": ("exp_avg", "exp_avg_sq"),
    "keras_adam": ("exp_avg", "exp_avg_sq"),
}


@needs_native
def test_a_call_that_finds_the_workers_busy_runs_its_shares_in_turn():
    """Another call holds the worker threads (a second cohort trained on another thread at the
    same moment): this one computes every share itself, with the same numbers."""
    from lrlab.lab.engine import _native

    x, y = _data(90)
    runs = []
    for busy in (False, True):
        engine = make_engine(
            "native", MLP(3, (9,), 3), 37, (x, y), None, batch_size=16, dtype="float32"
        )
        engine.init(range(37), SGD(momentum=0.9))
        if busy:
            assert _native._WORKERS_LOCK.acquire(blocking=False)
        try:
            result = run_cohort(
                engine,
                np.full((37, 3 * 6), 0.05),
                epochs=3,
                keep_params=True,
                has_test=False,
                threads=2,
            )
        finally:
            if busy:
                _native._WORKERS_LOCK.release()
        runs.append(result.params)
    np.testing.assert_array_equal(runs[0], runs[1])


@needs_native
def test_thread_counts_agree_so_the_adaptive_choice_may_use_two():
    x, y = _data()
    engine = make_engine(
        "native", MLP(3, (8,), 3), 40, (x, y), (x, y), batch_size=16, dtype="float32"
    )
    engine.init(range(40), Adam())
    assert counts_agree(NativeKnob(engine), (1, 2), engine.probe)
    assert engine.threads == 2


@needs_native
@pytest.mark.parametrize("batch_order", ["shared", "per_seed"])
def test_training_agrees_with_the_numpy_engine(batch_order: str):
    """Ten epochs of SGD with momentum: the histories agree to float32 rounding as it grows."""
    x, y = _data(120)
    kw = dict(epochs=10, batch_size=16, eval_train=True, batch_order=batch_order, keep_params=True)
    args = (_Data(x, y), MLP(3, (10,), 3), SGD(momentum=0.9), [constant(0.05)] * 5, range(5))
    runs = {
        e: train_population(*args, engine=e, dtype="float32", **kw) for e in ("native", "numpy")
    }
    for k in ("loss", "val_loss", "train_eval_loss"):
        np.testing.assert_allclose(runs["native"].history[k], runs["numpy"].history[k], 2e-4)
    np.testing.assert_allclose(runs["native"].params, runs["numpy"].params, 2e-3, 2e-4)


class _Data:
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x_train, self.y_train, self.x_test, self.y_test = x, y, x[:40], y[:40]


@needs_native
@pytest.mark.parametrize("threads", [1, 2])
def test_a_diverging_member_is_caught_and_frozen(threads: int):
    """Quietly, also where its update runs on a worker thread (member 0 of 40 is on the
    worker's thread at two threads): the loop's floating-point error handling reaches it."""
    x, y = _data()
    x = x * 1000  # gradients of the first layer's weights far above 1: lr * gradient overflows
    C = 40
    engine = make_engine("native", MLP(3, (6,), 3), C, (x, y), None, batch_size=16, dtype="float32")
    engine.init(range(C), SGD())
    rates = np.full((C, 20), 1e-5)
    rates[0] = 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = run_cohort(engine, rates, epochs=5, has_test=False, keep_params=True, threads=threads)
    assert r.diverged.tolist() == [True] + [False] * (C - 1)
    assert np.all(r.params[0] == 0) and np.isfinite(r.params[1:]).all()
    assert np.isfinite(r.history["loss"][1:]).all()


def test_what_the_native_engine_takes_and_the_errors_that_name_the_rest():
    assert native_fits(MLP(2, (50,), 3)) is None
    assert "float64" in str(native_fits(MLP(2, (50,), 3), "float64"))
    wide = MLP(784, (300,), 10)
    assert str(NATIVE_MAX_PARAMS) in str(native_fits(wide))
    assert "TorchModule" in str(native_fits(TorchModule(lambda: None, n_outputs=3)))  # type: ignore[arg-type]
    data = _Data(*_data())
    args = (data, MLP(3, (4,), 3), SGD(), [constant(0.1)], [0])
    with pytest.raises(ValueError, match="engine='native' computes in float32, got dtype float64"):
        train_population(*args, epochs=1, batch_size=16, engine="native", dtype="float64")
    with pytest.raises(ValueError, match="engine='native' trains an MLP on the CPU only"):
        train_population(*args, epochs=1, batch_size=16, engine="native", device="cuda")


def test_turned_off_it_says_so_and_auto_uses_the_other_engines(
    fresh_library: pytest.MonkeyPatch,
):
    fresh_library.setenv("LRLAB_NO_NATIVE", "1")
    assert native_status() == "turned off by LRLAB_NO_NATIVE"
    net = MLP(3, (4,), 3)
    assert auto_engine(net, 8, 32) == "numpy"
    data = _Data(*_data())
    with pytest.raises(RuntimeError, match="not available here: turned off by LRLAB_NO_NATIVE"):
        train_population(
            data, net, SGD(), [constant(0.1)], [0], epochs=1, batch_size=16, engine="native"
        )
    r = train_population(data, net, SGD(), [constant(0.1)], [0], epochs=1, batch_size=16)
    assert np.isfinite(r.history["loss"]).all()


def test_without_a_compiler_it_says_what_to_install(fresh_library: pytest.MonkeyPatch):
    fresh_library.setattr(_native_lib, "compiler", lambda: None)
    assert "no C compiler found" in native_status()
    assert _native_lib.library() is None


def test_a_compiler_that_fails_is_named(fresh_library: pytest.MonkeyPatch, tmp_path: Path):
    false = Path("/bin/false") if Path("/bin/false").exists() else Path("/usr/bin/false")
    fresh_library.setenv("CC", str(false))
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path))
    assert native_status().startswith(f"{false} failed")


@needs_native
def test_the_compiled_kernel_is_cached_and_loaded_again_without_compiling(
    fresh_library: pytest.MonkeyPatch, tmp_path: Path
):
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path))
    assert isinstance(_native_lib.library(), ctypes.CDLL)
    built = list((tmp_path / "native").glob("lrlab_native_*"))
    assert len(built) == 1 and not list((tmp_path / "native").glob("*.part"))
    _native_lib.reset()

    def no_compiling(*args: object) -> str:
        raise AssertionError("compiled again")

    fresh_library.setattr(_native_lib, "_build", no_compiling)
    assert native_status() == "available"


@needs_native
def test_a_cache_it_cannot_write_makes_it_build_in_a_directory_of_its_own(
    fresh_library: pytest.MonkeyPatch, tmp_path: Path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    fresh_library.setenv("LRLAB_CACHE_DIR", str(blocker))
    assert native_status() == "available"


@needs_native
def test_a_kernel_whose_exp_is_wrong_is_refused(fresh_library: pytest.MonkeyPatch):
    class Wrong:
        def lrlab_math(self, fn: int, x: int, out: int, n: int) -> None:
            ctypes.memset(out, 0, 4 * n)

    assert "exp disagrees" in str(_native_lib._self_check(Wrong()))  # type: ignore[arg-type]


@pytest.mark.parametrize(("cpus", "threads", "parts"), [(1, None, 1), (3, None, 3), (3, 1, 1)])
@pytest.mark.parametrize("n", [1, 2, 5, 500, 2100])
def test_a_cohorts_orders_are_torch_randperm_of_each_members_seed(
    n: int, cpus: int, threads: int | None, parts: int, monkeypatch: pytest.MonkeyPatch
):
    """Drawn in the native kernel where it is available, generator by generator otherwise:
    both are :func:`epoch_orders` of each seed, epoch after epoch. 21 members: side by side
    in eights and the rest; 2100 rows: swaps drawn in three chunks; shared among the usable
    CPUs, or ``threads``."""
    monkeypatch.setattr(_order, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(_native, "usable_cpus", lambda: cpus)
    shares: list[int] = []

    def spy(calls: list) -> None:
        shares.append(len(calls))
        parallel(calls)

    parallel = _native.in_parallel
    monkeypatch.setattr(_native, "in_parallel", spy)
    seeds = [0, 1, 7, -3, 2**32 - 1, 2**32, 2**40 + 5, -(2**63), 2**63 - 1, *range(100, 112)]
    together = cohort_orders(n, seeds, threads=threads)
    each = [numpy_orders(n, s) for s in seeds]
    for _ in range(3):
        np.testing.assert_array_equal(next(together), np.stack([next(o) for o in each]))
    assert shares == ([parts] * 3 if native_status() == "available" else [])
    unshuffled = next(cohort_orders(n, seeds, shuffle=False))
    np.testing.assert_array_equal(unshuffled, np.tile(np.arange(n), (len(seeds), 1)))


SKEWS = {  # which array of which rule is skewed: (rule, argument 0 theta, 3 buf0, 4 buf1)
    "sgd": ("sgd", 0),
    "momentum": ("momentum", 3),
    "keras_momentum": ("keras_momentum", 3),
    "adam": ("adam", 0),
    "adam exp_avg": ("adam", 3),
    "keras_adam exp_avg_sq": ("keras_adam", 4),
}


@needs_native
@pytest.mark.parametrize("broken", [*SKEWS, "orders"])
def test_a_kernel_whose_update_or_orders_are_wrong_is_refused(broken: str):
    """The load-time check covers each update rule in the kernel (the weights and each
    buffer) and the batch orders too."""
    lib = _native_lib.library()

    class Skewed:
        def __getattr__(self, name: str) -> object:
            return getattr(lib, name)

        def lrlab_run(self, *args: Any) -> int:
            status = lib.lrlab_run(*args)
            # one value of the weights or of a buffer off by one ulp
            rule, at = SKEWS.get(broken, (None, 0))
            if args[2] is not None and rule in RULES and args[5] & 15 == RULES.index(rule):
                first = ctypes.c_float.from_address(args[at])
                first.value = float(np.nextafter(np.float32(first.value), np.float32(np.inf)))
            return status

        def lrlab_orders(self, state: int, pos: int, out: int, *rest: int) -> None:
            lib.lrlab_orders(state, pos, out, *rest)
            if broken == "orders":  # the first two rows of the first member swapped
                a, b = ctypes.c_int64.from_address(out), ctypes.c_int64.from_address(out + 8)
                a.value, b.value = b.value, a.value

    problem = _native_lib._self_check(Skewed())  # type: ignore[arg-type]
    if broken == "orders":
        assert problem == "the compiled kernel's batch orders disagree with NumPy's; not used"
    else:
        rule = SKEWS[broken][0]
        assert problem == f"the compiled kernel's {rule} update disagrees with NumPy's; not used"


def test_without_the_kernel_a_cohorts_orders_are_the_same(fresh_library: pytest.MonkeyPatch):
    seeds = [3, 4, 2**33 + 3]
    with_kernel = next(cohort_orders(50, seeds))
    fresh_library.setenv("LRLAB_NO_NATIVE", "1")
    _native_lib.reset()
    np.testing.assert_array_equal(with_kernel, next(cohort_orders(50, seeds)))


def test_a_missing_kernel_source_is_named(fresh_library: pytest.MonkeyPatch):
    fresh_library.setattr(_native_lib, "SOURCE", "no-such-file.c")
    assert native_status() == (
        "the kernel's source no-such-file.c is missing from this installation of lrlab"
    )


def _has_avx2_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


@needs_native
@pytest.mark.skipif(not _has_avx2_fma(), reason="needs an x86 CPU with AVX2 and FMA")
def test_the_numbers_do_not_depend_on_the_vector_width(
    fresh_library: pytest.MonkeyPatch, tmp_path: Path
):
    """The kernel built for AVX2 (8 members per vector) and for this CPU (16 with AVX-512):
    the same training, bit for bit (both fuse multiply-adds)."""
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path))
    x, y = _data(70)
    runs = {}
    for arch in ("x86-64-v3", ""):
        fresh_library.setenv("LRLAB_NATIVE_ARCH", arch)
        _native_lib.reset()
        assert native_status() == "available"
        engine = make_engine(
            "native",
            MLP(3, (12,), 3, activation="tanh"),
            21,
            (x, y),
            (x, y),
            batch_size=16,
            dtype="float32",
        )
        engine.init(range(21), SGD(momentum=0.9))
        lanes = int(_native_lib.library().lrlab_lanes())  # type: ignore[union-attr]
        result = run_cohort(
            engine, np.full((21, 5 * 5), 0.1), epochs=5, keep_params=True, data_seed=list(range(21))
        )
        runs[arch or "native"] = (lanes, result)
    assert runs["x86-64-v3"][0] == 8
    np.testing.assert_array_equal(runs["x86-64-v3"][1].params, runs["native"][1].params)
    for k, v in runs["native"][1].history.items():
        np.testing.assert_array_equal(runs["x86-64-v3"][1].history[k], v)


@needs_native
def test_inputs_of_the_wrong_width_and_bad_orders_are_errors_not_reads_outside_the_data():
    x, y = _data()
    with pytest.raises(ValueError, match=r"train split's inputs are \(60, 3\).* takes 40"):
        make_engine("native", MLP(40, (4,), 3), 2, (x, y), None, batch_size=8, dtype="float32")
    with pytest.raises(ValueError, match=r"test split's inputs are \(60, 2\)"):
        make_engine(
            "native", MLP(3, (4,), 3), 2, (x, y), (x[:, :2], y), batch_size=8, dtype="float32"
        )
    engine = make_engine("native", MLP(3, (4,), 3), 2, (x, y), None, batch_size=8, dtype="float32")
    engine.init([0, 1], SGD())
    for bad in (np.arange(59), np.arange(1, 61), np.full((3, 60), 0), np.array([-1] * 60)):
        with pytest.raises(ValueError, match="order must be"):
            engine.start_epoch(bad)


@needs_native
def test_a_loss_sum_past_float32s_range_is_inf_as_on_the_numpy_engine():
    """The kernel adds losses in float64; a sum a float32 engine could not hold is reported as
    inf all the same, so the loop marks the member diverged at the same epoch."""
    x, y = _data(50)
    model = MLP(3, (4,), 3, activation="linear")
    losses = {}
    for rows in (50, 2):  # per-sample losses near 1e37: 50 of them overflow float32, 2 do not
        for kind in ("native", "numpy"):
            engine = make_engine(
                kind, model, 2, (x, y), (x[:rows], y[:rows]), batch_size=10, dtype="float32"
            )
            engine.init([0, 1], SGD())
            weights = engine.params()
            weights[0, -15:-3] = np.repeat([4e36, -4e36, 0.0], 4)  # W2's rows: logits ~1e37
            engine.load_params(np.ones(2, dtype=bool), weights)
            with np.errstate(over="ignore"):  # (NumPy's float32 sum overflows: the point)
                losses[kind, rows] = engine.evaluate("test")[0]
    assert not np.isfinite(losses["numpy", 50][0]) and not np.isfinite(losses["native", 50][0])
    assert np.isfinite(losses["numpy", 2][0]) and losses["numpy", 2][0] > 1e36
    np.testing.assert_allclose(losses["native", 2], losses["numpy", 2], rtol=1e-5)
    np.testing.assert_allclose(losses["native", 50][1], losses["numpy", 50][1], rtol=1e-5)


def _train_twice_on_two_threads() -> None:
    x, y = _data()
    for _ in range(2):
        engine = make_engine(
            "native", MLP(3, (8,), 3), 40, (x, y), None, batch_size=8, dtype="float32"
        )
        engine.init(range(40), SGD())
        run_cohort(engine, np.full((40, 8), 0.1), epochs=1, has_test=False, threads=2)


@needs_native
# (forking a process with threads is the point; Python and JAX warn of it in general)
@pytest.mark.filterwarnings("ignore:.*fork.*:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_trains_on_threads_of_its_own():
    """The worker threads do not survive a fork: the child starts its own, not waits forever."""
    import multiprocessing

    _train_twice_on_two_threads()  # the parent's workers exist now
    child = multiprocessing.get_context("fork").Process(target=_train_twice_on_two_threads)
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung on the parent's worker threads")
    assert child.exitcode == 0


@needs_native
def test_a_damaged_cached_kernel_is_built_again(fresh_library: pytest.MonkeyPatch, tmp_path: Path):
    """A file cut short (a copy that died half-way) in another cache, never loaded here."""
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path / "first"))
    assert native_status() == "available"
    (built,) = (tmp_path / "first" / "native").glob("lrlab_native_*")
    damaged = tmp_path / "second" / "native" / built.name
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(built.read_bytes()[:100])
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path / "second"))
    _native_lib.reset()
    assert native_status() == "available"
    assert damaged.stat().st_size == built.stat().st_size


@needs_native
@pytest.mark.skipif(not _has_avx2_fma(), reason="needs an x86 CPU")
def test_the_four_lane_build_trains_as_the_numpy_engine(
    fresh_library: pytest.MonkeyPatch, tmp_path: Path
):
    """The baseline x86-64 build (SSE2: 4 lanes, no fused multiply-add) against NumPy."""
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path))
    fresh_library.setenv("LRLAB_NATIVE_ARCH", "x86-64")
    _native_lib.reset()
    assert native_status() == "available"
    assert int(_native_lib.library().lrlab_lanes()) == 4  # type: ignore[union-attr]
    test_training_agrees_with_the_numpy_engine("per_seed")


@needs_native
def test_cc_may_be_a_command_of_several_words(fresh_library: pytest.MonkeyPatch, tmp_path: Path):
    """``CC="ccache gcc"``, ``CC="zig cc"``: the words are the command."""
    fresh_library.setenv("CC", "env cc")
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path))
    assert _native_lib.compiler() == ["env", "cc"]
    assert native_status() == "available"


def test_a_cc_that_is_not_a_command_is_passed_over(fresh_library: pytest.MonkeyPatch):
    fresh_library.setenv("CC", "gcc -DX='a")  # an unbalanced quote
    cc = _native_lib.compiler()
    assert cc is None or cc[0] != "gcc" or len(cc) == 1
    assert isinstance(native_status(), str)


@pytest.mark.parametrize(
    ("cc", "zig"),
    [
        (["zig", "cc"], True),
        (["ccache", "/opt/zig-0.14/zig", "cc"], True),
        (["/usr/bin/python3", "-m", "ziglang", "cc"], True),
        (["gcc"], False),
        (["ccache", "clang"], False),
    ],
)
def test_zig_is_recognised_behind_a_wrapper_and_given_its_spelling_of_the_arch(
    cc: list[str], zig: bool, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LRLAB_NATIVE_ARCH", "x86-64-v3")
    assert _native_lib.arch_flags(cc) == [f"-march={'x86_64_v3' if zig else 'x86-64-v3'}"]


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="needs lrlab[native]")
def test_without_a_compiler_on_the_path_zig_from_pypi_builds_the_kernel(
    fresh_library: pytest.MonkeyPatch, tmp_path: Path
):
    """``pip install "lrlab[native]"`` brings Zig's clang: on a machine with no C compiler it
    builds a kernel that passes the load-time check and trains as the NumPy engine, also for
    an instruction set named as GCC names it (Zig spells ``x86-64-v3`` ``x86_64_v3``)."""
    fresh_library.delenv("CC", raising=False)
    fresh_library.setattr(_native_lib.shutil, "which", lambda name: None)
    fresh_library.setattr(_native_lib.sysconfig, "get_config_var", lambda name: None)
    fresh_library.setenv("LRLAB_CACHE_DIR", str(tmp_path))
    assert _native_lib.compiler() == [sys.executable, "-m", "ziglang", "cc"]
    assert native_status() == "available"
    test_training_agrees_with_the_numpy_engine("per_seed")
    if _has_avx2_fma():
        fresh_library.setenv("LRLAB_NATIVE_ARCH", "x86-64-v3")
        assert _native_lib.arch_flags(_native_lib.compiler() or []) == ["-march=x86_64_v3"]
        _native_lib.reset()
        assert native_status() == "available"
        assert int(_native_lib.library().lrlab_lanes()) == 8  # type: ignore[union-attr]


def test_a_run_says_which_engine_trained_it():
    x, y = _data()
    r = train_population(
        _Data(x, y),
        MLP(3, (4,), 3),
        SGD(),
        [constant(0.1)],
        [0],
        epochs=1,
        batch_size=16,
        engine="numpy",
    )
    assert r.extra["engine"] == "numpy"
    r = train_population(
        _Data(x, y), MLP(3, (4,), 3), SGD(), [constant(0.1)], [0], epochs=1, batch_size=16
    )
    assert r.extra["engine"] == ("native" if native_status() == "available" else "numpy")
