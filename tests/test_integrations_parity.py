"""One table of schedules through all three adapters: the same learning rate at every step.

The step-0 convention is pinned here once for every framework: ``s(k)`` is the rate of the
(k+1)-th optimizer update — torch after ``k`` calls of ``scheduler.step()``, Keras at
``optimizer.iterations == k``, Optax at ``count == k``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from lrlab.control import Plateau
from lrlab.schedules import (
    by_epoch,
    clip,
    constant,
    cosine,
    cosine_restarts,
    cyclic,
    exponential,
    inverse_sqrt,
    inverse_time,
    join,
    keras2_decay,
    linear,
    multistep,
    noam,
    one_cycle,
    piecewise_constant,
    polynomial,
    recurrence,
    shift,
    step_decay,
    warmup,
    warmup_cosine,
    wsd,
)

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

from lrlab.integrations.keras import KerasSchedule, ReduceLROnPlateau  # noqa: E402
from lrlab.integrations.optax import current_lr, plateau, plateau_scale, to_optax  # noqa: E402
from lrlab.integrations.torch import LrlabScheduler  # noqa: E402

N = 1000


def _tenth(epoch: int, lr: float) -> float:
    return lr * 0.9 if epoch % 100 == 99 else lr


TABLE = {
    "constant": constant(0.1),
    "linear": linear(init=0.1, end=0.001, steps=800),
    "polynomial": polynomial(init=0.1, decay_steps=700, end=1e-3, power=2.0),
    "inverse_time": inverse_time(init=0.1, decay_rate=0.5, decay_steps=100, staircase=True),
    "keras2_decay": keras2_decay(lr=0.1, decay=0.002),
    "step_decay": step_decay(init=0.1, drop=0.5, every=150, offset=1),
    "multistep": multistep(init=0.1, milestones=[300, 600, 600], factor=0.3),
    "piecewise": piecewise_constant(boundaries=[250, 500], values=[0.1, 0.05, 0.01]),
    "exponential": exponential(init=0.1, decay_rate=0.96, decay_steps=50, end=0.01),
    "cosine": cosine(init=0.1, decay_steps=600, alpha=0.05),
    "cosine_periodic": cosine(init=0.1, decay_steps=300, end=0.01, past_end="periodic"),
    "restarts": cosine_restarts(init=0.1, first_period=100, t_mul=2.0, m_mul=0.8),
    "cyclic": cyclic(base=0.01, peak=0.1, step_size_up=120, mode="triangular2"),
    "one_cycle": one_cycle(peak=0.1, total_steps=N),
    "inverse_sqrt": inverse_sqrt(peak=0.1, warmup_steps=100),
    "noam": noam(d_model=64, warmup_steps=200),
    "wsd": wsd(peak=0.1, total_steps=N, warmup_steps=100, decay_steps=200, decay="1-sqrt"),
    "warmup_cosine": warmup_cosine(peak=0.1, warmup_steps=100, total_steps=N),
    "warmup_exp": warmup(
        exponential(init=0.1, decay_rate=0.5, decay_steps=400),
        steps=50,
        start=0.001,
        shape="exponential",
    ),
    "join": join([constant(0.1), 0.5 * linear(init=0.1, end=0.0, steps=300)], boundaries=[600]),
    "clip_shift_product": clip(shift(cosine(init=0.2, decay_steps=500), steps=100), floor=0.01)
    * linear(init=1.0, end=0.5, steps=N),
    "by_epoch": by_epoch(step_decay(init=0.1, drop=0.5, every=3), steps_per_epoch=40),
    "recurrence": by_epoch(recurrence(_tenth, init=0.1, horizon=N), steps_per_epoch=1),
}


def _torch_lrs(s) -> np.ndarray:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=123.0)  # the scheduler owns the rate
    sched = LrlabScheduler(opt, s)
    out = []
    for _ in range(N):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.asarray(out)


def _keras_lrs(s) -> np.ndarray:
    opt = keras.optimizers.SGD(learning_rate=KerasSchedule(s))
    v = keras.Variable(np.zeros(1, "float32"))
    opt.build([v])
    zero = keras.ops.zeros((1,))

    def update():
        lr = opt.learning_rate
        opt.apply_gradients([(zero, v)])
        return lr

    if keras.backend.backend() == "tensorflow":  # as fit runs it (eager TF: seconds per case)
        import tensorflow as tf

        update = tf.function(update)
    out = [float(keras.ops.convert_to_numpy(update())) for _ in range(N)]
    assert int(opt.iterations) == N
    return np.asarray(out)


def _optax_lrs(s) -> np.ndarray:
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=to_optax(s))
    params = jax.numpy.zeros(1)
    state = opt.init(params)

    def body(state, _):
        _, state = opt.update(jax.numpy.zeros(1), state, params)
        return state, current_lr(state)

    _, lrs = jax.lax.scan(body, state, None, length=N)
    return np.asarray(lrs, dtype=np.float64)


@pytest.mark.parametrize("name", list(TABLE))
def test_all_adapters_give_the_schedule_at_every_step(name):
    s = TABLE[name]
    ref = np.asarray(s(np.arange(N)), dtype=np.float64)
    # Keras and Optax compute in float32: relative error ~1e-7 of the largest value involved
    tol = {"rtol": 2e-6, "atol": 2e-7 * float(np.abs(ref).max())}
    np.testing.assert_allclose(_torch_lrs(s), ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(_keras_lrs(s), ref, **tol)
    np.testing.assert_allclose(_optax_lrs(s), ref, **tol)


def test_the_table_covers_every_schedule_kind():
    from lrlab.schedules import REGISTRY

    seen = {type(node).kind for s in TABLE.values() for node in s.walk()}
    missing = set(REGISTRY) - seen - {"custom"}  # custom: a Python function, not traceable
    assert not missing, f"parity table lacks {sorted(missing)}"


METRICS = [1.0, 0.9, 0.9, 0.95, 0.92, 0.91, 0.8, 0.85, 0.85, 0.9, 0.7, 0.71, 0.72, 0.72, 0.73]
STEPS_PER_EPOCH = 10


def test_plateau_multiplier_agrees_across_adapters():
    """ReduceLROnPlateau (Keras' rules) on a warmup-cosine: the multiplier after each epoch and
    the rate of every update agree between the torch scheduler, the Keras callback and the Optax
    transformation (whose window of 10 updates stands for an epoch)."""
    s = warmup_cosine(
        peak=0.1, warmup_steps=20, total_steps=len(METRICS) * STEPS_PER_EPOCH, end=0.001
    )
    rule = {"factor": 0.5, "patience": 2, "cooldown": 1}
    total = len(METRICS) * STEPS_PER_EPOCH

    # lrlab.control itself
    p = Plateau(convention="keras", threshold=1e-4, **rule)
    state, expected = p.init(), []
    for m in METRICS:
        state = p.update(state, m)
        expected.append(float(state.scale))

    # torch
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    sched = LrlabScheduler(opt, s, plateau=Plateau(convention="keras", threshold=1e-4, **rule))
    torch_lrs, torch_scales = [], []
    for m in METRICS:
        for _ in range(STEPS_PER_EPOCH):
            torch_lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        sched.step(m)
        torch_scales.append(opt.param_groups[0]["lr"] / s(len(torch_lrs)))

    # Keras: the callback driven as fit drives it, the optimizer holding a KerasSchedule
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=KerasSchedule(s)), loss="mse")
    model.optimizer.build(model.trainable_variables)
    cb = ReduceLROnPlateau(monitor="val_loss", min_delta=1e-4, **rule)
    cb.set_model(model)
    cb.on_train_begin()
    zeros = [keras.ops.zeros(v.shape, dtype=v.dtype) for v in model.trainable_variables]
    keras_lrs, keras_scales = [], []
    for epoch, m in enumerate(METRICS):
        for _ in range(STEPS_PER_EPOCH):
            keras_lrs.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
            model.optimizer.apply_gradients(zip(zeros, model.trainable_variables))
        cb.on_epoch_end(epoch, {"val_loss": m})
        now = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        keras_scales.append(now / s(int(model.optimizer.iterations)))

    # Optax: one window of STEPS_PER_EPOCH updates per epoch, fed that epoch's metric
    tx = optax.chain(
        optax.sgd(to_optax(s)),
        plateau(convention="keras", accumulation_size=STEPS_PER_EPOCH, threshold=1e-4, **rule),
    )
    params = jax.numpy.zeros(1)
    ostate = tx.init(params)
    optax_scales = []
    for m in METRICS:
        for _ in range(STEPS_PER_EPOCH):
            _, ostate = tx.update(jax.numpy.ones(1), ostate, params, value=m)
        optax_scales.append(float(plateau_scale(ostate)))

    assert min(expected) < 1.0, "the metric sequence must trigger reductions"
    # the keras convention holds each reduced rate in float32, as Keras' variable does; on a
    # schedule that rate is s(step) * scale, so the multipliers agree to float32 rounding
    np.testing.assert_allclose(torch_scales, expected, rtol=1e-6)
    np.testing.assert_allclose(keras_scales, expected, rtol=2e-6)
    np.testing.assert_allclose(optax_scales, expected, rtol=2e-6)
    scale_per_step = np.repeat([1.0, *expected[:-1]], STEPS_PER_EPOCH)
    ref = s(np.arange(total)) * scale_per_step
    np.testing.assert_allclose(torch_lrs, ref, rtol=1e-6)
    np.testing.assert_allclose(keras_lrs, ref, rtol=2e-6, atol=2e-8)
