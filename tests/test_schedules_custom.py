"""custom (a function of the step) and recurrence (a Keras LearningRateScheduler function)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from conftest import FUNCTIONS, halve_every_third, inv_sqrt_decay
from lrlab.schedules import (
    Custom,
    Recurrence,
    by_epoch,
    custom,
    from_dict,
    from_json,
    parse,
    recurrence,
    warmup,
)

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy


# Keras-style schedule functions, as in the Keras LearningRateScheduler docs and tutorials
def keras_docs_scheduler(epoch: int, lr: float) -> float:
    if epoch < 10:
        return lr
    return lr * math.exp(-0.1)


def step_decay_tutorial(epoch: int) -> float:
    return 0.1 * math.pow(0.5, math.floor((1 + epoch) / 10.0))


def piecewise_python(t: float) -> float:
    """Uses ``if`` and ``math``: only works one Python float at a time."""
    if t < 5:
        return 0.1
    return 0.1 * math.cos(t / 100.0)


def keras_loop(fn, init: float, epochs: int) -> list[float]:
    """What Keras' LearningRateScheduler does: at each epoch start, lr = fn(epoch, lr)."""
    lr, out = init, []
    for epoch in range(epochs):
        lr = float(fn(epoch, lr))
        out.append(lr)
    return out


# -- recurrence -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [keras_docs_scheduler, halve_every_third])
def test_recurrence_equals_the_keras_hand_loop(fn):
    r = recurrence(fn, init=0.01)
    expected = keras_loop(fn, 0.01, 40)
    np.testing.assert_array_equal(r(np.arange(40)), expected)
    assert [r(e) for e in range(40)] == expected


def test_recurrence_by_hand():
    r = recurrence(halve_every_third, init=0.8)
    np.testing.assert_array_equal(r([0, 1, 2, 3, 4, 5, 8]), [0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.1])


def test_recurrence_accepts_a_one_argument_function():
    r = recurrence(step_decay_tutorial, init=123.0)  # init unused by fn(epoch)
    for epoch in range(30):
        assert r(epoch) == step_decay_tutorial(epoch)


def test_recurrence_is_deterministic_whatever_is_asked_first():
    late_first = recurrence(keras_docs_scheduler, init=0.1)
    early_first = recurrence(keras_docs_scheduler, init=0.1)
    a10, a3 = late_first(10), late_first(3)
    b3, b10 = early_first(3), early_first(10)
    assert (a3, a10) == (b3, b10)
    assert a10 == keras_loop(keras_docs_scheduler, 0.1, 11)[10]
    shuffled = np.array([17, 2, 30, 0, 11, 5])
    fresh = recurrence(keras_docs_scheduler, init=0.1)
    np.testing.assert_array_equal(fresh(shuffled), late_first(shuffled))
    # asking again, in another order, does not change anything
    np.testing.assert_array_equal(fresh(shuffled[::-1]), late_first(shuffled)[::-1])


def test_recurrence_from_threads_is_consistent():
    r = recurrence(keras_docs_scheduler, init=0.1)
    results = {}

    def ask(n):
        results[n] = r(np.arange(n))

    threads = [threading.Thread(target=ask, args=(n,)) for n in (50, 10, 200, 3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    expected = keras_loop(keras_docs_scheduler, 0.1, 200)
    for n, got in results.items():
        np.testing.assert_array_equal(got, expected[:n])


def test_recurrence_fractional_steps_use_the_epoch_floor():
    r = recurrence(halve_every_third, init=0.8)
    np.testing.assert_array_equal(r([1.9, 2.0, 2.5, 4.99]), [0.8, 0.4, 0.4, 0.4])


def test_recurrence_horizon_holds_the_last_value():
    r = recurrence(halve_every_third, init=0.8, horizon=6)  # epochs 0..5, last 0.2
    np.testing.assert_array_equal(r([0, 2, 5, 6, 100, 1e10]), [0.8, 0.4, 0.2, 0.2, 0.2, 0.2])
    assert r(2**60) == 0.2
    np.testing.assert_array_equal(r.table(6), [0.8, 0.8, 0.4, 0.4, 0.4, 0.2])


@pytest.mark.parametrize("horizon", [0.5, 2.5, 0, -3])
def test_recurrence_horizon_is_a_whole_positive_number(horizon):
    # a table length: 0.5 was once truncated to 0, which the text form then refused
    with pytest.raises(ValueError, match="recurrence: horizon must be"):
        recurrence(halve_every_third, init=0.8, horizon=horizon)
    with pytest.raises(ValueError, match="horizon"):
        from_dict(
            {
                "type": "recurrence",
                "fn": "conftest:halve_every_third",
                "init": 1.0,
                "horizon": horizon,
            },
            functions=FUNCTIONS,
        )


def test_recurrence_integral_float_horizon_is_an_int():
    r = recurrence(halve_every_third, init=0.8, horizon=6.0)
    assert r.horizon == 6 and isinstance(r.horizon, int)
    assert "horizon=6)" in repr(r)


def test_recurrence_table_is_cached_not_recomputed():
    calls = []

    def counting(epoch, lr):
        calls.append(epoch)
        return lr * 0.9

    r = recurrence(counting, init=1.0)
    r(np.arange(10))
    r(5)
    r(np.arange(12))
    assert calls == list(range(12))


def test_recurrence_jit_needs_a_horizon():
    r = recurrence(halve_every_third, init=0.8)
    with pytest.raises(TypeError, match="horizon=N"):
        jax.jit(r)(jnp.arange(5.0))
    with pytest.raises(TypeError, match="horizon=N"):
        r(jnp.arange(5.0))
    h = recurrence(halve_every_third, init=0.8, horizon=6)
    out = jax.jit(h)(jnp.asarray([0.0, 2.0, 5.0, 6.0, 1000.0]))
    np.testing.assert_allclose(np.asarray(out), [0.8, 0.4, 0.2, 0.2, 0.2], rtol=1e-6)
    assert float(jax.jit(h)(2)) == pytest.approx(0.4)


def test_recurrence_on_torch():
    r = recurrence(halve_every_third, init=0.8)
    out = r(torch.tensor([0, 2, 5, 8]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_array_equal(out.numpy(), [0.8, 0.4, 0.2, 0.1])
    out32 = r(torch.tensor([[0.0, 2.0]], dtype=torch.float32))
    assert out32.dtype == torch.float32 and out32.shape == (1, 2)


def test_recurrence_per_batch_with_by_epoch():
    s = by_epoch(recurrence(halve_every_third, init=0.8), steps_per_epoch=4)
    np.testing.assert_array_equal(s([0, 3, 4, 8, 11, 12, 20]), [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2])


def test_recurrence_rejects_a_non_finite_value():
    def explode(epoch, lr):
        return lr * 10 if epoch < 3 else math.nan

    r = recurrence(explode, init=1.0)
    assert r(2) == 1000.0
    with pytest.raises(ValueError, match="epoch 3"):
        r(3)


def test_recurrence_equality_ignores_the_cache():
    a = recurrence(halve_every_third, init=0.8)
    b = recurrence(halve_every_third, init=0.8)
    a(50)
    assert a == b and hash(a) == hash(b)
    assert a != recurrence(halve_every_third, init=0.8, horizon=5)
    assert isinstance(a, Recurrence)


# -- custom ------------------------------------------------------------------------------------
def test_custom_one_by_one_and_vectorized_agree():
    one = custom(inv_sqrt_decay)
    vec = custom(inv_sqrt_decay, vectorized=True)
    t = np.arange(0.0, 50.0, 0.5)
    np.testing.assert_allclose(one(t), vec(t), rtol=1e-15)
    np.testing.assert_allclose(one(t), 0.1 / np.sqrt(1 + t), rtol=1e-15)
    for tt in (torch.arange(10.0, dtype=torch.float64), torch.arange(10, dtype=torch.int64)):
        a, b = one(tt), vec(tt)
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-15)
    assert one(3) == vec(3) == pytest.approx(0.05)
    assert type(one(3)) is float and type(vec(3)) is float


def test_custom_one_by_one_may_branch_in_python():
    s = custom(piecewise_python)
    np.testing.assert_allclose(
        s([0, 4, 5, 50]), [0.1, 0.1, 0.1 * math.cos(0.05), 0.1 * math.cos(0.5)], rtol=1e-15
    )
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        custom(piecewise_python, vectorized=True)(np.arange(10.0))  # an `if` on an array


def test_custom_keeps_shape_and_float32():
    s = custom(inv_sqrt_decay)
    for shape in [(), (4,), (2, 3), (0,)]:
        steps = np.asarray(np.ones(shape, dtype=np.float32))
        out = s(steps)
        assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == np.float32
    assert s(torch.ones(2, 2, dtype=torch.float32)).dtype == torch.float32


def test_custom_vectorized_constant_function_still_broadcasts():
    s = custom(lambda t: 0.1, vectorized=True)
    np.testing.assert_array_equal(s(np.arange(3)), [0.1, 0.1, 0.1])
    assert s(torch.arange(3)).shape == (3,)
    assert jax.jit(s)(jnp.arange(3.0)).shape == (3,)


def test_custom_under_jax():
    vec = custom(inv_sqrt_decay, vectorized=True)
    out = jax.jit(vec)(jnp.arange(4.0))
    np.testing.assert_allclose(np.asarray(out), 0.1 / np.sqrt(1 + np.arange(4.0)), rtol=1e-6)
    one = custom(inv_sqrt_decay)
    with pytest.raises(TypeError, match="vectorized=True"):
        jax.jit(one)(jnp.arange(4.0))
    with pytest.raises(TypeError, match="cannot be traced"):
        one(jnp.arange(4.0))


def test_custom_inside_compositions():
    s = warmup(custom(inv_sqrt_decay), steps=10)
    assert s(10) == pytest.approx(0.1) and s(5) == pytest.approx(0.05)
    assert s(13) == pytest.approx(0.05)


# -- serialisation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "s",
    [
        custom(lambda t: 0.1),
        recurrence(lambda epoch, lr: lr * 0.9, init=0.1),
        custom(FUNCTIONS.__getitem__),  # a bound method has no module-level name either
    ],
    ids=["custom-lambda", "recurrence-lambda", "bound-method"],
)
def test_lambdas_cannot_be_serialised(s):
    for dump in (s.to_dict, s.to_json):
        with pytest.raises(ValueError, match="module level"):
            dump()
    text = repr(s)  # repr still works, for reading, but is not valid text to parse
    assert text.startswith(f"{s.kind}(fn=<")
    with pytest.raises(ValueError, match="column"):
        parse(text)


def test_nested_function_cannot_be_serialised():
    def inner(t):
        return 0.1

    with pytest.raises(ValueError, match="nested functions"):
        custom(inner).to_dict()


def test_module_level_functions_round_trip():
    for s in (
        custom(inv_sqrt_decay, vectorized=True),
        recurrence(halve_every_third, init=0.1, horizon=7),
        custom(math.exp),
    ):
        assert parse(repr(s), functions=FUNCTIONS, allow_import=True) == s
        assert from_dict(s.to_dict(), functions=FUNCTIONS, allow_import=True) == s
        assert from_json(s.to_json(), functions=FUNCTIONS, allow_import=True) == s
    data = recurrence(halve_every_third, init=0.1).to_dict()
    assert data["fn"].endswith(":halve_every_third")
    with pytest.raises(ValueError, match="functions="):
        from_dict(data)
    assert isinstance(from_dict(custom(math.exp).to_dict(), allow_import=True), Custom)
