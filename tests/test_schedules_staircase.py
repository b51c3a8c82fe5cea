"""Staircases switch exactly at multiples of their period, on every array backend.

XLA (eager JAX and ``jax.jit``) compiles ``t / k`` for a constant ``k`` as ``t * (1 / k)``,
one ulp low at some exact multiples (in float32 at ``k = 41, 47, 55, ...``; in float64 at
``k = 49, 98, 103, 107, ...``), so a plain ``floor(t / k)`` switched one step late there;
torch on CUDA divides by a Python number the same way. Every family that floors or takes a
modulo of the step goes through the exact helpers ``Ops.floordiv`` / ``Ops.ceildiv``; these
tests pin the result for every period 1..1000 at its multiples and the steps just before them,
against the exact integer floor computed with Python ints.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conftest import enable_x64
from lrlab.schedules import (
    Schedule,
    by_epoch,
    constant,
    cosine_restarts,
    cyclic,
    exponential,
    inverse_time,
    linear,
    polynomial,
    step_decay,
)

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

PERIODS = range(1, 1001)
#: periods where XLA's ``t * (1 / k)`` is one ulp low at a multiple (float32, then float64)
XLA_LATE = (41, 47, 49, 55, 61, 82, 83, 94, 97, 98, 103, 107)
MULTIPLES = np.arange(1, 13)


def exact_floor(t: np.ndarray, k: int) -> np.ndarray:
    """``floor(t / k)`` with Python integers (no floating point at all)."""
    return np.array([int(x) // k for x in t], dtype=np.float64)


def near_multiples(k: int, top: int | None = None) -> np.ndarray:
    """``m * k`` and ``m * k - 1`` for ``m = 1..12`` (and the three largest ``m k <= top``)."""
    m = MULTIPLES
    if top is not None:
        m = np.concatenate([m, top // k - np.arange(3)])
    t = np.concatenate([m * k, m * k - 1])
    return t[t >= 0].astype(np.int64)


#: the identity through ``by_epoch``: ``by_epoch(identity, k)(t) == floor(t / k)`` exactly,
#: because ``linear(0, 2**n, 2**n)(e) = 2**n * (e / 2**n) = e`` in any binary dtype for
#: ``e <= 2**n``; ``2**30`` for float32 (JAX without x64 reads a Python int as int32)
IDENTITY = {"float32": linear(init=0.0, end=2.0**30, steps=2**30)}
IDENTITY["float64"] = linear(init=0.0, end=2.0**52, steps=2**52)

#: family -> (schedule of period k, the rate as a function of q = floor(t / k) and t)
FAMILIES: dict[str, tuple[Callable[[int], Schedule], Callable[[np.ndarray, np.ndarray, int], Any]]]
FAMILIES = {
    "step_decay": (
        lambda k: step_decay(init=1.0, drop=0.5, every=k),
        lambda q, t, k: 0.5**q,
    ),
    "step_decay-offset": (
        lambda k: step_decay(init=1.0, drop=0.5, every=k, offset=1),
        lambda q, t, k: 0.5 ** exact_floor(t + 1, k),
    ),
    "exponential-staircase": (
        lambda k: exponential(init=1.0, decay_rate=0.5, decay_steps=k, staircase=True),
        lambda q, t, k: 0.5**q,
    ),
    "inverse_time-staircase": (
        lambda k: inverse_time(init=1.0, decay_rate=1.0, decay_steps=k, staircase=True),
        lambda q, t, k: 1.0 / (1.0 + q),
    ),
    "by_epoch": (lambda k: by_epoch(IDENTITY["float32"], steps_per_epoch=k), lambda q, t, k: q),
    "cosine_restarts": (
        lambda k: cosine_restarts(init=1.0, first_period=k),
        lambda q, t, k: 0.5 * (1.0 + np.cos(np.pi * (t - q * k) / k)),
    ),
    "polynomial-cycle": (
        lambda k: polynomial(init=1.0, decay_steps=k, cycle=True),
        lambda q, t, k: 1.0 - t / (k * np.maximum(q + (q * k < t), 1.0)),
    ),
    "cyclic": (  # one cycle of k steps (up k/2, down k/2): the base at every multiple of k
        lambda k: cyclic(base=0.0, peak=1.0, step_size_up=k / 2),
        lambda q, t, k: 1.0 - np.abs(2.0 * (t - q * k) / k - 1.0),
    ),
}


def expected(family: str, k: int, t: np.ndarray) -> np.ndarray:
    return np.asarray(FAMILIES[family][1](exact_floor(t, k), t, k), dtype=np.float64)


def check(got: Any, want: np.ndarray, dtype: str, what: str) -> None:
    """Equal within the dtype's rounding: a step on the wrong side of a jump is far off."""
    got = np.asarray(got, dtype=np.float64)
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-12, 1e-13)
    bad = ~(np.abs(got - want) <= atol + rtol * np.abs(want))
    assert not bad.any(), (
        f"{what}: {np.flatnonzero(bad)[:5]} got {got[bad][:5]} want {want[bad][:5]}"
    )


# -- every period 1..1000, every family, every backend ------------------------------------------
def _numpy(s: Schedule, t: np.ndarray, dtype: str) -> Any:
    return s(t.astype(dtype))


def _torch(s: Schedule, t: np.ndarray, dtype: str) -> Any:
    return s(torch.as_tensor(t, dtype=getattr(torch, dtype))).numpy()


def _jax_eager(s: Schedule, t: np.ndarray, dtype: str) -> Any:
    with enable_x64(dtype == "float64"):
        return np.asarray(s(jnp.asarray(t, dtype=dtype)))


BACKENDS = {"numpy": _numpy, "torch": _torch, "jax": _jax_eager}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_period_switches_at_its_multiples(family: str, backend: str, dtype: str):
    make, run = FAMILIES[family][0], BACKENDS[backend]
    for k in PERIODS:
        t = near_multiples(k)
        check(run(make(k), t, dtype), expected(family, k, t), dtype, f"{family} k={k}")


# -- the paths through jax.jit, to_optax and KerasSchedule --------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_jit_switches_at_multiples(family: str, dtype: str):
    """Under ``jax.jit`` with a traced step (compiled once per period, so periods that
    XLA's ``t * (1 / k)`` puts one ulp low in float32 and in float64, not all 1000)."""
    make = FAMILIES[family][0]
    for k in (41, 47, 55, 49, 98, 103, 1, 1000):
        t = near_multiples(k)
        with enable_x64(dtype == "float64"):
            got = jax.jit(make(k))(jnp.asarray(t, dtype=dtype))
        check(got, expected(family, k, t), dtype, f"{family} k={k} (jit)")


def test_the_issue_example():
    """``step_decay(every=41)`` drops at step 41 on NumPy, eager JAX, jit and ``to_optax``."""
    from lrlab.integrations.optax import to_optax

    s = step_decay(init=1.0, drop=0.5, every=41)
    assert s(41) == 0.5 and s(40) == 1.0
    assert float(s(jnp.arange(50))[41]) == 0.5
    assert float(jax.jit(to_optax(s))(41)) == 0.5
    assert float(jax.jit(to_optax(s))(jnp.asarray(40, jnp.int32))) == 1.0


@pytest.mark.parametrize("x64", [False, True])
def test_to_optax_switches_at_multiples(x64: bool):
    """``to_optax`` on Optax's integer ``count``, one jitted call per period."""
    from lrlab.integrations.optax import to_optax

    dtype = "float64" if x64 else "float32"
    for family in ("step_decay", "cosine_restarts", "polynomial-cycle"):
        make = FAMILIES[family][0]
        for k in (41, 49, 98):
            t = near_multiples(k)
            with enable_x64(x64):
                got = jax.jit(jax.vmap(to_optax(make(k))))(jnp.asarray(t))
            check(got, expected(family, k, t), dtype, f"{family} k={k} (to_optax)")


def test_keras_schedule_switches_at_multiples():
    """``KerasSchedule`` at the optimizer's integer step, on the process's Keras backend, called
    eagerly and as the backend's compiled train step calls it (``jax.jit``; ``tf.function``
    and XLA on TensorFlow; torch runs eagerly)."""
    keras = pytest.importorskip("keras")
    from lrlab.integrations.keras import KerasSchedule

    backend = keras.backend.backend()
    int_dtype = "int32" if backend == "jax" else "int64"  # JAX without x64 has no int64
    for family in ("step_decay", "cosine_restarts"):
        make = FAMILIES[family][0]
        for k in (41, 49):
            lr = KerasSchedule(make(k))
            calls = {"eager": lr}
            if backend == "jax":
                calls["jit"] = jax.jit(lr)
            elif backend == "tensorflow":
                import tensorflow as tf

                calls["tf.function"] = tf.function(lr)
                calls["xla"] = tf.function(lr, jit_compile=True)
            t = near_multiples(k)[[0, 1, 12, 13]]
            for name, call in calls.items():
                got = [float(call(keras.ops.convert_to_tensor(x, dtype=int_dtype))) for x in t]
                what = f"{family} k={k} (KerasSchedule, {backend} {name})"
                check(got, expected(family, k, t), "float32", what)


# -- large steps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dtype", "top"), [("float32", 2**24), ("float64", 2**52)], ids=["float32", "float64"]
)
def test_exact_up_to_the_largest_exact_step(dtype: str, top: int):
    """``floor(t / k)`` through ``by_epoch`` at the largest multiples of every ``k <= 1000``
    below ``2**24`` (float32) and ``2**52`` (float64), and the steps just before them."""
    for k in (*XLA_LATE, *range(1, 1001, 111), 1000):
        t = near_multiples(k, top)
        want = exact_floor(t, k)
        s = by_epoch(IDENTITY[dtype], steps_per_epoch=k)
        outs = {"numpy": s(t.astype(dtype)), "torch": _torch(s, t, dtype)}
        with enable_x64(dtype == "float64"):
            x = jnp.asarray(t, dtype=dtype)
            outs["jax"], outs["jit"] = s(x), jax.jit(s)(x)
            for name, got in outs.items():
                np.testing.assert_array_equal(np.asarray(got, np.float64), want, f"{name} k={k}")


def test_cosine_restarts_with_integer_t_mul_restarts_on_its_steps():
    """``t_mul != 1`` finds the period with a log; the correction compares integer products,
    so integer (and dyadic) ``first_period``/``t_mul`` restart exactly on their steps."""
    for first, mul in ((5, 2.0), (3, 3.0), (1, 4.0), (8, 1.5), (41, 2.0), (7, 5.0)):
        s = cosine_restarts(init=1.0, first_period=first, t_mul=mul, end=0.0)
        # restart i at S_i = first * (mul**i - 1) / (mul - 1), after a period of first * mul**(i-1)
        rows = [(first * (mul**i - 1) / (mul - 1), first * mul ** (i - 1)) for i in range(1, 9)]
        rows = [(b, n) for b, n in rows if b.is_integer() and b < 2**22]
        t = np.array([b for b, _ in rows] + [b - 1 for b, _ in rows])
        before = [0.5 * (1 + np.cos(np.pi * (n - 1) / n)) for _, n in rows]
        want = np.array([1.0] * len(rows) + before)
        for dtype in ("float32", "float64"):
            check(s(t.astype(dtype)), want, dtype, f"numpy {first} {mul}")
            check(_torch(s, t, dtype), want, dtype, f"torch {first} {mul}")
            with enable_x64(dtype == "float64"):
                got = jax.jit(s)(jnp.asarray(t, dtype=dtype))
            check(got, want, dtype, f"jit {first} {mul}")


def test_constant_is_untouched_by_the_helpers():
    """A sanity anchor for ``check``: a constant is the same on every backend."""
    t = near_multiples(41)
    for run in BACKENDS.values():
        check(run(constant(0.25), t, "float32"), np.full(t.shape, 0.25), "float32", "constant")


def test_lrlab_follows_torch_where_optax_staircase_switches_late():
    """Optax ``exponential_decay(staircase=True)`` floors XLA's ``t * (1 / k)``, so at some
    multiples (``k = 41`` in float32) it may hold the old rate one step longer; lrlab gives
    torch ``StepLR``'s (and Keras' ``ExponentialDecay(staircase=True)``) value there."""
    optax = pytest.importorskip("optax")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=41, gamma=0.5)
    for _ in range(41):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.5  # torch: the drop at step 41
    s = exponential(init=1.0, decay_rate=0.5, decay_steps=41, staircase=True)
    assert float(jax.jit(s)(jnp.asarray(41, jnp.int32))) == 0.5
    ox = optax.exponential_decay(1.0, transition_steps=41, decay_rate=0.5, staircase=True)
    assert float(jax.jit(ox)(jnp.asarray(41, jnp.int32))) in (0.5, 1.0)  # 1.0: one step late
