"""Tests for lrlab.control.Plateau: golden runs against torch and Keras 3, vectorisation,
resume equivalence, validation and invariants."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.control import Plateau, PlateauState

# Keras' torch backend trips NumPy 2's __array__(copy=...) deprecation on every read of a variable.
keras_warnings = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# -- metric sequences ------------------------------------------------------------------------


def _noisy(seed: int, n: int = 60, noise: float = 0.05) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (1.0 / (1.0 + 0.1 * t) + noise * rng.standard_normal(n)).tolist()


def _accuracy(seed: int, n: int = 50) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (0.9 - 0.5 * np.exp(-t / 8) + 0.01 * rng.standard_normal(n)).tolist()


IMPROVING = np.linspace(1.0, 0.1, 30).tolist()
FLAT = [0.5] * 30
NOISY = _noisy(0)
NOISY2 = _noisy(1, noise=0.2)
STEPPED = [1.0] * 5 + [0.8] * 6 + [0.79999] * 6 + [0.5] * 8 + [0.6] * 10
WITH_NAN = [1.0, 0.9, math.nan, 0.95, math.nan, 0.8, 0.85, math.nan, math.nan, 0.9, 0.7] + [
    0.75
] * 8
NEGATIVE = np.linspace(-1.0, -2.0, 10).tolist() + [-2.0, -1.9999, -2.0001, -1.5] * 4 + [-1.0] * 6
ACCURACY = _accuracy(2)
INF_FIRST = [math.inf, math.inf, 1.0, 1.0, 0.5, *([0.5] * 6)]

# (id, metrics, lrlab kwargs shared by both conventions, base lr)
COMMON_CASES = [
    ("improving-p2", IMPROVING, dict(patience=2, factor=0.5), 0.1),
    ("flat-p0", FLAT, dict(patience=0, factor=0.5), 0.1),
    ("flat-p1", FLAT, dict(patience=1, factor=0.5), 0.1),
    ("flat-p3-cooldown2", FLAT, dict(patience=3, factor=0.5, cooldown=2), 0.1),
    ("flat-p0-cooldown3", FLAT, dict(patience=0, factor=0.5, cooldown=3), 0.1),
    ("noisy-p2", NOISY, dict(patience=2, factor=0.5), 0.1),
    ("noisy-p5-cooldown1", NOISY, dict(patience=5, factor=0.2, cooldown=1), 0.05),
    ("noisy2-p1", NOISY2, dict(patience=1, factor=0.7), 1.0),
    ("noisy-min_lr", NOISY, dict(patience=1, factor=0.5, min_lr=0.01), 0.1),
    ("flat-min_lr", FLAT, dict(patience=1, factor=0.1, min_lr=0.001), 0.1),
    ("flat-min_lr-cooldown", FLAT, dict(patience=2, factor=0.3, min_lr=0.02, cooldown=2), 0.1),
    ("stepped-p4", STEPPED, dict(patience=4, factor=0.5), 0.1),
    ("nan-p1", WITH_NAN, dict(patience=1, factor=0.5), 0.1),
    ("max-p3", ACCURACY, dict(mode="max", patience=3, factor=0.5), 0.1),
    ("max-p1-cooldown2", ACCURACY, dict(mode="max", patience=1, factor=0.5, cooldown=2), 0.1),
    ("negative-p1", NEGATIVE, dict(patience=1, factor=0.5), 0.1),
    ("inf-first-p1", INF_FIRST, dict(patience=1, factor=0.5), 0.1),
]

ABS_CASES = [
    ("noisy-abs", NOISY, dict(patience=2, factor=0.5, threshold=0.02), 0.1),
    ("stepped-abs-0", STEPPED, dict(patience=2, factor=0.5, threshold=0.0), 0.1),
    ("max-abs", ACCURACY, dict(mode="max", patience=2, factor=0.5, threshold=0.005), 0.1),
]

TORCH_ONLY_CASES = [
    ("noisy-rel-big", NOISY, dict(patience=2, factor=0.5, threshold=0.05), 0.1),
    ("max-rel", ACCURACY, dict(mode="max", patience=2, factor=0.5, threshold=0.01), 0.1),
    ("stepped-rel-0", STEPPED, dict(patience=1, factor=0.5, threshold=0.0), 0.1),
    ("eps-stops", FLAT * 2, dict(patience=0, factor=0.1), 1e-5),
    ("eps-large", FLAT, dict(patience=0, factor=0.5, eps=0.01), 0.1),
]


def _run_lrlab(plateau: Plateau, metrics: list[float], lr: float) -> list[PlateauState]:
    state = plateau.init()
    out = []
    for m in metrics:
        state = plateau.update(state, m, lr=lr)
        out.append(state)
    return out


# -- golden: torch -----------------------------------------------------------------------------

TORCH_ARGS = ("mode", "factor", "patience", "threshold", "cooldown", "min_lr", "eps")


@pytest.mark.parametrize(
    ("metrics", "kwargs", "lr"),
    [pytest.param(m, k, lr, id=i) for i, m, k, lr in COMMON_CASES + TORCH_ONLY_CASES]
    + [
        pytest.param(m, {**k, "threshold_mode": "abs"}, lr, id=i)
        for i, m, k, lr in ABS_CASES + COMMON_CASES[:6]
    ],
)
def test_golden_torch(metrics, kwargs, lr):
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    targs = {k: v for k, v in kwargs.items() if k in (*TORCH_ARGS, "threshold_mode")}
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **targs)
    states = _run_lrlab(Plateau(convention="torch", **kwargs), metrics, lr)
    reductions = 0
    for t, (m, state) in enumerate(zip(metrics, states, strict=True)):
        before = opt.param_groups[0]["lr"]
        sched.step(m)
        ref = opt.param_groups[0]["lr"]
        reductions += ref != before
        ctx = f"update {t}, metric {m}"
        assert lr * state.scale == pytest.approx(ref, rel=1e-12), ctx
        assert state.num_bad == sched.num_bad_epochs, ctx
        assert state.cooldown_counter == sched.cooldown_counter, ctx
        assert state.best == sched.best, ctx
        assert state.num_reductions == reductions, ctx
        assert state.last_reduced == (ref != before), ctx
        assert state.epoch == t + 1
    assert reductions > 0 or metrics is IMPROVING


# -- golden: Keras 3 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_model():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


def _keras_plateau_run(keras_model, metrics, kwargs, lr):
    import keras

    keras_model.optimizer.learning_rate = lr
    cb = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        mode=kwargs.get("mode", "min"),
        factor=kwargs["factor"],
        patience=kwargs["patience"],
        min_delta=kwargs.get("threshold", 1e-4),
        cooldown=kwargs.get("cooldown", 0),
        min_lr=kwargs.get("min_lr", 0.0),
    )
    cb.set_model(keras_model)
    cb.on_train_begin()
    for epoch, m in enumerate(metrics):
        cb.on_epoch_end(epoch, {"val_loss": m})
        yield float(keras_model.optimizer.learning_rate), cb


KERAS_CASES = COMMON_CASES + ABS_CASES


@keras_warnings
@pytest.mark.parametrize(
    ("metrics", "kwargs", "lr"), [pytest.param(m, k, lr, id=i) for i, m, k, lr in KERAS_CASES]
)
def test_golden_keras(keras_model, metrics, kwargs, lr):
    kwargs = {k: v for k, v in kwargs.items() if k != "eps"}
    states = _run_lrlab(Plateau(convention="keras", **kwargs), metrics, lr)
    runs = _keras_plateau_run(keras_model, metrics, kwargs, lr)
    for t, (state, (ref, cb)) in enumerate(zip(states, runs, strict=True)):
        ctx = f"update {t}, metric {metrics[t]}"
        assert lr * state.scale == pytest.approx(ref, rel=1e-6), ctx
        assert state.num_bad == cb.wait, ctx
        assert state.cooldown_counter == cb.cooldown_counter, ctx
        if cb.best is None or (isinstance(cb.best, float) and math.isnan(cb.best)):
            assert state.best == math.inf  # never adopted a (NaN) metric
        else:
            assert state.best == cb.best, ctx


@keras_warnings
def test_golden_keras_float32_ties(keras_model):
    """Keras compares in float32: improvements below float32 resolution do not count."""
    metrics = [1.0 - 1e-9 * t for t in range(12)]
    kwargs = dict(patience=2, factor=0.5, threshold=0.0)
    states = _run_lrlab(Plateau(convention="keras", **kwargs), metrics, 0.1)
    lrs = [ref for ref, _ in _keras_plateau_run(keras_model, metrics, kwargs, 0.1)]
    np.testing.assert_allclose([0.1 * s.scale for s in states], lrs, rtol=1e-6)
    assert states[-1].num_reductions == 5  # in float64 every update would be an improvement


@keras_warnings
def test_keras_float32_rate_one_step_above_min_lr(keras_model):
    """Keras holds the rate in float32: 1e-3 * 0.1 is stored as 1.0000000047e-4, one float32 step
    above float32(1e-4), so Keras makes one more (near no-op) reduction that resets ``wait`` and
    starts a cooldown; the keras convention makes it too."""
    kwargs = dict(factor=0.1, patience=0, threshold=0.0, cooldown=2, min_lr=1e-4)
    metrics = [1.0] * 8
    states = _run_lrlab(Plateau(convention="keras", **kwargs), metrics, 1e-3)
    assert (states[3].num_bad, states[3].cooldown_counter) == (0, 2)
    assert states[-1].num_reductions == 2
    for t, (state, (ref, cb)) in enumerate(
        zip(states, _keras_plateau_run(keras_model, metrics, kwargs, 1e-3), strict=True)
    ):
        assert np.float32(1e-3 * state.scale) == ref, t
        assert (state.num_bad, state.cooldown_counter) == (cb.wait, cb.cooldown_counter), t


def _random_keras_case(rng: np.random.Generator) -> tuple[list[float], dict, float]:
    """Metrics with ties, plateaus and the odd NaN, and settings that often put the float32 rate
    right at ``min_lr`` (``min_lr = lr0 * factor**k`` computed in float64)."""
    factor = float(rng.choice([0.1, 0.2, 0.5, 0.3, 0.7, rng.uniform(0.05, 0.95)]))
    lr0 = float(rng.choice([1e-3, 0.1, 0.01, 3e-4, 1.0, rng.uniform(1e-4, 1.0)]))
    k = int(rng.integers(1, 5))
    min_lr = float(
        rng.choice([0.0, lr0 * factor**k, lr0 * factor**k * (1 + 1e-8), rng.uniform(0, lr0)])
    )
    kwargs = dict(
        mode=str(rng.choice(["min", "max"])),
        factor=factor,
        patience=int(rng.integers(0, 4)),
        cooldown=int(rng.integers(0, 4)),
        min_lr=min_lr,
        threshold=float(rng.choice([0.0, 1e-4, 0.01, 0.05])),
    )
    n = int(rng.integers(5, 40))
    steps = rng.choice([-0.05, -0.01, 0.0, 0.0, 0.0, 0.01, 0.05, 1e-9], size=n)
    metrics = (1.0 + np.cumsum(steps)).tolist()
    for i in rng.integers(1, n, size=int(rng.integers(0, 3))):
        metrics[i] = math.nan  # a NaN after the first epoch is a bad epoch in both
    return metrics, kwargs, lr0


@keras_warnings
def test_keras_convention_equals_keras_callback_on_random_runs(keras_model):
    """Keras' own ReduceLROnPlateau on its optimizer's float32 variable, against the keras
    convention: the same rate (rounded to float32) and counters after every epoch."""
    rng = np.random.default_rng(2026)
    at_floor = 0
    for case in range(300):
        metrics, kwargs, lr0 = _random_keras_case(rng)
        states = _run_lrlab(Plateau(convention="keras", **kwargs), metrics, lr0)
        runs = _keras_plateau_run(keras_model, metrics, kwargs, lr0)
        for t, (state, (ref, cb)) in enumerate(zip(states, runs, strict=True)):
            ctx = f"case {case}, epoch {t}, {kwargs}, lr0={lr0}, metrics={metrics}"
            assert np.float32(lr0 * state.scale) == ref, ctx
            assert (state.num_bad, state.cooldown_counter) == (cb.wait, cb.cooldown_counter), ctx
            assert state.best == cb.best, ctx
        at_floor += kwargs["min_lr"] > 0 and ref == np.float32(kwargs["min_lr"])
    assert at_floor > 30  # the runs do reach the float32 floor


def test_keras_floor_keeps_wait_growing():
    """At min_lr Keras neither reduces nor resets `wait` (pinned by the golden run too)."""
    plateau = Plateau(convention="keras", patience=1, factor=0.5, min_lr=0.05)
    state = plateau.init()
    waits = []
    for _ in range(6):
        state = plateau.update(state, 1.0, lr=0.1)
        waits.append(state.num_bad)
    assert waits == [0, 0, 1, 2, 3, 4]
    assert state.scale == pytest.approx(0.5)


def test_torch_floor_resets_counters():
    """At min_lr torch still starts a cooldown and resets num_bad_epochs."""
    plateau = Plateau(convention="torch", patience=0, factor=0.5, min_lr=0.05, cooldown=1)
    state = plateau.init()
    seen = []
    for _ in range(6):
        state = plateau.update(state, 1.0, lr=0.1)
        seen.append((state.num_bad, state.cooldown_counter, state.num_reductions))
    assert seen == [(0, 0, 0), (0, 1, 1), (0, 0, 1), (0, 1, 1), (0, 0, 1), (0, 1, 1)]


# -- hand-derived conventions ------------------------------------------------------------------


def test_patience_counts_differ_between_conventions():
    """torch reduces after patience + 1 bad epochs, Keras after patience."""
    for convention, expected in [("torch", 4), ("keras", 3)]:
        plateau = Plateau(convention=convention, patience=2, factor=0.5)
        state = plateau.init()
        t = 0
        while state.num_reductions == 0:
            state = plateau.update(state, 1.0)
            t += 1
        assert t == expected, convention  # 1 first (improving) update + the bad ones


def test_scale_composes_with_a_changing_lr():
    """min_lr is in lr units: the floor follows the scheduled lr it multiplies."""
    plateau = Plateau(patience=0, factor=0.1, min_lr=0.01)
    state = plateau.update(plateau.init(), 1.0, lr=1.0)
    state = plateau.update(state, 1.0, lr=1.0)
    assert state.scale == pytest.approx(0.1)
    state = plateau.update(state, 1.0, lr=0.2)  # 0.2 * 0.1 = 0.02 -> max(0.002, 0.01)
    assert plateau.lr(state, 0.2) == pytest.approx(0.01)
    assert state.scale == pytest.approx(0.05)


def test_min_scale_floor():
    plateau = Plateau(patience=0, factor=0.1, min_scale=0.05)
    state = plateau.init()
    for _ in range(5):
        state = plateau.update(state, 1.0)
    assert state.scale == 0.05
    assert state.num_reductions == 2  # 1 -> 0.1 -> 0.05, then the floor stops it


def test_zero_lr_never_reduces():
    for convention in ("torch", "keras"):
        plateau = Plateau(convention=convention, patience=0)
        state = plateau.init()
        for _ in range(4):
            state = plateau.update(state, 1.0, lr=0.0)
        assert state.scale == 1.0


def test_nan_is_a_bad_epoch():
    for convention in ("torch", "keras"):
        plateau = Plateau(convention=convention, patience=5)
        state = plateau.update(plateau.init(), math.nan)
        assert state.best == math.inf
        assert state.num_bad == 1


def test_update_is_pure():
    plateau = Plateau(patience=0)
    state = plateau.init(3)
    saved = plateau.state_dict(state)
    new = plateau.update(state, [1.0, 2.0, 3.0])
    new = plateau.update(new, [2.0, 2.0, 2.0])
    assert plateau.state_dict(state) == saved
    assert new is not state


def test_scalar_state_holds_python_scalars():
    plateau = Plateau(patience=0)
    state = plateau.update(plateau.update(plateau.init(), 1.0), 2.0)
    types = {name: type(getattr(state, name)) for name in PlateauState.__dataclass_fields__}
    assert types == {
        "best": float,
        "num_bad": int,
        "cooldown_counter": int,
        "scale": float,
        "num_reductions": int,
        "epoch": int,
        "last_reduced": bool,
    }
    assert state.n is None
    assert plateau.init(4).n == 4


def test_lr_helper():
    plateau = Plateau(patience=0, factor=0.5)
    state = plateau.update(plateau.update(plateau.init(2), [1.0, 1.0]), [2.0, 0.5])
    np.testing.assert_allclose(plateau.lr(state, 0.1), [0.05, 0.1])
    table = np.full((2, 3), 0.1)
    np.testing.assert_allclose(plateau.lr(state, table.T).T, [[0.05] * 3, [0.1] * 3])


# -- vectorised == scalar ------------------------------------------------------------------------

VECTOR_CONFIGS = [
    dict(convention="torch", patience=2, factor=0.5, cooldown=1, min_lr=0.004),
    dict(convention="torch", patience=0, factor=0.3, threshold=0.01, threshold_mode="abs"),
    dict(convention="keras", patience=2, factor=0.5, cooldown=2, min_lr=0.004),
    dict(convention="keras", mode="max", patience=1, factor=0.5, min_scale=0.1),
]


def _member_sequences(c: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(n)
    rows = [
        1.0 / (1.0 + rate * t) + noise * rng.standard_normal(n)
        for rate, noise in zip(np.linspace(0.0, 0.3, c), np.linspace(0.0, 0.2, c), strict=True)
    ]
    rows[0][5] = math.nan
    return np.stack(rows)


@pytest.mark.parametrize("config", VECTOR_CONFIGS)
def test_vectorised_equals_scalar(config):
    c, n = 6, 40
    metrics = _member_sequences(c, n)
    lrs = np.linspace(0.05, 0.2, c)
    plateau = Plateau(**config)
    vec = plateau.init(c)
    vec_states = []
    for t in range(n):
        vec = plateau.update(vec, metrics[:, t], lr=lrs)
        vec_states.append(vec)
    for i in range(c):
        one = plateau.init()
        for t in range(n):
            one = plateau.update(one, metrics[i, t], lr=lrs[i])
            for name in PlateauState.__dataclass_fields__:
                a, b = getattr(vec_states[t], name)[i], getattr(one, name)
                assert a == b or (np.isnan(a) and np.isnan(b)), (name, i, t)
    assert vec.num_reductions.max() > 0


def test_vectorised_accepts_scalar_metric_and_lr():
    plateau = Plateau(patience=0, factor=0.5, min_lr=0.01)
    state = plateau.update(plateau.init(3), 1.0, lr=0.1)
    state = plateau.update(state, 2.0, lr=0.1)
    np.testing.assert_allclose(state.scale, [0.5] * 3)


# -- resume equivalence --------------------------------------------------------------------------


@pytest.mark.parametrize("config", VECTOR_CONFIGS)
@pytest.mark.parametrize("split", [0, 1, 7, 23, 40])
@pytest.mark.parametrize("c", [None, 5])
def test_resume_equivalence(config, split, c):
    n = 40
    metrics = _member_sequences(5, n)
    plateau = Plateau(**config)

    def feed(state, ts):
        for t in ts:
            m = metrics[:, t] if c else metrics[2, t]
            state = plateau.update(state, m, lr=0.1)
        return state

    straight = feed(plateau.init(c), range(n))
    first = feed(plateau.init(c), range(split))
    text = json.dumps(plateau.state_dict(first))
    resumed = feed(plateau.load_state_dict(json.loads(text)), range(split, n))
    assert resumed == straight
    assert plateau.state_dict(resumed) == plateau.state_dict(straight)


def test_state_dict_is_plain_python():
    plateau = Plateau(patience=0)
    for c in (None, 3):
        state = plateau.update(plateau.update(plateau.init(c), 1.0), 2.0)
        d = plateau.state_dict(state)

        def plain(v):
            if isinstance(v, list):
                return all(plain(x) for x in v)
            return v is None or type(v) in (int, float, bool)

        assert all(plain(v) for v in d.values()), d
        assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert plateau.state_dict(plateau.init())["best"] is None


def test_load_state_dict_validates():
    plateau = Plateau()
    good = plateau.state_dict(plateau.init(2))
    with pytest.raises(ValueError, match=r"missing \['scale'\]"):
        plateau.load_state_dict({k: v for k, v in good.items() if k != "scale"})
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        plateau.load_state_dict({**good, "extra": 1})
    with pytest.raises(ValueError, match="one length"):
        plateau.load_state_dict({**good, "scale": [1.0, 1.0, 1.0]})
    with pytest.raises(ValueError, match=r"'num_bad' has a bad value, got 2\.5"):
        plateau.load_state_dict({**plateau.state_dict(plateau.init()), "num_bad": 2.5})
    with pytest.raises(ValueError, match="'epoch' has a bad value"):
        plateau.load_state_dict({**plateau.state_dict(plateau.init()), "epoch": -1})
    with pytest.raises(ValueError, match="must be a mapping"):
        plateau.load_state_dict([1, 2])


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(factor=1.5), r"Plateau: factor must be in \(0, 1\), got 1.5"),
        (dict(factor=0.0), r"factor must be in \(0, 1\), got 0.0"),
        (dict(factor="0.5"), r"factor must be a number in \(0, 1\), got '0.5'"),
        (dict(mode="minimum"), r"mode must be 'min' or 'max', got 'minimum'"),
        (dict(patience=-1), r"patience must be an integer >= 0, got -1"),
        (dict(patience=2.0), r"patience must be an integer >= 0, got 2.0"),
        (dict(patience=True), r"patience must be an integer >= 0, got True"),
        (dict(cooldown=-2), r"cooldown must be an integer >= 0, got -2"),
        (dict(threshold=-0.1), r"threshold must be in \[0, inf\), got -0.1"),
        (dict(threshold=1.0), r"threshold must be in \[0, 1\) with threshold_mode='rel', got 1.0"),
        (dict(threshold_mode="relative"), r"threshold_mode must be 'rel' or 'abs', got 'rel"),
        (dict(convention="keras", threshold_mode="rel"), r"threshold_mode must be 'abs' with"),
        (dict(convention="tf"), r"convention must be 'torch' or 'keras', got 'tf'"),
        (dict(min_lr=-1e-3), r"min_lr must be in \[0, inf\), got -0.001"),
        (dict(min_lr=math.inf), r"min_lr must be in \[0, inf\), got inf"),
        (dict(min_scale=1.0), r"min_scale must be in \[0, 1\), got 1.0"),
        (dict(eps=math.nan), r"eps must be in \[0, inf\), got nan"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Plateau(**kwargs)


def test_update_validation():
    plateau = Plateau(min_lr=0.01)
    with pytest.raises(ValueError, match=r"lr is required when min_lr > 0 \(min_lr=0.01\)"):
        plateau.update(plateau.init(), 1.0)
    with pytest.raises(ValueError, match=r"metric must be a number, got an array of shape \(2,\)"):
        plateau.update(plateau.init(), [1.0, 2.0], lr=0.1)
    with pytest.raises(ValueError, match=r"metric must be a number or an array of shape \(3,\)"):
        plateau.update(plateau.init(3), [1.0, 2.0], lr=0.1)
    with pytest.raises(ValueError, match="metric must be a number or an array of numbers"):
        plateau.update(plateau.init(), "low", lr=0.1)
    with pytest.raises(ValueError, match=r"lr must be finite and >= 0, got -0.1"):
        plateau.update(plateau.init(), 1.0, lr=-0.1)
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        plateau.init(0)


def test_threshold_mode_defaults_follow_convention():
    assert Plateau().threshold_mode == "rel"
    assert Plateau(convention="keras").threshold_mode == "abs"
    assert "threshold_mode='abs'" in repr(Plateau(convention="keras"))


# -- invariants ------------------------------------------------------------------------------------

metric_values = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0]),
    st.floats(-10, 10, allow_nan=False),
    st.just(math.nan),
)


@settings(max_examples=300, deadline=None)
@given(
    metrics=st.lists(metric_values, min_size=1, max_size=60),
    convention=st.sampled_from(["torch", "keras"]),
    mode=st.sampled_from(["min", "max"]),
    patience=st.integers(0, 5),
    cooldown=st.integers(0, 3),
    factor=st.floats(0.05, 0.95),
    min_scale=st.sampled_from([0.0, 0.01, 0.3]),
    threshold=st.sampled_from([0.0, 1e-4, 0.1]),
)
def test_invariants(metrics, convention, mode, patience, cooldown, factor, min_scale, threshold):
    plateau = Plateau(
        convention=convention,
        mode=mode,
        patience=patience,
        cooldown=cooldown,
        factor=factor,
        min_scale=min_scale,
        threshold=threshold,
    )
    # torch needs patience + 1 bad epochs; Keras needs patience (and at least the current one)
    need = patience + 1 if convention == "torch" else max(patience, 1)
    if convention == "torch":
        min_gap = cooldown + patience + 1
    else:
        min_gap = max(patience, 1) if cooldown == 0 else cooldown + max(patience, 1) - 1
    states = [plateau.init()]
    for m in metrics:
        states.append(plateau.update(states[-1], m))
    reductions = []
    for t in range(1, len(states)):
        prev, cur = states[t - 1], states[t]
        assert cur.scale <= prev.scale
        assert cur.scale >= min_scale
        assert cur.num_reductions == prev.num_reductions + cur.last_reduced
        assert cur.last_reduced == (cur.scale < prev.scale)
        if cur.last_reduced:
            assert t >= need
            # no improvement (best unchanged) in the `need` updates ending with this one
            assert states[t - need].best == cur.best
            reductions.append(t)
    assert all(b - a >= min_gap for a, b in itertools.pairwise(reductions))
