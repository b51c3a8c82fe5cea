"""Tests for lrlab.keras.find_lr and LRFinder: the per-batch loss recovered from Keras' running
mean against the true batch losses, the callback inside a user's fit, exact restore, repeats, and
a real run on Ionosphere."""

from __future__ import annotations

import math
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras import ops  # noqa: E402

from lrlab.finder import FinderResult, RepeatedResult, ramp  # noqa: E402
from lrlab.keras import LRFinder, batch_loss, find_lr  # noqa: E402
from lrlab.lab.data import ionosphere  # noqa: E402

# Keras' torch backend trips NumPy 2's __array__(copy=...) deprecation on every read of a variable.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, :1] - x[:, 1:2] + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def _model(optimizer=None, dropout=False):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((4,)), keras.layers.Dense(8, activation="tanh")]
    if dropout:
        layers.append(keras.layers.Dropout(0.2))
    layers.append(keras.layers.Dense(1))
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def _true_losses(model, x, y, order, batch_size):
    out = []
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        pred = model.predict_on_batch(x[idx])
        loss = model.compute_loss(x=x[idx], y=y[idx], y_pred=pred, training=False)
        out.append(float(ops.convert_to_numpy(loss)))
    return np.asarray(out)


def _values(model):
    seen, out = set(), []
    for v in [*model.variables, *model.metrics_variables, *model.optimizer.variables]:
        if id(v) not in seen:
            seen.add(id(v))
            out.append((v.path, np.array(ops.convert_to_numpy(v.value), copy=True)))
    return out


def _assert_same(a, b):
    assert [p for p, _ in a] == [p for p, _ in b]
    for (path, u), (_, v) in zip(a, b):
        assert u.dtype == v.dtype and np.array_equal(u, v), path


# -- the batch loss -------------------------------------------------------------------------------
def test_batch_loss_formula():
    losses, sizes = [0.5, 2.0, 1.0, 4.0], [32, 32, 32, 6]
    counts = np.cumsum(sizes)
    means = np.cumsum(np.multiply(losses, sizes)) / counts
    prev_c, prev_m = 0.0, 0.0
    for loss, c, m in zip(losses, counts, means):
        assert batch_loss(m, prev_m, c, prev_c) == pytest.approx(loss, rel=1e-12)
        prev_c, prev_m = c, m
    assert batch_loss(1.5, 1.0, 2, 1) == 2.0  # n * m_n - (n - 1) * m_{n-1}
    with pytest.raises(ValueError, match="count"):
        batch_loss(1.0, 1.0, 1, 1)


def test_recovered_losses_equal_the_true_batch_losses_in_a_users_fit():
    """Callback in fit: 3 epochs of 32, 32, 6 rows (a short last batch); rates of 1e-30 keep the
    weights fixed so each batch's true loss can be computed afterwards."""
    x, y = _data()
    model = _model(keras.optimizers.SGD(0.1))
    finder = LRFinder(1e-30, 1e-29, num_steps=9, smoothing=0.0, diverge_factor=None)
    model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0, callbacks=[finder])
    true = np.tile(_true_losses(model, x, y, np.arange(70), 32), 3)
    assert finder.result.lrs.size == 9
    np.testing.assert_allclose(finder.result.losses, true, rtol=1e-5)
    # what a naive reader of logs["loss"] would get is the running mean, not the batch loss
    assert not np.allclose(finder.result.losses[1], (true[0] * 32 + true[1] * 32) / 64)


def test_find_lr_losses_equal_the_true_batch_losses():
    x, y = _data()
    model = _model()
    res = find_lr(
        model,
        x,
        y,
        batch_size=10,
        start_lr=1e-30,
        end_lr=1e-29,
        num_steps=20,
        shuffle=False,
        diverge_factor=None,
    )
    true = np.tile(_true_losses(model, x, y, np.arange(70), 10), 3)[:20]
    np.testing.assert_allclose(res.losses, true, rtol=1e-5)


# -- restore --------------------------------------------------------------------------------------
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_weights_and_optimizer_are_restored_exactly(opt):
    x, y = _data()
    optimizer = (
        keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
        if opt == "sgd"
        else keras.optimizers.Adam(1e-3, beta_1=0.8)
    )
    model = _model(optimizer, dropout=True)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # moments and iterations exist
    history = model.history
    before = _values(model)
    res = find_lr(model, x, y, batch_size=16, start_lr=1e-5, end_lr=10.0, num_steps=30)
    assert isinstance(res, FinderResult) and res.lrs.size > 5
    _assert_same(before, _values(model))
    assert model.history is history and model.stop_training is False
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(
        0.05 if opt == "sgd" else 1e-3
    )


def test_unbuilt_optimizer_is_built_first_and_restored_to_its_initial_values():
    x, y = _data()
    model = _model(keras.optimizers.Adam(1e-3))
    assert not model.optimizer.built
    find_lr(model, x, y, num_steps=10)
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 0
    for v in model.optimizer.variables:
        if "momentum" in v.path or "velocity" in v.path:
            assert not np.any(ops.convert_to_numpy(v.value))


def test_restored_after_an_exception(monkeypatch):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before = _values(model)
    original = LRFinder.on_train_batch_end
    seen = []

    def failing(self, batch, logs=None):
        original(self, batch, logs)
        seen.append(batch)
        if batch == 4:
            raise RuntimeError("boom")

    monkeypatch.setattr(LRFinder, "on_train_batch_end", failing)
    # no divergence stop: the momentum left by the fit above may raise the loss fourfold within
    # five batches (it does with TensorFlow's initial weights), which would end the run first
    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, x, y, batch_size=8, num_steps=20, diverge_factor=None)
    assert seen == [0, 1, 2, 3, 4]
    _assert_same(before, _values(model))


def test_schedule_learning_rate_is_swapped_for_the_run_and_put_back():
    x, y = _data()
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model = _model(keras.optimizers.SGD(sched))
    seen = []
    finder = LRFinder(1e-4, 1e-1, num_steps=5, diverge_factor=None)

    class Reader(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[finder, Reader()])
    np.testing.assert_allclose(seen, ramp(1e-4, 1e-1, 5)(np.arange(5)), rtol=1e-6)
    assert model.optimizer._learning_rate is sched


# -- options --------------------------------------------------------------------------------------
def test_validation_data_every_k_batches():
    x, y = _data()
    xv, yv = _data(n=30, seed=1)
    model = _model()
    res = find_lr(
        model,
        x,
        y,
        batch_size=10,
        num_steps=12,
        validation_data=(xv, yv),
        eval_every=4,
        start_lr=1e-30,
        end_lr=1e-29,
    )
    assert res.eval_steps.tolist() == [3, 7, 11]
    full = _true_losses(model, xv, yv, np.arange(30), 30)[0]
    np.testing.assert_allclose(res.eval_losses, full, rtol=1e-5)


def test_repeats_and_shuffling():
    x, y = _data()
    model = _model()
    model.optimizer.build(model.trainable_variables)
    before = _values(model)
    rep = find_lr(
        model, x, y, batch_size=10, num_steps=20, repeats=3, seed=2, start_lr=1e-5, end_lr=1.0
    )
    assert isinstance(rep, RepeatedResult) and rep.seeds == (2, 3, 4)
    assert not np.array_equal(rep.results[0].losses[:5], rep.results[1].losses[:5])
    _assert_same(before, _values(model))
    again = find_lr(model, x, y, batch_size=10, num_steps=20, seed=3, start_lr=1e-5, end_lr=1.0)
    np.testing.assert_allclose(again.losses, rep.results[1].losses, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"repeats": 0}, "repeats"),
        ({"eval_every": 3}, "validation_data"),
        ({"num_steps": 1}, "num_steps"),
    ],
)
def test_bad_input(kwargs, match):
    x, y = _data()
    with pytest.raises(ValueError, match=match):
        find_lr(_model(), x, y, **kwargs)
    with pytest.raises(ValueError, match="same, non-zero"):
        find_lr(_model(), x, y[:5])


def test_uncompiled_model_is_refused():
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        find_lr(model, x, y)


# -- a real run -----------------------------------------------------------------------------------
def test_ionosphere_34_34_1():
    ds = ionosphere().standardized()
    x, y = ds.x_train.astype("float32"), ds.y_train.astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((34,)),
            keras.layers.Dense(34, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="binary_crossentropy")
    res = find_lr(model, x, y, batch_size=32, start_lr=1e-7, end_lr=10.0, num_steps=100)
    s = res.suggest()
    for sug in s.values():
        assert math.isfinite(sug.lr)
    for rule in ("steepest", "valley", "half_divergence"):
        assert 1e-7 <= s[rule].lr <= 10.0
    assert 1e-8 <= s.minimum_div10.lr <= 1.0
    assert 1e-4 <= s.steepest.lr <= 1.0 and 1e-4 <= s.valley.lr <= 1.0
