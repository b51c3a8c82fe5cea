"""lrlab.integrations.keras on the process's Keras backend (TensorFlow, JAX or torch; the suite
runs this file on each, see ``test_keras_backends.py``): every learning rate read back at every
update of real ``model.fit`` runs (and, through a model whose weight is minus the sum of the rates
it trained with, checked to be the rate actually *used*), pinned against Keras' own
``LearningRateScheduler`` / ``ReduceLROnPlateau``, ``.keras`` round trips, and the Keras 2
migration helper on the classic Ionosphere network."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import lrlab.keras  # noqa: E402
import lrlab.schedules as sch  # noqa: E402
from conftest import halve_every_third, inv_sqrt_decay  # noqa: E402
from lrlab.integrations import keras as lk  # noqa: E402
from lrlab.lab.data import ionosphere  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BACKEND = keras.backend.backend()
#: rates read back against lrlab's float64 values. TensorFlow and torch evaluate the schedule in
#: float64 and round once to float32; JAX (without x64) evaluates it in float32, whose cosine
#: is a few ulps of 1 off, which is 1e-9 absolute at the end of a 0.1 cosine
TOL = dict(rtol=1e-6, atol=1e-8 if BACKEND == "jax" else 1e-12)


def step_variable(k):
    """An integer step like an optimizer's ``iterations`` (int32 on JAX without x64)."""
    return keras.Variable(k, dtype="int32" if BACKEND == "jax" else "int64", trainable=False)


# -- helpers ----------------------------------------------------------------------------------
def f32(x):
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


class Probe(keras.callbacks.Callback):
    """Reads ``optimizer.iterations`` and ``optimizer.learning_rate`` before every update."""

    def __init__(self):
        super().__init__()
        self.steps, self.lrs = [], []

    def on_train_batch_begin(self, batch, logs=None):
        opt = self.model.optimizer
        self.steps.append(int(opt.iterations))
        self.lrs.append(float(opt.learning_rate))


class Weight(keras.callbacks.Callback):
    """The single weight of :func:`sum_model` after every epoch."""

    def __init__(self):
        super().__init__()
        self.w = []

    def on_epoch_end(self, epoch, logs=None):
        self.w.append(float(self.model.get_weights()[0][0, 0]))


class FakeMetric(keras.callbacks.Callback):
    """Writes a scripted ``val_loss`` into the epoch logs (place it before the plateau)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def sum_model(learning_rate, optimizer="sgd"):
    """One weight ``w`` (starting at 0), input 1, loss ``mean(w * x)``: plain SGD does
    ``w -= lr``, so after ``n`` updates ``w = -sum(lr_0 .. lr_{n-1})`` of the rates *used*."""
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    opt = keras.optimizers.SGD(learning_rate=learning_rate) if optimizer == "sgd" else optimizer
    model.compile(optimizer=opt, loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
    return model


X1 = np.ones((16, 1), "float32")  # batch_size=4: 4 updates per epoch
Y1 = np.zeros((16, 1), "float32")


def fit(model, epochs, callbacks, batch_size=4, x=X1, y=Y1, **kwargs):
    return model.fit(
        x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks, **kwargs
    )


def check_used(weights, lrs, steps_per_epoch):
    """The weight after each epoch is minus the running sum of the rates."""
    expected = -np.cumsum(f32(lrs))[steps_per_epoch - 1 :: steps_per_epoch]
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)


# -- KerasSchedule inside the optimizer ---------------------------------------------------------
FAMILIES = [
    sch.constant(0.05),
    sch.cosine(init=0.1, decay_steps=15),
    sch.warmup(sch.cosine(init=0.1, decay_steps=12), steps=4),
    sch.exponential(init=0.1, decay_rate=0.5, decay_steps=3, staircase=True),
    sch.step_decay(init=0.1, drop=0.5, every=5, offset=1),
    sch.multistep(init=0.1, milestones=[3, 8], factor=0.3, switch="after"),
    sch.piecewise_constant(boundaries=[5, 10], values=[0.1, 0.05, 0.01]),
    sch.polynomial(init=0.1, decay_steps=16, end=0.01, power=2.0),
    sch.inverse_time(init=0.1, decay_rate=0.5, decay_steps=2),
    sch.keras2_decay(lr=0.1, decay=0.05),
    sch.cosine_restarts(init=0.1, first_period=4, t_mul=2.0, m_mul=0.5),
    sch.cyclic(base=0.01, peak=0.1, step_size_up=3, mode="triangular2"),
    sch.one_cycle(0.1, 20),
    sch.wsd(0.1, 20, 3, 6, decay="1-sqrt"),
    sch.noam(64, 4),
    sch.custom(inv_sqrt_decay),
    sch.by_epoch(sch.recurrence(halve_every_third, init=0.1), 4),
    sch.clip(0.5 * sch.cosine(init=0.2, decay_steps=20) * sch.linear(1.0, 0.5, 10), floor=0.01),
]


#: custom(fn) and a recurrence without its own horizon run on the host: inside the compiled
#: train step of TensorFlow and JAX they need KerasSchedule's table (``horizon``)
HOST_ONLY = ("custom", "by_epoch")


@pytest.mark.parametrize("schedule", FAMILIES, ids=lambda s: s.kind)
def test_schedule_rate_at_every_update(schedule):
    horizon = 20 if BACKEND != "torch" and schedule.kind in HOST_ONLY else None
    model = sum_model(lk.KerasSchedule(schedule, horizon=horizon))
    probe, weight = Probe(), Weight()
    fit(model, 5, [probe, weight])
    k = np.arange(20)
    assert probe.steps == k.tolist()
    np.testing.assert_allclose(probe.lrs, schedule(k), **TOL)
    check_used(weight.w, schedule(k), 4)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_schedule_in_compiled_fit(jit_compile):
    """The train step compiled by the backend (``tf.function``, XLA, ``jax.jit``; torch runs
    eagerly either way): a staircase switches on its exact step, a cosine follows its formula."""
    s = sch.join(
        [sch.step_decay(init=0.1, drop=0.5, every=3), sch.cosine(init=0.05, decay_steps=10)], [9]
    )
    model = sum_model(lk.KerasSchedule(s))
    model.compile(
        optimizer=model.optimizer,
        loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
        jit_compile=jit_compile and BACKEND != "torch",
    )
    probe, weight = Probe(), Weight()
    fit(model, 5, [probe, weight])
    k = np.arange(20)
    np.testing.assert_allclose(probe.lrs, s(k), **TOL)
    check_used(weight.w, s(k), 4)


@pytest.mark.skipif(BACKEND != "torch", reason="block serving is the torch backend's eager path")
@pytest.mark.parametrize("schedule", FAMILIES, ids=lambda s: s.kind)
def test_torch_backend_serves_the_float_of_lrlabs_table_in_any_step_order(schedule):
    """On torch (eager, CPU) the rate comes from blocks of the vectorised form: float32 of the
    float64 ``s(k) * scale``, bit for bit, whether steps come in order, jump back (a resumed
    run) or far ahead; a user's function (custom) is still called one step at a time."""
    import torch

    lr = lk.KerasSchedule(schedule)
    lr.scale.assign(0.5)
    steps = [0, 1, 2, 700, 3, 513, 511, 512, 19, 2**20]
    table = schedule(np.array(steps, dtype=np.float64))
    want = (table * float(np.float32(0.5))).astype(np.float32)
    variable = keras.Variable(0, dtype="int64", trainable=False)
    for k, expected in zip(steps, want, strict=True):
        variable.assign(k)
        for step in (variable, torch.tensor(k), k):
            got = lr(step)
            assert got.dtype == torch.float32 and got.item() == expected, (k, step)
    assert (lr._rates.block > 1) == (schedule.kind not in HOST_ONLY)
    assert lr._eager_cpu_step(torch.tensor(True)) is None  # a bool is not a step
    if schedule.kind not in HOST_ONLY:  # floatx float64: lrlab's float64 table itself
        keras.config.set_floatx("float64")
        try:
            got = lk.KerasSchedule(schedule)(700)
            assert got.dtype == torch.float64 and got.item() == schedule(700)
        finally:
            keras.config.set_floatx("float32")


@pytest.mark.skipif(BACKEND != "torch", reason="block serving is the torch backend's eager path")
def test_a_replaced_schedule_is_served_from_its_own_blocks():
    lr = lk.KerasSchedule(sch.cosine(init=0.1, decay_steps=100))
    assert float(lr(5)) == np.float32(sch.cosine(init=0.1, decay_steps=100)(5))
    lr.schedule = sch.constant(0.25)
    assert float(lr(5)) == 0.25


def test_schedule_continues_across_fit_calls():
    s = sch.cosine(init=0.1, decay_steps=30)
    model = sum_model(lk.KerasSchedule(s))
    probe = Probe()
    fit(model, 2, [probe])
    fit(model, 3, [probe])  # a pure function of iterations: no restart
    assert probe.steps == list(range(20))
    np.testing.assert_allclose(probe.lrs, s(np.arange(20)), rtol=1e-6)


def test_schedule_direct_calls_text_repr_and_validation():
    s = sch.warmup(sch.cosine(init=0.1, decay_steps=90), steps=10)
    lr = lk.KerasSchedule(str(s))
    assert lr.schedule == s and repr(lr) == f"KerasSchedule({s!r})"
    step = step_variable(37)
    out = lr(step)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert float(out) == pytest.approx(s(37), rel=1e-7)
    lr.scale.assign(0.25)
    assert float(lr(50)) == pytest.approx(0.25 * s(50), rel=1e-7)
    assert repr(lr) == f"KerasSchedule({s!r}, scale=0.25)"
    assert lk.Schedule is lk.KerasSchedule
    assert isinstance(lr, keras.optimizers.schedules.LearningRateSchedule)
    with pytest.raises(TypeError, match="KerasSchedule: schedule must be an lrlab schedule"):
        lk.KerasSchedule(0.1)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0, got -1"):
        lk.KerasSchedule(s, scale=-1)
    with pytest.raises(ValueError, match="horizon must be an integer >= 1, got 0"):
        lk.KerasSchedule(s, horizon=0)


def test_horizon_is_the_table_for_host_only_schedules():
    """``custom(fn)`` runs on the host: eagerly on torch; TensorFlow and JAX need ``horizon``
    and then read a table of the first ``horizon`` steps (clamped past it). A schedule written
    with array operations ignores ``horizon`` on every backend."""
    s = sch.cosine(init=0.1, decay_steps=40)
    lr = lk.KerasSchedule(s, horizon=30)
    got = [float(lr(step_variable(k))) for k in (0, 7, 29, 35)]
    np.testing.assert_allclose(got, s([0, 7, 29, 35]), **TOL)
    host = sch.custom(inv_sqrt_decay)
    steps = [step_variable(k) for k in (0, 7, 29, 35)]
    if BACKEND == "torch":
        got = [float(lk.KerasSchedule(host)(k)) for k in steps]
        np.testing.assert_allclose(got, host([0, 7, 29, 35]), rtol=1e-6)
    else:
        with pytest.raises(TypeError, match=r"give KerasSchedule horizon=N"):
            lk.KerasSchedule(host)(steps[1])
    lr = lk.KerasSchedule(host, horizon=30)
    got = [float(lr(k)) for k in steps]
    want = host([0, 7, 29, 29]) if BACKEND != "torch" else host([0, 7, 29, 35])
    np.testing.assert_allclose(got, want, rtol=1e-6)


# -- save / load --------------------------------------------------------------------------------
COMPOSED = [
    sch.warmup(sch.cosine(init=0.1, decay_steps=40), steps=5),
    sch.one_cycle(0.1, 60, convention="fastai"),
    sch.by_epoch(sch.step_decay(init=0.1, drop=0.5, every=2), 4),
    sch.join([sch.linear(0.0, 0.1, 4), 0.5 * sch.cosine(init=0.2, decay_steps=20)], [4]),
    sch.keras2_decay(lr=0.1, decay=0.002),
]


@pytest.mark.parametrize("schedule", COMPOSED, ids=lambda s: s.kind)
def test_keras_file_round_trip(schedule, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(lk.KerasSchedule(schedule, scale=0.5)), loss="mse"
    )
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    model.fit(x, x[:, :2], batch_size=8, epochs=2, verbose=0)  # iterations == 6
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    holder = loaded.optimizer._learning_rate
    assert type(holder) is lk.KerasSchedule
    assert holder.schedule == schedule and float(holder.scale) == 0.5
    assert int(loaded.optimizer.iterations) == 6
    assert float(loaded.optimizer.learning_rate) == float(model.optimizer.learning_rate)
    steps = np.arange(0, 60, 7)
    np.testing.assert_allclose(
        [float(holder(int(k))) for k in steps], 0.5 * schedule(steps), rtol=1e-6
    )
    probe = Probe()
    loaded.fit(x, x[:, :2], batch_size=8, epochs=1, verbose=0, callbacks=[probe])
    np.testing.assert_allclose(probe.lrs, 0.5 * schedule(np.arange(6, 9)), rtol=1e-6)


def registered_decay(t):
    return 0.1 / (1.0 + t)


def test_round_trip_with_custom_function(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.SGD(lk.KerasSchedule(sch.custom(registered_decay))), loss="mse"
    )
    path = tmp_path / "custom.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"register the function with keras\.saving"):
        keras.models.load_model(path)
    loaded = keras.models.load_model(path, custom_objects={"registered_decay": registered_decay})
    assert loaded.optimizer._learning_rate.schedule.fn is registered_decay
    config = model.optimizer.get_config()["learning_rate"]
    assert config["registered_name"] == "lrlab>KerasSchedule"
    json.dumps(config)  # plain data


# -- LearningRateScheduler ----------------------------------------------------------------------
def test_epoch_schedule_set_at_epoch_begin():
    s = sch.step_decay(init=0.1, drop=0.5, every=2)
    model, probe, weight = sum_model(1.0), Probe(), Weight()
    history = fit(model, 5, [lk.LearningRateScheduler(s), probe, weight])
    expected = s(np.arange(20) // 4)
    np.testing.assert_allclose(probe.lrs, expected, rtol=1e-6)
    check_used(weight.w, expected, 4)
    np.testing.assert_allclose(history.history["learning_rate"], s(np.arange(5)), rtol=1e-6)


def test_epoch_schedule_with_steps_per_epoch_is_a_function_of_the_step():
    s = sch.exponential(init=0.1, decay_rate=0.7)
    per_step = sch.by_epoch(s, 3)
    model, probe, weight = sum_model(1.0), Probe(), Weight()
    cb = lk.LearningRateScheduler(s, steps_per_epoch=3)  # 3, although Keras' epochs have 4
    fit(model, 3, [cb, probe, weight])
    fit(model, 2, [cb, probe])  # a second fit continues: epoch = iterations // 3
    k = np.arange(20)
    assert probe.steps == k.tolist()
    np.testing.assert_allclose(probe.lrs, per_step(k), rtol=1e-6)
    check_used(weight.w, per_step(k[:12]), 4)
    # without steps_per_epoch it is Keras' epoch counter, which restarts in every fit
    model, probe = sum_model(1.0), Probe()
    cb = lk.LearningRateScheduler(s)
    fit(model, 2, [cb, probe])
    fit(model, 2, [cb, probe])
    np.testing.assert_allclose(probe.lrs, s(np.tile(np.arange(8) // 4, 2)), rtol=1e-6)


def test_batch_schedule():
    s = sch.warmup(sch.cosine(init=0.1, decay_steps=16), steps=4)
    model, probe, weight = sum_model(1.0), Probe(), Weight()
    history = fit(model, 5, [lk.LearningRateScheduler(s, per="batch"), probe, weight])
    np.testing.assert_allclose(probe.lrs, s(np.arange(20)), rtol=1e-6, atol=1e-12)
    check_used(weight.w, s(np.arange(20)), 4)
    # Keras' own log: the optimizer's rate when the epoch ends (set before its last update)
    np.testing.assert_allclose(history.history["learning_rate"], s(np.arange(3, 20, 4)), rtol=1e-6)


def keras_style(epoch, lr):
    return lr if epoch < 2 else lr * float(np.exp(-0.3))


def one_arg(epoch):
    return 0.1 / (1 + epoch)


def as_numpy_float(epoch, lr):
    return np.float32(lr * 0.9)


@pytest.mark.parametrize("fn", [keras_style, one_arg, as_numpy_float])
def test_function_scheduler_equals_keras(fn):
    runs = []
    for cls in (keras.callbacks.LearningRateScheduler, lk.LearningRateScheduler):
        model, probe = sum_model(0.1), Probe()
        history = fit(model, 6, [cls(fn), probe])
        runs.append((probe.lrs, history.history["learning_rate"], model.get_weights()[0]))
    (lrs_k, hist_k, w_k), (lrs_l, hist_l, w_l) = runs
    assert lrs_l == lrs_k and hist_l == hist_k
    np.testing.assert_array_equal(w_l, w_k)


def test_function_scheduler_errors_as_keras():
    def returns_int(epoch, lr):
        return 1

    messages = []
    for cls in (keras.callbacks.LearningRateScheduler, lk.LearningRateScheduler):
        with pytest.raises(ValueError) as info:
            fit(sum_model(0.1), 1, [cls(returns_int)])
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_scheduler_argument_errors():
    s = sch.constant(0.1)
    with pytest.raises(ValueError, match="per must be 'epoch' or 'batch', got 'step'"):
        lk.LearningRateScheduler(s, per="step")
    with pytest.raises(ValueError, match="steps_per_epoch is for an epoch-indexed schedule"):
        lk.LearningRateScheduler(s, steps_per_epoch=3, per="batch")
    with pytest.raises(ValueError, match=r"wrap the function with\s+lrlab.schedules.recurrence"):
        lk.LearningRateScheduler(keras_style, steps_per_epoch=3)
    with pytest.raises(ValueError, match="steps_per_epoch must be an integer >= 1, got 0"):
        lk.LearningRateScheduler(s, steps_per_epoch=0)
    with pytest.raises(TypeError, match="must be an lrlab schedule or a function"):
        lk.LearningRateScheduler(0.1)
    with pytest.raises(TypeError, match="cannot be set; compile with a float learning_rate"):
        fit(sum_model(lk.KerasSchedule(s)), 1, [lk.LearningRateScheduler(s)])


# -- ReduceLROnPlateau --------------------------------------------------------------------------
def drive(callback, model, metric, values):
    """Keras' callback protocol by hand: on_train_begin, then on_epoch_end with the logs."""
    callback.set_model(model)
    callback.on_train_begin()
    trace = []
    for epoch, value in enumerate(values):
        logs = {metric: value}
        callback.on_epoch_end(epoch, logs)
        rates = [float(opt.learning_rate) for _, opt in lk._optimizers(model)]
        trace.append((rates, callback.wait, callback.cooldown_counter, callback.best, logs))
    return trace


def sequence(seed, n=60):
    """A noisy, mostly decreasing loss with plateaus and exact repeats."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([0.0, 0.0, -0.05, 0.02, -0.2, 1e-5], size=n)
    return np.round(2.0 + np.cumsum(steps), 6).tolist()


PLATEAU_CASES = [
    dict(factor=0.5, patience=2),
    dict(factor=0.1, patience=0, min_lr=1e-4),
    dict(factor=0.3, patience=3, cooldown=2, min_delta=0.01),
    dict(factor=0.5, patience=1, cooldown=1, min_lr=0.02, min_delta=-1e-3),
    dict(factor=0.7, patience=2, mode="max", monitor="val_accuracy"),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "case", PLATEAU_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
def test_plateau_float_lr_equals_keras(case, seed):
    values = sequence(seed)
    monitor = case.get("monitor", "val_loss")
    traces = []
    for cls in (keras.callbacks.ReduceLROnPlateau, lk.ReduceLROnPlateau):
        traces.append(drive(cls(**case), sum_model(0.1), monitor, values))
    for (lr_k, wait_k, cool_k, best_k, logs_k), (lr_l, wait_l, cool_l, best_l, logs_l) in zip(
        *traces
    ):
        assert lr_l == lr_k  # float32 values, bit for bit
        assert (wait_l, cool_l, logs_l) == (wait_k, cool_k, logs_k)
        assert best_l == pytest.approx(float(best_k))
    assert traces[1][-1][0][0] < 0.1  # the sequences do trigger reductions


def test_plateau_with_wrapped_optimizers_equals_keras():
    """Keras' ``optimizer.optimizers`` branch: each inner optimizer reduced on its own.

    Keras' callback has that branch from 3.14 on; before, it reads ``optimizer.learning_rate``
    of the wrapper and fails, so there is no Keras behaviour to compare with."""
    import inspect

    from keras.src.callbacks import reduce_lr_on_plateau

    if "optimizers" not in inspect.getsource(reduce_lr_on_plateau):
        pytest.skip(
            f"Keras {keras.__version__}'s ReduceLROnPlateau has no wrapped-optimizer branch"
        )

    class Wrapper:
        def __init__(self, *rates):
            self.optimizers = [keras.optimizers.SGD(r, name=f"opt{i}") for i, r in enumerate(rates)]

    class Holder:
        def __init__(self):
            self.optimizer = Wrapper(0.1, 0.003)

    values = sequence(3)
    traces = []
    for cls in (keras.callbacks.ReduceLROnPlateau, lk.ReduceLROnPlateau):
        traces.append(
            drive(cls(factor=0.5, patience=1, min_lr=0.002), Holder(), "val_loss", values)
        )
    assert [t[0] for t in traces[1]] == [t[0] for t in traces[0]]
    assert [t[4] for t in traces[1]] == [t[4] for t in traces[0]]  # learning_rate_opt0 / _opt1


def test_plateau_multiplies_a_schedule_where_keras_raises():
    s = sch.cosine(init=0.1, decay_steps=100)
    values = [1.0, 1.0, 1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="its learning rate is not settable"):
        drive(
            keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1),
            sum_model(lk.KerasSchedule(s)),
            "val_loss",
            values,
        )
    lr = lk.KerasSchedule(s)
    model = sum_model(lr)
    model.optimizer.iterations.assign(30)
    cb = lk.ReduceLROnPlateau(factor=0.5, patience=1)
    trace = drive(cb, model, "val_loss", values)
    assert [float(t[0][0]) for t in trace] == pytest.approx(
        [s(30) * f for f in (1, 0.5, 0.25, 0.125, 0.0625)], rel=1e-6
    )
    assert float(lr.scale) == 0.0625 and cb.state.num_reductions == 4
    # min_lr is a floor on the current rate, applied at the reduction
    lr = lk.KerasSchedule(s)
    model = sum_model(lr)
    model.optimizer.iterations.assign(50)  # s(50) = 0.05
    drive(
        lk.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.01),
        model,
        "val_loss",
        [1.0, 1.0, 1.0],
    )
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01, rel=1e-6)
    assert float(lr.scale) == pytest.approx(0.2, rel=1e-6)


def test_plateau_times_schedule_in_fit_and_logger():
    """warmup + cosine + plateau: the rate of update k is s(k) * scale, read, used and logged."""
    s = sch.warmup(sch.cosine(init=0.1, decay_steps=30), steps=6)
    lr = lk.KerasSchedule(s)
    model, probe, weight = sum_model(lr), Probe(), Weight()
    logger = lk.LearningRateLogger(per_batch=True)
    cb = lk.ReduceLROnPlateau(factor=0.5, patience=1)
    history = fit(model, 6, [logger, FakeMetric([1.0] * 6), cb, probe, weight])
    k = np.arange(24)
    scale = np.repeat([1, 1, 0.5, 0.25, 0.125, 0.0625], 4)
    expected = s(k) * scale
    np.testing.assert_allclose(probe.lrs, expected, **TOL)
    np.testing.assert_allclose(logger.batch_learning_rates, expected, **TOL)
    np.testing.assert_allclose(history.history["learning_rate"], expected[::4], rtol=1e-6)
    assert logger.learning_rates == history.history["learning_rate"]
    check_used(weight.w, expected, 4)


def test_plateau_errors_and_warning():
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be in"):
        lk.ReduceLROnPlateau(factor=0.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: patience must be an integer"):
        lk.ReduceLROnPlateau(patience=-1)
    cosine = keras.optimizers.schedules.CosineDecay(0.1, 100)
    with pytest.raises(TypeError, match="cannot be reduced; use a float learning_rate or"):
        fit(sum_model(cosine), 1, [lk.ReduceLROnPlateau()])
    for cls in (keras.callbacks.ReduceLROnPlateau, lk.ReduceLROnPlateau):
        with pytest.warns(
            UserWarning, match="conditioned on metric `val_loss` which is not available"
        ):
            drive(cls(), sum_model(0.1), "loss", [1.0])


# -- LearningRateLogger -------------------------------------------------------------------------
def test_logger_sees_rates_set_by_later_callbacks():
    """The logger reads a float rate after the update, so its place in the list does not matter."""
    s = sch.exponential(init=0.1, decay_rate=0.9)
    model, probe = sum_model(1.0), Probe()
    logger = lk.LearningRateLogger(per_batch=True)
    history = fit(model, 3, [logger, lk.LearningRateScheduler(s, per="batch"), probe])
    np.testing.assert_allclose(logger.batch_learning_rates, s(np.arange(12)), rtol=1e-6)
    assert logger.batch_learning_rates == probe.lrs
    np.testing.assert_allclose(history.history["learning_rate"], s([0, 4, 8]), rtol=1e-6)
    plain = lk.LearningRateLogger()
    history = fit(sum_model(lk.KerasSchedule(s)), 2, [plain])
    assert plain.batch_learning_rates == []
    np.testing.assert_allclose(history.history["learning_rate"], s([0, 4]), rtol=1e-6)
    with pytest.raises(ValueError, match="per_batch must be True or False, got 1"):
        lk.LearningRateLogger(per_batch=1)


# -- Keras 2 migration --------------------------------------------------------------------------
def ionosphere_arrays():
    ds = ionosphere()  # split="keras": the last 33% is the test part, unshuffled
    x = np.concatenate([ds.x_train, ds.x_test]).astype("float32")
    y = np.concatenate([ds.y_train, ds.y_test]).astype("float32")
    return x, y, ds.n_test


def test_ionosphere_classic_network_keras2_decay():
    """The tutorials' Ionosphere network with Keras 2's SGD(lr=0.1, momentum=0.8, decay=0.002)."""
    x, y, n_val = ionosphere_arrays()
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((34,)),
            keras.layers.Dense(34, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    opt = lk.keras2_optimizer("sgd", lr=0.1, momentum=0.8, decay=0.002, nesterov=False)
    model.compile(optimizer=opt, loss="binary_crossentropy", metrics=["accuracy"])
    probe, logger = Probe(), lk.LearningRateLogger()
    history = model.fit(
        x, y, validation_split=0.33, epochs=50, batch_size=28, verbose=0, callbacks=[probe, logger]
    )
    k = np.arange(50 * 9)  # 235 training rows: 9 batches of 28 per epoch
    assert probe.steps == k.tolist()
    np.testing.assert_allclose(probe.lrs, 0.1 / (1 + 0.002 * k), rtol=1e-6)
    np.testing.assert_allclose(
        history.history["learning_rate"], 0.1 / (1 + 0.002 * k[::9]), rtol=1e-6
    )
    # Keras held out exactly lrlab's split="keras" test part
    assert len(x) - int(np.floor(len(x) * (1 - 0.33))) == n_val == 116
    # it learned: the whole data set's majority class is 64%, the training part's 50% and the
    # held-out part's 92% (almost all 'good'), so beat each clearly
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["val_accuracy"][-1] > 0.95


KERAS2_CASES = [
    ("sgd", dict(lr=0.1, momentum=0.8, nesterov=True), "SGD", dict(momentum=0.8, nesterov=True)),
    (
        "Adam",
        dict(lr=0.002, beta_1=0.8, epsilon=None, amsgrad=True),
        "Adam",
        dict(beta_1=0.8, epsilon=1e-7, amsgrad=True),
    ),
    ("rmsprop", dict(rho=0.8, epsilon=1e-6), "RMSprop", dict(rho=0.8, epsilon=1e-6)),
    ("adagrad", dict(lr=0.01, epsilon=None), "Adagrad", dict(epsilon=1e-7)),
    ("adadelta", dict(learning_rate=1.0, rho=0.9), "Adadelta", dict(rho=0.9)),
    ("adamax", dict(lr=0.002, clipnorm=1.0), "Adamax", dict(clipnorm=1.0)),
]


@pytest.mark.parametrize(
    ("name", "args", "cls", "config"), KERAS2_CASES, ids=[c[0] for c in KERAS2_CASES]
)
def test_keras2_optimizer_maps_arguments(name, args, cls, config):
    opt = lk.keras2_optimizer(name, decay=0.01, **args)
    assert type(opt).__name__ == cls
    got = opt.get_config()
    assert {k: got[k] for k in config} == config
    lr = args.get("lr", args.get("learning_rate", lk.KERAS2_OPTIMIZERS[name.lower()][1]))
    assert opt._learning_rate.schedule == sch.keras2_decay(lr=lr, decay=0.01)
    plain = lk.keras2_optimizer(name, **args)  # no decay: a float rate, as Keras 2 had
    assert isinstance(plain._learning_rate, keras.Variable)
    assert float(plain.learning_rate) == pytest.approx(lr)


def test_keras2_optimizer_errors():
    with pytest.raises(ValueError, match="lr is required for 'adagrad'"):
        lk.keras2_optimizer("adagrad")
    with pytest.raises(ValueError, match="'nadam' is not supported"):
        lk.keras2_optimizer("nadam", lr=0.002)
    with pytest.raises(ValueError, match="name must be one of 'sgd', 'adam'"):
        lk.keras2_optimizer("lbfgs")
    with pytest.raises(ValueError, match="SGD does not take momentun"):
        lk.keras2_optimizer("sgd", lr=0.1, momentun=0.9)
    with pytest.raises(ValueError, match="give lr or learning_rate, not both"):
        lk.keras2_optimizer("sgd", lr=0.1, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"decay must be a finite number >= 0, got -0\.1"):
        lk.keras2_optimizer("sgd", lr=0.1, decay=-0.1)


def test_keras3_drops_what_keras2_meant():
    """Why the helper exists: Keras 3 rejects lr= and trains with a constant rate given decay=."""
    with pytest.raises(ValueError, match="Argument\\(s\\) not recognized"):
        keras.optimizers.SGD(lr=0.1)
    with pytest.warns(UserWarning, match="`decay` is no longer supported and will be ignored"):
        opt = keras.optimizers.SGD(learning_rate=0.1, decay=0.002)
    model, probe = sum_model(None, optimizer=opt), Probe()
    fit(model, 2, [probe])
    assert probe.lrs == [pytest.approx(0.1)] * 8


def test_per_epoch_decay_warning():
    with pytest.warns(UserWarning, match=r"decay=0.002 equals lr/50.*every update"):
        lk.keras2_optimizer("sgd", lr=0.1, decay=0.1 / 50, epochs=50, steps_per_epoch=9)
    with pytest.warns(UserWarning, match=r"decay=0.002 equals lr/epochs = 0.1/50"):
        lk.keras2_optimizer("sgd", lr=0.1, decay=0.1 / 50, epochs=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lk.keras2_optimizer("sgd", lr=0.1, decay=0.1 / (50 * 9), epochs=50, steps_per_epoch=9)
        lk.keras2_optimizer("sgd", lr=0.01, decay=1e-6, momentum=0.9, epochs=50, steps_per_epoch=9)
        lk.keras2_optimizer("sgd", lr=0.1, decay=0.1 / 50, epochs=50, steps_per_epoch=1)
        lk.keras2_optimizer("sgd", lr=0.1, decay=0.1 / 50)  # no epochs: nothing to compare with
        lk.keras2_optimizer("adam", lr=0.001, decay=0.001 / 50, epochs=20)


# -- import behaviour and the JAX backend -------------------------------------------------------
def test_alias_module_and_lazy_import():
    assert lrlab.keras.KerasSchedule is lk.KerasSchedule
    assert lrlab.keras.keras2_optimizer is lk.keras2_optimizer
    assert set(lrlab.keras.__all__) == set(lk.__all__)
    code = (
        "import sys, lrlab.keras, lrlab.integrations.keras as k; "
        "[getattr(m, n) for m in (k, lrlab.keras) for n in dir(m)]; "  # as pytest's collection
        "assert 'keras' not in sys.modules; print(sorted(k.__all__))"
    )
    env = {key: v for key, v in os.environ.items() if key != "KERAS_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "KerasSchedule" in out.stdout
