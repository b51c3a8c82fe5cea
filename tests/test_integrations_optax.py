"""lrlab.integrations.optax: schedules as Optax schedules, the plateau transformation, readers.

Golden comparisons are against lrlab itself (``s(np.arange(...))`` and
``lrlab.control.Plateau``), run through Optax's own machinery (``optax.sgd``,
``optax.inject_hyperparams``, ``optax.chain``) under ``jax.jit``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jnp = jax.numpy

import lrlab.optax  # noqa: E402
import lrlab.schedules as sch  # noqa: E402
from conftest import enable_x64  # noqa: E402
from lrlab.control import Plateau  # noqa: E402
from lrlab.integrations import optax as lo  # noqa: E402

STEPS = 1000


def inv_sqrt_array(t):
    """A vectorized custom function: works on NumPy and (traced) JAX arrays."""
    return 0.1 * (1.0 + t) ** -0.5


def halve_every_third(epoch, lr):
    return lr * 0.5 if epoch % 3 == 2 else lr


def _schedules() -> list[sch.Schedule]:
    cos = sch.cosine(init=0.1, decay_steps=800)
    return [
        sch.constant(0.1),
        sch.linear(init=0.1, end=0.001, steps=700),
        sch.polynomial(init=0.1, decay_steps=800, end=0.001, power=2.0),
        sch.polynomial(init=0.1, decay_steps=300, end=0.01, power=0.5, cycle=True),
        sch.inverse_time(init=0.1, decay_rate=0.5, decay_steps=100),
        sch.inverse_time(init=0.1, decay_rate=0.5, decay_steps=100, staircase=True),
        sch.keras2_decay(lr=0.1, decay=0.001),
        sch.step_decay(init=0.1, drop=0.5, every=100),
        sch.step_decay(init=0.1, drop=0.5, every=100, offset=1),
        sch.multistep(init=0.1, milestones=[300, 600, 900]),
        sch.multistep(init=0.1, milestones=[300, 600], factor=0.5, switch="after"),
        sch.piecewise_constant(boundaries=[250, 500], values=[0.1, 0.05, 0.01]),
        sch.piecewise_constant(boundaries=[250, 500], values=[0.1, 0.05, 0.01], switch="after"),
        sch.exponential(init=0.1, decay_rate=0.96, decay_steps=50),
        sch.exponential(init=0.1, decay_rate=0.5, decay_steps=100, staircase=True, end=0.01),
        sch.exponential(init=0.001, decay_rate=1.5, decay_steps=100, end=0.1),
        sch.cosine(init=0.1, decay_steps=800, alpha=0.01),
        sch.cosine(init=0.1, decay_steps=300, past_end="periodic"),
        sch.cosine(init=0.1, decay_steps=600, end=0.01, exponent=2.0),
        sch.cosine_restarts(init=0.1, first_period=100, t_mul=2.0, m_mul=0.8, alpha=0.01),
        sch.cyclic(base=0.01, peak=0.1, step_size_up=100, step_size_down=150),
        sch.cyclic(base=0.01, peak=0.1, step_size_up=100, mode="triangular2"),
        sch.cyclic(base=0.01, peak=0.1, step_size_up=100, mode="exp_range", gamma=0.999),
        sch.one_cycle(0.1, STEPS),
        sch.one_cycle(0.1, STEPS, three_phase=True, anneal="linear"),
        sch.one_cycle(0.1, STEPS, convention="optax"),
        sch.one_cycle(0.1, STEPS, convention="fastai"),
        sch.one_cycle_momentum(STEPS),
        sch.warmup_cosine(0.1, 100, STEPS),
        sch.wsd(0.1, STEPS, 100, 200),
        sch.wsd(0.1, STEPS, 100, 200, decay="1-sqrt"),
        sch.inverse_sqrt(peak=0.1, warmup_steps=100),
        sch.one_minus_sqrt(init=0.1, decay_steps=900, end=0.001),
        sch.noam(512, 400),
        sch.warmup(cos, steps=100),
        sch.warmup(cos, steps=100, start=0.001, shape="exponential"),
        sch.warmup(cos, steps=100, start=0.01, shape="cosine"),
        sch.join([sch.linear(init=0.0, end=0.1, steps=100), cos, 0.001], [100, 700]),
        sch.clip(sch.exponential(init=0.2, decay_rate=0.99), floor=0.01, ceiling=0.1),
        sch.shift(sch.linear(init=0.1, end=0.0, steps=500), 200),
        sch.by_epoch(sch.step_decay(init=0.1, drop=0.5, every=3), 50),
        sch.by_epoch(sch.cosine(init=0.1, decay_steps=20), 50, fractional=True),
        0.5 * cos,
        cos * sch.linear(init=1.0, end=0.1, steps=1000),
        sch.by_epoch(sch.recurrence(halve_every_third, init=0.1, horizon=12), 100),
        sch.recurrence(halve_every_third, init=0.1, horizon=600),
        sch.custom(inv_sqrt_array, vectorized=True),
        sch.by_epoch(
            sch.clip(0.5 * sch.warmup(sch.join([cos, sch.shift(cos, 50)], [400]), 30), floor=0.001),
            2,
        )
        * sch.constant(2.0),
    ]


SCHEDULES = _schedules()
IDS = [f"{i:02d}-{s.kind}" for i, s in enumerate(SCHEDULES)]


def _on_optax_counts(schedule: sch.Schedule) -> np.ndarray:
    """``to_optax(s)`` under ``jax.jit`` on Optax's own counter: a scalar ``int32`` per step."""
    lr = jax.jit(jax.vmap(lo.to_optax(schedule)))
    return np.asarray(lr(jnp.arange(STEPS, dtype=jnp.int32)))


# -- to_optax -------------------------------------------------------------------------------------
def test_representative_list_covers_every_kind():
    kinds = {node.kind for s in SCHEDULES for node in s.walk()}
    assert set(sch.REGISTRY) <= kinds, set(sch.REGISTRY) - kinds


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_to_optax_matches_the_schedule_in_float32(schedule):
    ref = schedule(np.arange(STEPS))
    out = _on_optax_counts(schedule)
    assert out.dtype == np.float32 and out.shape == (STEPS,)
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-6 * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_to_optax_matches_the_schedule_in_float64(schedule):
    ref = schedule(np.arange(STEPS))
    with enable_x64(True):
        out = _on_optax_counts(schedule)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_to_optax_accepts_numbers_text_and_a_dtype():
    assert float(lo.to_optax(0.1)(7)) == pytest.approx(0.1)
    text = "warmup(cosine(init=0.1, decay_steps=90), steps=10)"
    assert lo.to_optax(text).schedule == sch.parse(text)
    assert repr(lo.to_optax(text)) == f"to_optax({text})"
    with enable_x64(True):
        assert lo.to_optax(text)(5).dtype == jnp.float64
        assert lo.to_optax(text, dtype=jnp.float32)(5).dtype == jnp.float32
    with pytest.raises(ValueError, match=r"to_optax: dtype must be a floating dtype, got 'int32'"):
        lo.to_optax(text, dtype=jnp.int32)
    with pytest.raises(ValueError, match=r"to_optax: schedule must be .*, got \[0.1\]"):
        lo.to_optax([0.1])
    with pytest.raises(ValueError, match="column"):
        lo.to_optax("cosine(init=0.1, decay_steps=0)")


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (sch.custom(math.exp), "vectorized=True"),
        (sch.recurrence(halve_every_third, init=0.1), "pass horizon=N"),
        (sch.warmup(sch.custom(math.exp), steps=3), "vectorized=True"),
        (sch.join([0.1, sch.recurrence(halve_every_third, init=0.1)], [5]), "pass horizon=N"),
    ],
    ids=["custom", "recurrence", "custom-inside-warmup", "recurrence-inside-join"],
)
def test_untraceable_schedules_fail_with_lrlab_message(schedule, message):
    with pytest.raises(TypeError, match=message) as info:
        lo.to_optax(schedule)
    text = str(info.value)
    assert text.startswith("to_optax: ") and "cannot run under jax.jit" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(TypeError, match=message):  # also where a transformation takes one
        lo.plateau(learning_rate=schedule)


def test_plain_sgd_and_inject_hyperparams_give_the_same_updates():
    s = sch.one_cycle(0.1, 50)
    plain = optax.sgd(learning_rate=lo.to_optax(s))
    injected = optax.inject_hyperparams(optax.sgd)(learning_rate=lo.to_optax(s))
    g = jnp.asarray([1.0, -2.0])
    sp, si = plain.init(g), injected.init(g)
    up, ui = jax.jit(plain.update), jax.jit(injected.update)
    for k in range(50):
        a, sp = up(g, sp)
        b, si = ui(g, si)
        np.testing.assert_allclose(np.asarray(a), -s(k) * np.asarray(g), rtol=2e-5, atol=1e-9)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_training_loop_reads_back_the_lr_at_every_step():
    s = sch.warmup_cosine(0.05, 10, 80)
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=lo.to_optax(s), momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)

    def loss_fn(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    @jax.jit
    def train_step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss, grads

    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    state = opt.init(params)
    assert float(lo.current_lr(state)) == s(0)
    # the same SGD with momentum, by hand in float64, at lr = s(step)
    w, b = np.zeros(3), 0.0
    mw, mb = np.zeros(3), 0.0
    losses = []
    for step in range(80):
        params, state, loss, grads = train_step(params, state)
        losses.append(float(loss))
        assert float(lo.current_lr(state)) == pytest.approx(s(step), rel=2e-6, abs=1e-9)
        assert float(lo.effective_lr(state)) == float(lo.current_lr(state))
        mw, mb = np.asarray(grads["w"]) + 0.9 * mw, float(grads["b"]) + 0.9 * mb
        w, b = w - s(step) * mw, b - s(step) * mb
        np.testing.assert_allclose(np.asarray(params["w"]), w, rtol=1e-4, atol=1e-5)
    assert int(state.count) == 80
    assert losses[-1] < losses[0] / 100


# -- plateau --------------------------------------------------------------------------------------
def _scenarios():
    rng = np.random.default_rng(1)
    trend = np.repeat([1.0, 0.8, 0.7, 0.65], 6)
    noisy = trend + rng.normal(scale=0.03, size=trend.size)
    flat = np.ones(14)
    return {
        # name: (plateau settings, per-window metrics)
        "improving": ({"patience": 1, "factor": 0.5}, 1.0 / (1.0 + np.arange(12))),
        "flat": ({"patience": 2, "factor": 0.5}, flat),
        "noisy": ({"patience": 2, "factor": 0.5, "accumulation_size": 4}, noisy),
        "cooldown": ({"patience": 1, "factor": 0.5, "cooldown": 2, "accumulation_size": 2}, flat),
        "min_scale": ({"patience": 0, "factor": 0.5, "min_scale": 0.1}, flat),
        "max_abs": (
            {"mode": "max", "patience": 1, "threshold": 0.05, "threshold_mode": "abs"}
            | {"accumulation_size": 3},
            np.array([0.5, 0.6, 0.62, 0.64, 0.7, 0.71, 0.72, 0.8, 0.8, 0.8, 0.81, 0.9]),
        ),
        "nan": ({"patience": 1, "factor": 0.5}, np.array([1.0, np.nan, 0.9, np.nan, np.nan, 0.8])),
        "min_lr": (
            {"patience": 0, "factor": 0.5, "min_lr": 0.01, "accumulation_size": 3}
            | {"learning_rate": sch.piecewise_constant([9, 18], [0.08, 0.04, 0.1])},
            flat[:10],
        ),
        "eps": ({"patience": 0, "factor": 0.5, "eps": 0.2}, flat[:6]),
    }


SCENARIOS = _scenarios()


def _window_values(metrics: np.ndarray, size: int) -> np.ndarray:
    """``size`` values per window whose mean is the window's metric."""
    offsets = np.linspace(-0.01, 0.01, size) if size > 1 else np.zeros(1)
    return (metrics[:, None] + offsets[None, :]).ravel()


def _run_plateau(tx, values, grad=2.0):
    """Feed ``values`` through ``tx`` in one jitted ``lax.scan``; per-step updates and states."""

    def body(state, value):
        updates, state = tx.update(jnp.full(3, grad, jnp.float32), state, value=value)
        return state, (updates, state)

    run = jax.jit(lambda v: jax.lax.scan(body, tx.init(jnp.zeros(3)), v)[1])
    return run(jnp.asarray(values, jnp.result_type(float)))


def _check_against_control(convention, name, exact):
    settings, metrics = SCENARIOS[name]
    settings = dict(settings)
    size = settings.pop("accumulation_size", 1)
    lr = settings.pop("learning_rate", None)
    tx = lo.plateau(convention=convention, accumulation_size=size, learning_rate=lr, **settings)
    control = Plateau(convention=convention, **settings)
    values = _window_values(metrics, size)
    updates, states = _run_plateau(tx, values)
    ref = control.init()
    scales = []
    for step in range(values.size):
        state = jax.tree.map(lambda x, i=step: x[i], states)
        if step % size == size - 1:  # this update closes a window
            window = values[step - size + 1 : step + 1]
            got = float(state.last_value)
            assert got == pytest.approx(window.mean(), rel=1e-6, nan_ok=True)
            ref = control.update(ref, got, lr=None if lr is None else lr(step))
        mine = state.control_state()
        if exact:
            assert mine == ref, (step, mine, ref)
        else:
            for field in ("num_bad", "cooldown_counter", "num_reductions", "epoch"):
                assert getattr(mine, field) == getattr(ref, field), (step, field)
            assert mine.last_reduced == ref.last_reduced
            assert mine.scale == pytest.approx(ref.scale, rel=1e-6)
            assert mine.best == pytest.approx(ref.best, rel=1e-6)
        # the update of this very step is scaled by the multiplier after the window closed
        np.testing.assert_allclose(np.asarray(updates[step]), 2.0 * ref.scale, rtol=1e-6)
        scales.append(ref.scale)
    return scales


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_plateau_equals_control_plateau_x64(convention, name):
    with enable_x64(True):
        scales = _check_against_control(convention, name, exact=True)
    if name in ("flat", "min_scale", "cooldown", "min_lr", "eps"):
        assert min(scales) < 1.0, "the scenario should reduce"
    if name == "improving":
        assert set(scales) == {1.0}


@pytest.mark.parametrize("name", ["flat", "noisy", "cooldown", "min_scale", "min_lr"])
@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_plateau_equals_control_plateau_float32(convention, name):
    _check_against_control(convention, name, exact=False)


def test_plateau_keras_float32_rate_one_step_above_min_lr():
    """Keras holds the rate in float32: float32(1e-3) * 0.1 is one float32 step above
    float32(1e-4), so Keras (min_lr=1e-4) makes one more near no-op reduction that resets its
    counters and starts a cooldown. Pinned from keras.callbacks.ReduceLROnPlateau on an SGD
    optimizer: (wait, cooldown_counter, reductions) after each epoch."""
    keras_says = [(0, 0, 0), (0, 2, 1), (0, 1, 1), (0, 2, 2), (0, 1, 2), (1, 0, 2), (2, 0, 2)]
    above = np.nextafter(np.float32(1e-4), np.float32(1))  # 1.0000000475e-4
    rates = np.array([1e-3, above, above, *[1e-4] * 4], np.float32)  # Keras' variable
    for x64 in (False, True):
        with enable_x64(x64):
            tx = lo.plateau(
                convention="keras",
                factor=0.1,
                patience=0,
                threshold=0.0,
                cooldown=2,
                min_lr=1e-4,
                learning_rate=1e-3,
            )
            _, states = _run_plateau(tx, np.ones(len(keras_says)))
            got = list(
                zip(
                    np.asarray(states.num_bad).tolist(),
                    np.asarray(states.cooldown_counter).tolist(),
                    np.asarray(states.num_reductions).tolist(),
                    strict=True,
                )
            )
            assert got == keras_says, x64
            held = (jnp.asarray(1e-3) * states.scale).astype(jnp.float32)
            if x64:  # the rate rounded to float32 is Keras' bit for bit
                np.testing.assert_array_equal(held, rates)
            else:  # a float32 multiplier times a float32 rate: within one float32 step
                np.testing.assert_allclose(held, rates, rtol=1.2e-7)


def _random_keras_settings(rng: np.random.Generator) -> tuple[dict, float]:
    """Keras-convention settings that often put the float32 rate right at ``min_lr``."""
    factor = float(rng.choice([0.1, 0.2, 0.5, 0.3, 0.7, rng.uniform(0.05, 0.95)]))
    lr0 = float(rng.choice([1e-3, 0.1, 0.01, 3e-4, rng.uniform(1e-4, 1.0)]))
    min_lr = lr0 * factor ** int(rng.integers(1, 4))
    return {
        "mode": str(rng.choice(["min", "max"])),
        "factor": factor,
        "patience": int(rng.integers(0, 3)),
        "cooldown": int(rng.integers(0, 3)),
        "min_lr": float(rng.choice([0.0, min_lr, min_lr * (1 + 1e-8)])),
        "threshold": float(rng.choice([0.0, 0.01])),
    }, lr0


def test_plateau_keras_random_runs_equal_control_plateau_x64():
    """The optax transformation runs lrlab.control's rule (itself checked against Keras' own
    callback on random runs in test_control_plateau.py): equal states on random runs."""
    rng = np.random.default_rng(6)
    for case in range(12):
        settings, lr0 = _random_keras_settings(rng)
        metrics = 1.0 + np.cumsum(rng.choice([-0.05, 0.0, 0.0, 0.01], size=16))
        control = Plateau(convention="keras", **settings)
        ref = control.init()
        with enable_x64(True):
            tx = lo.plateau(convention="keras", learning_rate=lr0, **settings)
            _, states = _run_plateau(tx, metrics)
            for t, m in enumerate(metrics):
                ref = control.update(ref, float(m), lr=lr0)
                mine = jax.tree.map(lambda x, i=t: x[i], states).control_state()
                assert mine == ref, (case, t, settings, lr0)


def test_plateau_hand_derived_multipliers():
    """Per-window multipliers written down from the two conventions' rules (docs/control.md)."""
    flat = np.ones(6)
    expected = {
        "torch": [1.0, 1.0, 1.0, 0.5, 0.5, 0.5],  # reduces after patience + 1 = 3 bad windows
        "keras": [1.0, 1.0, 0.5, 0.5, 0.25, 0.25],  # after patience = 2 bad windows
    }
    for convention, want in expected.items():
        tx = lo.plateau(convention=convention, patience=2, factor=0.5, accumulation_size=2)
        updates, states = _run_plateau(tx, _window_values(flat, 2), grad=1.0)
        np.testing.assert_array_equal(np.asarray(states.scale)[1::2], want)
        per_step = [1.0, *np.repeat(want, 2)[:-1]]  # a window's last update has its new scale
        np.testing.assert_array_equal(np.asarray(updates)[:, 0], per_step)


def test_plateau_keeps_update_dtypes_and_structure():
    tx = lo.plateau(patience=0, factor=0.5)
    params = {"a": jnp.zeros(2, jnp.bfloat16), "b": jnp.zeros((), jnp.float32)}
    state = tx.init(params)
    for loss in [1.0, 1.0]:
        updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params, value=loss)
    assert updates["a"].dtype == jnp.bfloat16 and updates["b"].dtype == jnp.float32
    assert float(updates["b"]) == 0.5


def test_plateau_chained_after_a_scheduled_sgd():
    s = sch.warmup_cosine(0.1, 5, 40)
    tx = optax.chain(
        optax.sgd(lo.to_optax(s)), lo.plateau(patience=1, factor=0.5, accumulation_size=4)
    )
    injected = optax.chain(
        optax.inject_hyperparams(optax.sgd)(learning_rate=lo.to_optax(s)),
        lo.plateau(patience=1, factor=0.5, accumulation_size=4),
    )
    g = jnp.asarray([1.0, -3.0, 0.5])
    losses = np.concatenate([np.linspace(1.0, 0.5, 12), np.full(28, 0.5)])
    state, istate = tx.init(g), injected.init(g)
    update, iupdate = jax.jit(tx.update), jax.jit(injected.update)
    for step, loss in enumerate(losses):
        updates, state = update(g, state, value=loss)
        iupdates, istate = iupdate(g, istate, value=loss)
        scale = float(lo.plateau_scale(state))
        np.testing.assert_allclose(
            np.asarray(updates), -s(step) * scale * np.asarray(g), rtol=1e-5, atol=1e-9
        )
        np.testing.assert_array_equal(np.asarray(updates), np.asarray(iupdates))
        assert float(lo.effective_lr(istate)) == pytest.approx(s(step) * scale, rel=1e-5)
    assert int(lo.plateau_state(state).num_reductions) >= 2


def test_plateau_resumes_exactly():
    tx = lo.plateau(patience=1, factor=0.5, cooldown=1, accumulation_size=3)
    rng = np.random.default_rng(2)
    values = 1.0 + 0.1 * rng.normal(size=30)
    update = jax.jit(lambda s, v: tx.update(jnp.ones(2), s, value=v))
    full = tx.init(jnp.zeros(2))
    for v in values:
        _, full = update(full, v)
    state = tx.init(jnp.zeros(2))
    for v in values[:13]:  # stop inside a window
        _, state = update(state, v)
    leaves, tree = jax.tree_util.tree_flatten(state)
    saved = [np.asarray(x).copy() for x in leaves]  # e.g. what a checkpoint writes
    state = jax.tree_util.tree_unflatten(tree, [jnp.asarray(x) for x in saved])
    for v in values[13:]:
        _, state = update(state, v)
    for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(full)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(state.num_reductions) > 0


def test_plateau_validation():
    with pytest.raises(ValueError, match=r"Plateau: factor must be in \(0, 1\), got 1.5"):
        lo.plateau(factor=1.5)
    with pytest.raises(ValueError, match="threshold_mode must be 'abs' with convention='keras'"):
        lo.plateau(convention="keras", threshold_mode="rel")
    with pytest.raises(ValueError, match="accumulation_size must be an integer >= 1, got 0"):
        lo.plateau(accumulation_size=0)
    with pytest.raises(ValueError, match=r"learning_rate is required when min_lr > 0"):
        lo.plateau(min_lr=0.01)
    with pytest.raises(ValueError, match=r"learning_rate must be .*, got -0.1"):
        lo.plateau(learning_rate=-0.1)
    tx = lo.plateau()
    state = tx.init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"update needs the monitored value"):
        tx.update(jnp.ones(2), state)
    with pytest.raises(ValueError, match=r"value must be a scalar, got an array of shape \(2,\)"):
        tx.update(jnp.ones(2), state, value=jnp.ones(2))


def test_plateau_learning_rate_forms_agree():
    forms = [0.05, sch.constant(0.05), lambda count: 0.05 + 0.0 * count]
    results = []
    for lr in forms:
        tx = lo.plateau(patience=0, factor=0.5, min_lr=0.02, learning_rate=lr)
        _, states = _run_plateau(tx, np.ones(5))
        results.append(np.asarray(states.scale))
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-6)
    np.testing.assert_allclose(results[0], [1.0, 0.5, 0.4, 0.4, 0.4], rtol=1e-6)


# -- readers and the alias ------------------------------------------------------------------------
def test_readers_fail_clearly():
    state = optax.sgd(0.1).init(jnp.zeros(2))
    message = r"no optax\.inject_hyperparams state holds 'learning_rate'"
    with pytest.raises(ValueError, match=message):
        lo.current_lr(state)
    with pytest.raises(ValueError, match=r"expected one lrlab plateau state .* found 0"):
        lo.plateau_state(state)
    two = optax.chain(lo.plateau(), lo.plateau()).init(jnp.zeros(2))
    with pytest.raises(ValueError, match="found 2"):
        lo.plateau_scale(two)


def test_lrlab_optax_alias():
    assert lrlab.optax.__all__ == lo.__all__
    for name in lo.__all__:
        assert getattr(lrlab.optax, name) is getattr(lo, name)
    assert lo.reduce_on_plateau is lo.plateau
