"""Evaluation on Python numbers, NumPy, torch and JAX (also under jax.jit): values, dtypes, shapes.

Every test that takes ``schedule_case`` runs over the representative schedules of
``conftest.SCHEDULE_CASES`` (at least one per constructor in ``lrlab.schedules.__all__``).
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import lrlab.schedules as sch
from conftest import SCHEDULE_CASES, enable_x64
from lrlab.schedules import Custom, Schedule

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

INT_STEPS = [*range(41), 97, 100, 999, 1000]
FRACTIONAL = [0.5, 2.5, 3.75, 10.25, 99.9]
MODERATE = np.concatenate([np.arange(0.0, 300.0), FRACTIONAL])
HUGE = [1e10, 2.0**40, 1e15]


def _tol32(ref):
    """float32 tolerance for comparing with a float64 reference."""
    return {"rtol": 2e-5, "atol": 1e-6 * max(1.0, float(np.max(np.abs(ref))))}


@pytest.fixture(autouse=True)
def _numpy_warnings_are_errors():
    """A NumPy RuntimeWarning (overflow, invalid value) during evaluation is a bug."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# -- the case list covers the public API -----------------------------------------------------
NOT_CONSTRUCTORS = {
    "REGISTRY",
    "FunctionResolver",
    "Schedule",
    "Description",
    "LintWarning",
    "ScheduleSyntaxError",
    "describe",
    "lint",
    "plot",
    "parse",
    "known_names",
    "MAX_DEPTH",
    "from_dict",
    "from_json",
    "Rates",
}


def test_cases_cover_every_constructor():
    used_types = {type(node) for _, s in SCHEDULE_CASES for node in s.walk()}
    used_names = {name for name, _ in SCHEDULE_CASES}
    missing = []
    for name in sch.__all__:
        if name in NOT_CONSTRUCTORS:
            continue
        obj = getattr(sch, name)
        if inspect.isclass(obj) and issubclass(obj, Schedule):
            if obj not in used_types:
                missing.append(name)
        elif name not in used_names:
            missing.append(name)
    assert missing == []


# -- Python numbers and NumPy ------------------------------------------------------------------
def test_python_numbers_give_a_float(schedule_case):
    _, s = schedule_case
    for step in (0, 3, 7.5, np.int64(4), np.float32(2.5), np.float64(11.0)):
        out = s(step)
        assert type(out) is float, (step, type(out))


def test_vectorised_equals_scalar(schedule_case):
    _, s = schedule_case
    steps = INT_STEPS + FRACTIONAL
    vec = s(np.asarray(steps, dtype=np.float64))
    scalar = np.array([s(t) for t in steps])  # Python ints and floats, one at a time
    np.testing.assert_allclose(vec, scalar, rtol=1e-15, atol=0)


def test_list_and_integer_arrays_are_float64(schedule_case):
    _, s = schedule_case
    ref = s(np.asarray(INT_STEPS, dtype=np.float64))
    for steps in (
        INT_STEPS,
        np.asarray(INT_STEPS, dtype=np.int32),
        np.asarray(INT_STEPS, np.uint16),
    ):
        out = s(steps)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, ref)


def test_arrays_keep_their_shape(schedule_case):
    _, s = schedule_case
    for shape in [(), (7,), (3, 4), (0,), (2, 0)]:
        steps = np.asarray(np.arange(math.prod(shape), dtype=np.float64).reshape(shape) * 3.5)
        out = s(steps)
        assert isinstance(out, np.ndarray), shape
        assert out.shape == shape and out.dtype == np.float64
        if steps.size:
            flat = [s(float(t)) for t in steps.ravel()]
            np.testing.assert_allclose(out.ravel(), flat, rtol=1e-15, atol=0)


def test_float32_steps_stay_float32_and_agree(schedule_case):
    _, s = schedule_case
    ref = s(MODERATE)
    out = s(MODERATE.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, **_tol32(ref))
    assert s(np.asarray(MODERATE.astype(np.float32)[7])).dtype == np.float32  # 0-d too


def test_huge_steps_are_finite_and_sensible(schedule_case, request):
    _, s = schedule_case
    normal = s(np.arange(0.0, 5000.0))
    lo, hi = min(float(normal.min()), 0.0), float(normal.max())
    out = s(np.asarray(HUGE))
    assert np.all(np.isfinite(out)), out
    assert np.all((lo - 1e-12 <= out) & (out <= hi + 1e-12)), (out, lo, hi)
    for t, v in zip(HUGE, out):
        assert s(t) == v
    assert s(10**10) == out[0]  # a Python int too


def test_python_ints_beyond_int64():
    s = sch.cosine(init=1.0, decay_steps=10)
    assert s(2**70) == 0.0
    assert s(2**64) == 0.0
    with pytest.raises(ValueError, match="finite and >= 0"):
        s(10**400)


@pytest.mark.parametrize(
    ("step", "error", "words"),
    [
        (-1, ValueError, "got -1"),
        (-0.5, ValueError, "got -0.5"),
        (math.nan, ValueError, "got nan"),
        (math.inf, ValueError, "got inf"),
        ([0.0, 1.0, -3.0], ValueError, "got -3.0"),
        (np.array([[0.0, np.inf]]), ValueError, "got inf"),
        (True, TypeError, "True"),
        ("3", TypeError, "'3'"),
        (None, TypeError, "None"),
        (["a"], TypeError, "'a'"),
    ],
    ids=repr,
)
def test_bad_steps(step, error, words):
    with pytest.raises(error, match="step must be") as info:
        sch.constant(0.1)(step)
    assert words in str(info.value)


# -- torch ----------------------------------------------------------------------------------------
def test_torch_float64_matches_numpy(schedule_case):
    _, s = schedule_case
    ref = s(MODERATE)
    out = s(torch.tensor(MODERATE, dtype=torch.float64))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-15)


def test_torch_float32_matches_numpy(schedule_case):
    _, s = schedule_case
    ref = s(MODERATE)
    out = s(torch.tensor(MODERATE, dtype=torch.float32))
    assert out.dtype == torch.float32 and out.shape == (len(MODERATE),)
    np.testing.assert_allclose(out.numpy(), ref, **_tol32(ref))


def test_torch_int64_is_float64_and_handles_2_pow_40(schedule_case, request):
    _, s = schedule_case
    steps = torch.tensor([[0, 1, 7], [40, 2**40, 10**12]], dtype=torch.int64)
    out = s(steps)
    assert out.dtype == torch.float64 and out.shape == (2, 3)
    assert torch.isfinite(out).all()
    ref = s(steps.numpy().astype(np.float64))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-15)


def test_torch_0d_tensor_stays_a_tensor(schedule_case):
    _, s = schedule_case
    out = s(torch.tensor(5.0))
    assert isinstance(out, torch.Tensor) and out.shape == ()
    assert float(out) == pytest.approx(s(5.0), rel=1e-6)


# -- JAX ------------------------------------------------------------------------------------------
def _traceable(s):
    return not any(isinstance(n, Custom) and not n.vectorized for n in s.walk())


def test_jax_eager_and_jit_match_numpy(schedule_case):
    _, s = schedule_case
    if not _traceable(s):
        with pytest.raises(TypeError, match="vectorized=True"):
            s(jnp.asarray(MODERATE))
        with pytest.raises(TypeError, match="vectorized=True"):
            jax.jit(s)(jnp.asarray(MODERATE))
        return
    ref = s(MODERATE)
    steps = jnp.asarray(MODERATE, dtype=jnp.float32)
    eager = s(steps)
    jitted = jax.jit(s)(steps)
    for out in (eager, jitted):
        assert isinstance(out, jax.Array) and out.dtype == jnp.float32 and out.shape == steps.shape
        np.testing.assert_allclose(np.asarray(out), ref, **_tol32(ref))


def test_jax_jit_with_a_traced_integer_step(schedule_case):
    _, s = schedule_case
    if not _traceable(s):
        return
    f = jax.jit(s)
    for t in (0, 3, 17, 250):
        assert float(f(t)) == pytest.approx(s(t), rel=2e-5, abs=1e-7)
    grid = jnp.arange(12, dtype=jnp.int32).reshape(3, 4)
    out = f(grid)
    assert out.shape == (3, 4)
    ref = s(np.arange(12.0).reshape(3, 4))
    np.testing.assert_allclose(np.asarray(out), ref, **_tol32(ref))


# integer parameters of 2**31 and more: without x64 JAX would read each Python int as int32
BIG_PARAMETERS = [
    ("linear", lambda: sch.linear(init=1.0, end=0.0, steps=2**52)),
    ("cosine", lambda: sch.cosine(init=1.0, decay_steps=2**40)),
    ("cosine_periodic", lambda: sch.cosine(init=1.0, decay_steps=2**31, past_end="periodic")),
    ("cosine_restarts", lambda: sch.cosine_restarts(init=1.0, first_period=2**33)),
    ("cosine_restarts_t_mul", lambda: sch.cosine_restarts(1.0, 2**32, t_mul=2.0)),
    ("cyclic", lambda: sch.cyclic(base=0.1, peak=1.0, step_size_up=2**33, step_size_down=2**31)),
    ("polynomial_cycle", lambda: sch.polynomial(1.0, decay_steps=2**41, power=2.0, cycle=True)),
    ("exponential_staircase", lambda: sch.exponential(1.0, 0.5, 2**31, staircase=True)),
    ("inverse_time", lambda: sch.inverse_time(1.0, 0.5, decay_steps=2**45)),
    ("inverse_sqrt", lambda: sch.inverse_sqrt(peak=1.0, warmup_steps=2**35, offset=2**34)),
    ("one_minus_sqrt", lambda: sch.one_minus_sqrt(init=1.0, decay_steps=2**44)),
    ("step_decay", lambda: sch.step_decay(1.0, drop=0.5, every=2**32, offset=2**31)),
    ("multistep", lambda: sch.multistep(1.0, milestones=(2**31, 2**40))),
    ("piecewise_constant", lambda: sch.piecewise_constant((2**31, 2**45), (1.0, 0.5, 0.1))),
    ("warmup", lambda: sch.warmup(sch.cosine(1.0, 2**50), steps=2**31)),
    ("shift", lambda: sch.shift(sch.linear(1.0, 0.0, 2**33), 2**32)),
    ("join", lambda: sch.join([sch.constant(1.0), sch.linear(0.5, 0.0, 2**34)], [2**33])),
    ("by_epoch", lambda: sch.by_epoch(sch.step_decay(1.0, 0.5, 2), steps_per_epoch=2**31)),
    ("noam", lambda: sch.noam(d_model=512, warmup_steps=2**33)),
    ("one_cycle", lambda: sch.one_cycle(peak=1.0, total_steps=2**40)),
    ("product_clip", lambda: sch.clip(sch.linear(1.0, 0.0, 2**36) * sch.constant(2.0), 0.1, 1.5)),
]
BIG_STEPS = [0.0, 1.0, 2.0, 3.0, 4.0, 1e6, 2.0**31, 2.0**32, 2.0**33, 3.0 * 2**33, 2.0**40]


@pytest.mark.parametrize(
    "build", [b for _, b in BIG_PARAMETERS], ids=[n for n, _ in BIG_PARAMETERS]
)
def test_jax_float32_takes_integer_parameters_beyond_int32(build):
    s = build()
    ref = s(np.asarray(BIG_STEPS, dtype=np.float32))  # NumPy in float32: the same rounding
    with enable_x64(False):
        steps = jnp.asarray(BIG_STEPS, dtype=jnp.float32)
        small = jnp.arange(5)  # integer steps, promoted to JAX's float32
        for f in (s, jax.jit(s)):
            out = f(steps)
            assert out.dtype == jnp.float32
            np.testing.assert_allclose(np.asarray(out), ref, **_tol32(ref))
            np.testing.assert_allclose(np.asarray(f(small)), ref[:5], **_tol32(ref))
    # evaluating under JAX changes nothing the schedule shows: its parameters stay as given
    assert s == build() and repr(s) == repr(build())


def test_long_numpy_arrays_are_evaluated_in_blocks_with_the_same_numbers():
    from lrlab.schedules import _base, warmup_cosine

    s = warmup_cosine(peak=0.1, warmup_steps=1000, total_steps=100_000)
    t = np.arange(3 * _base.EVAL_BLOCK + 17, dtype=np.float64)
    unblocked = np.concatenate([s(t[i : i + 1000]) for i in range(0, t.size, 1000)])
    np.testing.assert_array_equal(s(t), unblocked)
    assert s(t.astype(np.float32)).dtype == np.float32
