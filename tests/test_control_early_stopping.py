"""Tests for lrlab.control.EarlyStopping: golden runs against Keras 3, vectorisation, resume
equivalence, validation and invariants."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.control import EarlyStopping, EarlyStoppingState

FIELDS = list(EarlyStoppingState.__dataclass_fields__)


def _noisy(seed: int, n: int = 50, noise: float = 0.05) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (1.0 / (1.0 + 0.1 * t) + noise * rng.standard_normal(n)).tolist()


def _accuracy(seed: int, n: int = 50) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (0.9 - 0.5 * np.exp(-t / 8) + 0.01 * rng.standard_normal(n)).tolist()


IMPROVING = np.linspace(1.0, 0.1, 30).tolist()
FLAT = [0.5] * 20
NOISY = _noisy(0)
NOISY2 = _noisy(3, noise=0.2)
U_SHAPE = [1.0, 0.8, 0.6, 0.5, 0.45, 0.47, 0.5, 0.44, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
WITH_NAN = [1.0, 0.9, math.nan, 0.95, 0.8, math.nan, math.nan, 0.85, 0.9, 0.7, *([0.75] * 8)]
INF_FIRST = [math.inf, math.inf, 1.0, 1.0, 0.5, *([0.5] * 6)]
ACCURACY = _accuracy(2)

CASES = [
    ("improving-p0", IMPROVING, dict(patience=0)),
    ("flat-p0", FLAT, dict(patience=0)),
    ("flat-p3", FLAT, dict(patience=3)),
    ("noisy-p2", NOISY, dict(patience=2)),
    ("noisy-p5", NOISY, dict(patience=5)),
    ("noisy2-p1", NOISY2, dict(patience=1)),
    ("noisy-delta", NOISY, dict(patience=3, min_delta=0.02)),
    ("u-p2", U_SHAPE, dict(patience=2)),
    ("u-p4", U_SHAPE, dict(patience=4)),
    ("nan-p2", WITH_NAN, dict(patience=2)),
    ("inf-first-p1", INF_FIRST, dict(patience=1)),
    ("max-p3", ACCURACY, dict(mode="max", patience=3)),
    ("max-delta", ACCURACY, dict(mode="max", patience=2, min_delta=0.005)),
    ("baseline-never-met", U_SHAPE, dict(patience=3, baseline=0.3)),
    ("baseline-met-late", U_SHAPE, dict(patience=3, baseline=0.55)),
    ("baseline-noisy", NOISY, dict(patience=4, baseline=0.4)),
    ("baseline-p0", FLAT, dict(patience=0, baseline=0.4)),
    ("max-baseline", ACCURACY, dict(mode="max", patience=3, baseline=0.85)),
    ("start-from-3", U_SHAPE, dict(patience=2, start_from_epoch=3)),
    ("start-from-5-flat", FLAT, dict(patience=1, start_from_epoch=5)),
    ("start-from-baseline", NOISY, dict(patience=2, start_from_epoch=4, baseline=0.5)),
    ("start-p0", FLAT, dict(patience=0, start_from_epoch=2)),
]


# -- golden: Keras 3 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_model():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


@pytest.mark.parametrize(("metrics", "kwargs"), [pytest.param(m, k, id=i) for i, m, k in CASES])
def test_golden_keras(keras_model, metrics, kwargs):
    import keras

    kwargs = {"mode": "min", **kwargs}
    cb = keras.callbacks.EarlyStopping(monitor="val_loss", **kwargs)
    stopper = EarlyStopping(**kwargs)
    keras_model.stop_training = False
    cb.set_model(keras_model)
    cb.on_train_begin()
    state = stopper.init()
    for epoch, m in enumerate(metrics):
        cb.on_epoch_end(epoch, {"val_loss": m})
        state = stopper.update(state, m)
        ctx = f"epoch {epoch}, metric {m}"
        assert state.stopped == keras_model.stop_training, ctx
        assert state.stopped_epoch == cb.stopped_epoch, ctx
        assert state.wait == cb.wait, ctx
        assert state.best_epoch == cb.best_epoch, ctx
        if cb.best is None:
            assert state.best == stopper.init().best, ctx
        else:
            assert state.best == cb.best, ctx
        if keras_model.stop_training:
            break
    # a stopped member ignores everything afterwards
    frozen = stopper.update(state, -1e9 if cb.mode == "min" else 1e9)
    if state.stopped:
        assert frozen == state


@pytest.mark.parametrize(("metrics", "kwargs"), [pytest.param(m, k, id=i) for i, m, k in CASES])
def test_golden_keras_restore_best_weights(metrics, kwargs):
    """The epoch whose weights Keras restores is the last one step() reports improved; none
    (the last weights kept) when no epoch was monitored."""
    keras = pytest.importorskip("keras")
    kwargs = {"mode": "min", **kwargs}
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    cb = keras.callbacks.EarlyStopping(monitor="val_loss", restore_best_weights=True, **kwargs)
    stopper = EarlyStopping(restore_best_weights=True, **kwargs)
    model.stop_training = False
    cb.set_model(model)
    cb.on_train_begin()
    state, ours = stopper.init(), None
    for epoch, m in enumerate(metrics):
        model.set_weights([np.full((1, 1), epoch, dtype="float32")])  # weights = the epoch
        cb.on_epoch_end(epoch, {"val_loss": m})
        state, improved = stopper.step(state, m)
        assert isinstance(improved, bool)
        if improved:
            ours = epoch
        if model.stop_training:
            break
    last = epoch
    cb.on_train_end()
    restored = int(model.get_weights()[0][0, 0])
    assert restored == (last if ours is None else ours)
    assert ours is None or ours == state.best_epoch


@pytest.mark.parametrize(
    ("kwargs", "epochs", "restored"),
    [
        # training that ends before start_from_epoch: Keras' best_weights is None, no restore
        (dict(start_from_epoch=5), 4, None),
        (dict(start_from_epoch=3), 5, 3),  # the first monitored epoch counts, none before
        # a baseline never beaten still restores the best epoch
        (dict(patience=10, baseline=-1.0), 6, 3),
        # min_delta: 0.48 -> 0.47 is not an improvement of 0.05, the best stays at epoch 3
        (dict(patience=10, min_delta=0.05), 6, 3),
    ],
)
def test_restore_rule_with_start_from_epoch_baseline_and_min_delta(kwargs, epochs, restored):
    metrics = [1.0, 0.8, 0.6, 0.5, 0.48, 0.47][:epochs]
    if "min_delta" not in kwargs:
        metrics = [1.0, 0.8, 0.6, 0.5, 0.7, 0.9][:epochs]
    stopper = EarlyStopping(restore_best_weights=True, **kwargs)
    state, best = stopper.init(), None
    for epoch, m in enumerate(metrics):
        state, improved = stopper.step(state, m)
        best = epoch if improved else best
    assert best == restored


def test_step_is_vectorised_and_agrees_with_update():
    stopper = EarlyStopping(patience=2, start_from_epoch=1)
    state = stopper.init(3)
    seen = []
    for metric in ([1.0, 1.0, 1.0], [0.5, 2.0, math.nan], [0.4, 2.5, 0.1], [0.45, 1.0, 0.2]):
        new, improved = stopper.step(state, metric)
        assert new == stopper.update(state, metric)
        seen.append(improved.tolist())
        state = new
    # epoch 0 unmonitored; epoch 1 the first monitored (NaN never counts)
    assert seen == [
        [False, False, False],
        [True, True, False],
        [True, False, True],
        [False, True, False],
    ]
    state = stopper.update(state, [9.0, 9.0, 9.0])  # member 0 and 2 stop (wait 2)
    assert stopper.step(state, [0.0, 0.0, 0.0])[1].tolist() == [False, True, False]


@pytest.mark.parametrize(
    ("kwargs", "metrics", "stopped_epoch"),
    [
        # hand-derived: patience=2 stops at the 2nd non-improving epoch after the best
        (dict(patience=2), [1.0, 0.8, 0.9, 0.85, 0.7], 3),
        # patience=0 stops at the first non-improvement, but never at epoch 0
        (dict(patience=0), [1.0, 1.0], 1),
        # a baseline never beaten: wait never resets, stop `patience` epochs in
        (dict(patience=3, baseline=0.1), [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], None),
        (dict(patience=3, baseline=0.1), [1.0, 0.9, 1.0, 0.8, 1.0], 2),
        # warm-up: epochs before start_from_epoch are ignored altogether
        (dict(patience=1, start_from_epoch=3), [0.1, 5.0, 5.0, 5.0, 5.0], 4),
    ],
)
def test_hand_derived(kwargs, metrics, stopped_epoch):
    stopper = EarlyStopping(**kwargs)
    state = stopper.init()
    for m in metrics:
        state = stopper.update(state, m)
    assert state.stopped == (stopped_epoch is not None)
    assert state.stopped_epoch == (stopped_epoch or 0)


def test_improving_epoch_never_stops_even_below_baseline():
    """Keras returns early on an improvement: `wait` may exceed patience without a stop."""
    stopper = EarlyStopping(patience=1, baseline=0.0)
    state = stopper.init()
    for m in [1.0, 0.9, 0.8, 0.7]:
        state = stopper.update(state, m)
    assert not state.stopped
    assert state.wait == 4
    assert stopper.update(state, 0.75).stopped


def test_nan_never_improves():
    stopper = EarlyStopping(patience=2)
    state = stopper.update(stopper.init(), math.nan)
    assert state.best == math.inf
    assert state.wait == 1
    state = stopper.update(state, 1.0)
    assert state.best == 1.0
    assert state.best_epoch == 1


def test_scalar_state_holds_python_scalars():
    stopper = EarlyStopping()
    state = stopper.update(stopper.update(stopper.init(), 1.0), 2.0)
    assert {n: type(getattr(state, n)) for n in FIELDS} == {
        "best": float,
        "best_epoch": int,
        "wait": int,
        "stopped": bool,
        "stopped_epoch": int,
        "epoch": int,
    }
    assert state.stopped
    assert state.n is None


def test_update_is_pure():
    stopper = EarlyStopping()
    state = stopper.init(2)
    saved = stopper.state_dict(state)
    stopper.update(stopper.update(state, [1.0, 2.0]), [3.0, 1.0])
    assert stopper.state_dict(state) == saved


# -- vectorised == scalar ------------------------------------------------------------------------

VECTOR_CONFIGS = [
    dict(patience=2),
    dict(patience=3, min_delta=0.01, baseline=0.5),
    dict(mode="max", patience=1, start_from_epoch=4),
    dict(patience=0, start_from_epoch=2, baseline=0.3),
]


def _member_sequences(c: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    t = np.arange(n)
    rows = [
        1.0 / (1.0 + rate * t) + noise * rng.standard_normal(n)
        for rate, noise in zip(np.linspace(0.0, 0.4, c), np.linspace(0.0, 0.1, c), strict=True)
    ]
    rows[1][3] = math.nan
    rows[-1] = np.linspace(2.0, 0.0, n)  # keeps improving: never stops in "min" mode
    return np.stack(rows)


@pytest.mark.parametrize("config", VECTOR_CONFIGS)
def test_vectorised_equals_scalar(config):
    c, n = 6, 30
    metrics = _member_sequences(c, n)
    stopper = EarlyStopping(**config)
    vec = stopper.init(c)
    vec_states = []
    for t in range(n):
        vec = stopper.update(vec, metrics[:, t])
        vec_states.append(vec)
    for i in range(c):
        one = stopper.init()
        for t in range(n):
            one = stopper.update(one, metrics[i, t])
            for name in FIELDS:
                a, b = getattr(vec_states[t], name)[i], getattr(one, name)
                assert a == b or (np.isnan(a) and np.isnan(b)), (name, i, t)
    assert vec.stopped.any()
    assert not vec.stopped.all() or config.get("mode") == "max"


# -- resume equivalence --------------------------------------------------------------------------


@pytest.mark.parametrize("config", VECTOR_CONFIGS)
@pytest.mark.parametrize("split", [0, 1, 3, 12, 30])
@pytest.mark.parametrize("c", [None, 6])
def test_resume_equivalence(config, split, c):
    n = 30
    metrics = _member_sequences(6, n)
    stopper = EarlyStopping(**config)

    def feed(state, ts):
        for t in ts:
            state = stopper.update(state, metrics[:, t] if c else metrics[4, t])
        return state

    straight = feed(stopper.init(c), range(n))
    first = feed(stopper.init(c), range(split))
    resumed = feed(
        stopper.load_state_dict(json.loads(json.dumps(stopper.state_dict(first)))),
        range(split, n),
    )
    assert resumed == straight
    assert stopper.state_dict(resumed) == stopper.state_dict(straight)


def test_state_dict_is_json_plain():
    stopper = EarlyStopping(mode="max")
    d = stopper.state_dict(stopper.init(2))
    assert d["best"] == [None, None]
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_load_state_dict_validates():
    stopper = EarlyStopping()
    good = stopper.state_dict(stopper.init())
    with pytest.raises(ValueError, match=r"missing \['wait'\], unexpected \['patience'\]"):
        stopper.load_state_dict({**{k: v for k, v in good.items() if k != "wait"}, "patience": 1})
    with pytest.raises(ValueError, match="'stopped' has a bad value, got 2"):
        stopper.load_state_dict({**good, "stopped": 2})
    with pytest.raises(ValueError, match="'best' has a bad value, got 'low'"):
        stopper.load_state_dict({**good, "best": "low"})


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mode="auto"), r"EarlyStopping: mode must be 'min' or 'max', got 'auto'"),
        (dict(patience=-1), r"patience must be an integer >= 0, got -1"),
        (dict(patience=1.5), r"patience must be an integer >= 0, got 1.5"),
        (dict(min_delta=-0.1), r"min_delta must be in \[0, inf\), got -0.1"),
        (dict(baseline=math.nan), r"baseline must be in \(-inf, inf\), got nan"),
        (dict(baseline="0.5"), r"baseline must be a number in \(-inf, inf\), got '0.5'"),
        (dict(start_from_epoch=-3), r"start_from_epoch must be an integer >= 0, got -3"),
        (dict(convention="torch"), r"convention must be 'keras', got 'torch'"),
        (
            dict(restore_best_weights="yes"),
            r"EarlyStopping: restore_best_weights must be True or False, got 'yes'",
        ),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


def test_update_validation():
    stopper = EarlyStopping()
    with pytest.raises(ValueError, match=r"EarlyStopping.update: metric must be a number, got"):
        stopper.update(stopper.init(), [1.0])
    with pytest.raises(ValueError, match=r"metric must be a number or an array of shape \(2,\)"):
        stopper.update(stopper.init(2), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"EarlyStopping.init: n must be an integer >= 1"):
        stopper.init(-1)


# -- invariants ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    metrics=st.lists(
        st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(-5, 5), st.just(math.nan)),
        min_size=1,
        max_size=40,
    ),
    mode=st.sampled_from(["min", "max"]),
    patience=st.integers(0, 5),
    min_delta=st.sampled_from([0.0, 0.01, 0.5]),
    baseline=st.sampled_from([None, 0.0, 0.8]),
    start_from_epoch=st.integers(0, 4),
)
def test_invariants(metrics, mode, patience, min_delta, baseline, start_from_epoch):
    stopper = EarlyStopping(
        mode=mode,
        patience=patience,
        min_delta=min_delta,
        baseline=baseline,
        start_from_epoch=start_from_epoch,
    )
    state = stopper.init()
    for t, m in enumerate(metrics):
        new = stopper.update(state, m)
        if state.stopped:
            assert new == state
        elif new.stopped:
            assert new.stopped_epoch == t
            assert t >= max(start_from_epoch, 1)
            assert t - start_from_epoch + 1 >= patience  # at least `patience` monitored epochs
            assert new.best == state.best  # the stopping epoch did not improve
        state = new
