"""lrlab schedules on TensorFlow tensors: eagerly, inside ``tf.function`` and with
``jit_compile=True`` (XLA), equal to NumPy, with the dtype rule of lrlab.schedules and staircases
that switch exactly at multiples of their period (XLA compiles ``t / k`` as ``t * (1 / k)``,
as it does for JAX; see ``test_schedules_staircase.py``).

TensorFlow is imported only in a process whose Keras backend is TensorFlow (importing it costs
seconds and memory beside torch): ``test_keras_backends.py`` runs this file in such a process.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND") != "tensorflow":
    pytest.skip(
        "TensorFlow is imported only with KERAS_BACKEND=tensorflow; "
        "tests/test_keras_backends.py runs this file in such a process",
        allow_module_level=True,
    )

tf = pytest.importorskip("tensorflow")

from conftest import SCHEDULE_CASES  # noqa: E402
from lrlab.schedules import by_epoch, step_decay  # noqa: E402
from test_schedules_staircase import (  # noqa: E402
    FAMILIES,
    IDENTITY,
    PERIODS,
    XLA_LATE,
    check,
    exact_floor,
    expected,
    near_multiples,
)

#: schedules that run a Python function on each step's value (eager NumPy / torch only)
HOST_ONLY = [
    i for i, (_, s) in enumerate(SCHEDULE_CASES) if s.kind == "custom" and not s.vectorized
]
CASES = [c for i, c in enumerate(SCHEDULE_CASES) if i not in HOST_ONLY]
STEPS = np.arange(0, 60)
MODES = {
    "eager": lambda f: f,
    "function": tf.function,
    "xla": lambda f: tf.function(f, jit_compile=True),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_schedule_equals_numpy(mode: str):
    """Each representative schedule (every constructor) on a vector of integer steps, as Keras'
    ``iterations`` (float64, to the last bits of NumPy's float64), all in one graph; eagerly
    also on float32 steps (float32 to float32 rounding)."""
    dtypes = ("float64", "float32") if mode == "eager" else ("float64",)
    steps = [tf.constant(STEPS, dtype="int64" if d == "float64" else d) for d in dtypes]
    run = MODES[mode](lambda ts: [[s(t) for _, s in CASES] for t in ts])
    for dtype, outs in zip(dtypes, run(steps), strict=True):
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
        for (name, s), got in zip(CASES, outs, strict=True):
            assert got.dtype == tf.as_dtype(dtype), (name, got.dtype)
            want = s(STEPS.astype(dtype))
            np.testing.assert_allclose(got.numpy(), want, **tol, err_msg=f"{name}: {s!r}")


def test_scalars_variables_and_results_stay_tensorflow():
    s = step_decay(init=0.1, drop=0.5, every=3)
    out = s(tf.constant(7))  # int32 scalar
    assert isinstance(out, tf.Tensor) and out.dtype == tf.float64 and out.shape == ()
    assert float(out) == pytest.approx(0.025, rel=1e-15)
    step = tf.Variable(6, dtype=tf.int64)
    assert float(s(step)) == pytest.approx(0.025, rel=1e-15)
    assert float(tf.function(s)(step)) == pytest.approx(0.025, rel=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_periods_switch_at_their_multiples_eagerly(family: str, dtype: str):
    """Eagerly, a period in every 37 of 1..1000 and those where ``t * (1 / k)`` is one ulp low
    (eager TensorFlow divides; the compiled paths below are where XLA multiplies)."""
    make = FAMILIES[family][0]
    for k in (*XLA_LATE, *PERIODS[::37]):
        t = near_multiples(k)
        got = make(k)(tf.constant(t, dtype=dtype))
        check(got.numpy(), expected(family, k, t), dtype, f"{family} k={k} (tensorflow)")


@pytest.mark.parametrize("jit_compile", [False, True], ids=["function", "xla"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_switches_at_multiples(dtype: str, jit_compile: bool):
    """In a ``tf.function`` and under XLA, every family at periods where ``t * (1 / k)`` is one
    ulp low (41 and 47 in float32, 49 and 98 in float64) and at the ends of the range, all in
    one graph."""
    periods = (41, 47, 49, 98, 1, 1000)
    cases = [(family, k, near_multiples(k)) for family in sorted(FAMILIES) for k in periods]

    @tf.function(jit_compile=jit_compile)
    def run(ts: list[tf.Tensor]) -> list[tf.Tensor]:
        return [FAMILIES[f][0](k)(t) for (f, k, _), t in zip(cases, ts, strict=True)]

    got = run([tf.constant(t, dtype=dtype) for _, _, t in cases])
    for (family, k, t), g in zip(cases, got, strict=True):
        what = f"{family} k={k} ({'xla' if jit_compile else 'tf.function'})"
        check(g.numpy(), expected(family, k, t), dtype, what)


@pytest.mark.parametrize(
    ("dtype", "top"), [("float32", 2**24), ("float64", 2**52)], ids=["float32", "float64"]
)
@pytest.mark.parametrize("mode", sorted(MODES))
def test_exact_up_to_the_largest_exact_step(dtype: str, top: int, mode: str):
    """``floor(t / k)`` through ``by_epoch`` at the largest multiples below ``2**24`` (float32)
    and ``2**52`` (float64), and the steps just before them."""
    periods = (*XLA_LATE, *range(1, 1001, 111), 1000)
    steps = [near_multiples(k, top) for k in periods]
    run = MODES[mode](
        lambda ts: [
            by_epoch(IDENTITY[dtype], steps_per_epoch=k)(t)
            for k, t in zip(periods, ts, strict=True)
        ]
    )
    got = run([tf.constant(t, dtype=dtype) for t in steps])
    for k, t, g in zip(periods, steps, got, strict=True):
        np.testing.assert_array_equal(g.numpy(), exact_floor(t, k), f"{mode} k={k}")


def test_python_functions_without_a_table_are_refused_on_tensorflow_tensors():
    from lrlab.schedules import custom, recurrence

    with pytest.raises(TypeError, match=r"cannot be traced \(tensorflow\)"):
        custom(lambda t: 0.1)(tf.constant([0, 1, 2]))
    with pytest.raises(TypeError, match="recurrence: pass horizon=N to use it under tensorflow"):
        recurrence(lambda e, lr: lr * 0.5, init=0.1)(tf.constant([0, 1, 2]))
    with_table = recurrence(lambda e, lr: lr * 0.5, init=0.1, horizon=3)
    np.testing.assert_array_equal(
        np.asarray(with_table(tf.constant([0, 1, 2]))), with_table(np.array([0, 1, 2]))
    )
