"""LrlabScheduler serves each step's rate from blocks of the schedule's vectorised form: the rate
is bit for bit the one-element evaluation ``s(np.array([k]))[0]`` and the lr table
``s(np.arange(n))[k]``, for every family and composition, whether the run steps, jumps with
``step(epoch=k)`` or resumes from a checkpoint; schedules that call a user's function are
evaluated one step at a time and never ahead of the run.

Every equality here compares two evaluations of the same float64 NumPy operations on the same
machine, never a value written down, so ``==`` is exact and portable: what is tested is that the
position of a step in a block (and the block's length) does not change its float.
"""

from __future__ import annotations

import io
import math
import warnings
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lrlab.schedules as sch  # noqa: E402
from lrlab.control import Plateau  # noqa: E402
from lrlab.schedules import Rates  # noqa: E402
from lrlab.torch import LrlabScheduler  # noqa: E402

#: steps per run: several blocks of 512, with every schedule's transitions inside
N = 2000


def halve_every_third(epoch: int, lr: float) -> float:
    """A Keras LearningRateScheduler function: halve at epochs 2, 5, 8, ..."""
    return lr * 0.5 if epoch % 3 == 2 else lr


def wiggle(t: float) -> float:
    """A custom schedule on Python floats, with ``math`` functions NumPy also has."""
    return 0.05 * (1.0 + math.cos(t / 37.0)) * math.exp(-t / 3000.0) + 1e-4


def wiggle_vectorized(t: np.ndarray) -> np.ndarray:
    return 0.05 * (1.0 + np.cos(t / 37.0)) * np.exp(-t / 3000.0) + 1e-4


# every family, with parameters that put its transitions (drops, restarts, the end of a decay,
# the exponent's fractional part) inside the first N steps; and compositions of them
SCHEDULES = {
    "constant": sch.constant(0.1),
    "linear": sch.linear(init=0.1, end=0.001, steps=1500),
    "polynomial": sch.polynomial(init=0.1, decay_steps=1500, power=2.3, end=1e-4),
    "polynomial-cycle": sch.polynomial(init=0.1, decay_steps=333, power=0.7, cycle=True),
    "inverse_time": sch.inverse_time(init=0.1, decay_rate=0.7, decay_steps=100),
    "inverse_time-staircase": sch.inverse_time(0.1, 0.5, decay_steps=41, staircase=True),
    "keras2_decay": sch.keras2_decay(lr=0.1, decay=0.003),
    "step_decay": sch.step_decay(init=0.1, drop=0.7, every=7),
    "step_decay-offset": sch.step_decay(init=0.1, drop=0.9, every=41, offset=1),
    "multistep": sch.multistep(init=0.1, milestones=[300, 600, 600, 1500], factor=0.3),
    "multistep-after": sch.multistep(init=0.1, milestones=[511, 512], switch="after"),
    "piecewise_constant": sch.piecewise_constant([500, 1000], [0.1, 0.03, 0.007]),
    "exponential": sch.exponential(init=0.1, decay_rate=0.999),
    "exponential-staircase": sch.exponential(0.1, 0.96, decay_steps=41, staircase=True),
    "exponential-end": sch.exponential(init=0.1, decay_rate=0.99, end=0.003),
    "cosine": sch.cosine(init=0.1, decay_steps=1500),
    "cosine-alpha-exponent": sch.cosine(init=0.1, decay_steps=1700, alpha=0.01, exponent=1.7),
    "cosine-periodic": sch.cosine(init=0.1, decay_steps=300, past_end="periodic"),
    "cosine_restarts": sch.cosine_restarts(init=0.1, first_period=300),
    "cosine_restarts-t_mul2": sch.cosine_restarts(init=0.1, first_period=100, t_mul=2.0),
    "cosine_restarts-t_mul1.5-m_mul": sch.cosine_restarts(
        init=0.1, first_period=64, t_mul=1.5, m_mul=0.8, alpha=0.01
    ),
    "cyclic": sch.cyclic(base=0.01, peak=0.1, step_size_up=150),
    "cyclic-triangular2": sch.cyclic(0.01, 0.1, 100, step_size_down=60, mode="triangular2"),
    "cyclic-exp_range": sch.cyclic(0.01, 0.1, 100, mode="exp_range", gamma=0.9993),
    "inverse_sqrt": sch.inverse_sqrt(peak=0.1, warmup_steps=300),
    "noam": sch.noam(d_model=512, warmup_steps=400),
    "one_minus_sqrt": sch.one_minus_sqrt(init=0.1, decay_steps=1500),
    "one_cycle": sch.one_cycle(peak=0.1, total_steps=1900),
    "one_cycle-linear-three_phase": sch.one_cycle(
        peak=0.1, total_steps=1900, anneal="linear", three_phase=True
    ),
    "one_cycle_fastai": sch.one_cycle_fastai(0.1, 1900),
    "warmup_cosine": sch.warmup_cosine(peak=0.1, warmup_steps=200, total_steps=1900),
    "wsd": sch.wsd(peak=0.1, total_steps=1900, warmup_steps=100, decay_steps=600),
    "wsd-cosine": sch.wsd(0.1, 1900, 100, 600, decay="cosine"),
    "wsd-1-sqrt": sch.wsd(0.1, 1900, 100, 600, decay="1-sqrt"),
    "warmup-linear": sch.warmup(sch.cosine(init=0.1, decay_steps=1700), steps=300),
    "warmup-cosine": sch.warmup(sch.step_decay(0.1, 0.5, 400), steps=300, shape="cosine"),
    "warmup-exponential": sch.warmup(
        sch.exponential(0.1, 0.999), steps=300, start=1e-4, shape="exponential"
    ),
    "join": sch.join(
        [sch.linear(init=0.01, end=0.1, steps=100), sch.cosine(init=0.1, decay_steps=1900)],
        boundaries=[100],
    ),
    "scale-product": 0.5 * sch.cosine(init=0.2, decay_steps=1500) * sch.exponential(1.0, 0.9995),
    "clip": sch.clip(sch.exponential(init=0.2, decay_rate=0.99), floor=0.001, ceiling=0.1),
    "shift": sch.shift(sch.polynomial(init=0.1, decay_steps=900, power=1.5), steps=700),
    "shift-negative": sch.shift(sch.cosine(init=0.1, decay_steps=2500), steps=-300),
    "by_epoch": sch.by_epoch(sch.step_decay(init=0.1, drop=0.8, every=3), steps_per_epoch=37),
    "by_epoch-fractional": sch.by_epoch(
        sch.cosine(init=0.1, decay_steps=50), steps_per_epoch=37, fractional=True
    ),
    "recurrence-horizon": sch.by_epoch(
        sch.recurrence(halve_every_third, init=0.1, horizon=40), steps_per_epoch=50
    ),
    "recurrence": sch.by_epoch(sch.recurrence(halve_every_third, init=0.1), steps_per_epoch=50),
    "custom": sch.custom(wiggle),
    "custom-vectorized": sch.custom(wiggle_vectorized, vectorized=True),
    "custom-in-warmup": sch.warmup(sch.custom(wiggle), steps=100),
}

#: schedules that call a user's function: evaluated one step at a time
ONE_AT_A_TIME = {"recurrence", "custom", "custom-vectorized", "custom-in-warmup"}


def _one_element(s: sch.Schedule, k: int) -> float:
    """The rate of the scheduler's one-step path: ``s`` on a one-element float64 array."""
    return s(np.array([k], dtype=np.float64)).tolist()[0]


def _run(s: sch.Schedule, n: int) -> list[float]:
    """The lr of each of ``n`` updates of a training loop (``lr`` read before each update)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_step_is_s_of_k_the_one_element_evaluation_and_the_lr_table(name):
    s = SCHEDULES[name]
    assert Rates(s).block == (1 if name in ONE_AT_A_TIME else 512)
    lrs = _run(s, N)
    assert all(type(v) is float for v in lrs)
    assert lrs == [_one_element(s, k) for k in range(N)]
    assert lrs == s(np.arange(N)).tolist()
    assert lrs == [s(k) for k in range(N)]  # the schedule called on a Python int
    assert len(set(lrs)) > 1 or name == "constant"  # the schedule moves inside the run


@pytest.mark.parametrize("name", sorted(set(SCHEDULES) - ONE_AT_A_TIME))
def test_a_steps_float_does_not_depend_on_its_block(name):
    """Blocks of other lengths, so other positions of each step in its block (and blocks
    shorter than a SIMD vector, and a last partial vector), give the same floats."""
    s = SCHEDULES[name]
    want = s(np.arange(N)).tolist()
    for block in (1, 2, 3, 7, 8, 64, 100, 512, 1031):
        rates = Rates(s, block)
        assert rates.block == block
        assert [rates.at(k) for k in range(N)] == want, block


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_jumps_and_resumes_land_exactly(name):
    s = SCHEDULES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s)
    # step(epoch=k) in any order: into the current block, back, forward past several blocks
    for k in [*rng.integers(0, 3 * N, 40).tolist(), 511, 512, 0, 1023, 1024]:
        sched.step(epoch=k)
        assert opt.param_groups[0]["lr"] == _one_element(s, k), k
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    # a checkpoint at step k, loaded into a fresh scheduler, continues as the uninterrupted run
    full = _run(s, N)
    for k in (0, 1, 511, 512, 777, 1536):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = LrlabScheduler(opt, s)
        for _ in range(k):
            sched.step()
        buf = io.BytesIO()
        torch.save(sched.state_dict(), buf)
        buf.seek(0)
        opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        resumed = LrlabScheduler(opt2, s)
        resumed.step(epoch=1999)  # rates of another block cached before the load
        resumed.load_state_dict(torch.load(buf, weights_only=True))
        got = []
        for _ in range(k, min(k + 600, N)):
            got.append(opt2.param_groups[0]["lr"])
            resumed.step()
        assert got == full[k : k + 600], k


def test_scales_plateau_and_momentum_use_the_same_floats():
    s = SCHEDULES["warmup_cosine"]
    mom = sch.one_cycle_momentum(total_steps=1900)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(
        [{"params": [model.weight]}, {"params": [model.bias]}], lr=1.0, momentum=0.9
    )
    sched = LrlabScheduler(
        opt, s, scales=[1.0, 0.3], momentum=mom, plateau=Plateau(patience=0, factor=0.5)
    )
    table, mtable = s(np.arange(N)).tolist(), mom(np.arange(N)).tolist()
    scale = 1.0
    for k in range(N):
        assert [g["lr"] for g in opt.param_groups] == [
            table[k] * 1.0 * scale,
            table[k] * 0.3 * scale,
        ]
        assert [g["momentum"] for g in opt.param_groups] == [mtable[k]] * 2
        if k % 500 == 499:  # the same metric again: the plateau halves the rates
            sched.step(1.0)
            scale = float(sched.plateau_state.scale[0])
        sched.step()
    assert scale < 1.0


def test_replaced_schedules_are_read_again():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, sch.constant(0.1))
    sched.schedules = (sch.linear(init=0.2, end=0.0, steps=4),)
    sched.step()
    assert opt.param_groups[0]["lr"] == _one_element(sched.schedules[0], 1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.15)


class _Recorder:
    """A custom or recurrence function that records the steps it is called for."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def custom(self, t: float) -> float:
        self.seen.append(t)
        return 0.1 / (1.0 + t)

    def recurrence(self, epoch: int, lr: float) -> float:
        self.seen.append(epoch)
        return lr * 0.9


@pytest.mark.parametrize("kind", ["custom", "recurrence", "custom-in-join"])
def test_a_users_function_is_never_called_ahead_of_the_run(kind):
    rec = _Recorder()
    s = {
        "custom": sch.custom(rec.custom),
        "recurrence": sch.recurrence(rec.recurrence, init=0.1),
        "custom-in-join": sch.join([sch.constant(0.1), sch.custom(rec.custom)], [2]),
    }[kind]
    assert Rates(s).block == 1
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s)
    for _ in range(9):
        sched.step()
    assert max(rec.seen) <= 9
    assert opt.param_groups[0]["lr"] == _one_element(s, 9)


def test_schedule_classes_from_elsewhere_are_evaluated_one_step_at_a_time():
    class Doubled(sch.Constant):  # an _eval that could look at other steps: not lrlab's
        def _eval(self, t, ops):
            return 2.0 * super()._eval(t, ops)

    assert Rates(Doubled(0.1)).block == 1
    assert Rates(sch.warmup(Doubled(0.1), steps=10)).block == 1
    assert Rates(sch.recurrence(halve_every_third, 0.1, horizon=5)).block == 512
    assert _run(Doubled(0.1), 3) == [0.2] * 3


def test_a_bad_rate_raises_at_its_own_step_and_steps_ahead_warn_nothing():
    # 2 ** (k / 1.25) overflows from k = 1280, inside the block 1024 .. 1535
    s = sch.exponential(init=1e-300, decay_rate=2.0, decay_steps=1.25)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning from steps ahead would raise here
        sched = LrlabScheduler(opt, s)
        for _ in range(1279):
            sched.step()
        assert opt.param_groups[0]["lr"] == _one_element(s, 1279)
        with pytest.raises(ValueError, match=r"schedule\[0\] gave inf at step 1280"):
            sched.step()
    assert opt.param_groups[0]["lr"] == _one_element(s, 1279)  # never applied
    # a rate that turns negative: every step before it is applied, that step raises
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, sch.linear(init=0.1, end=-0.1, steps=1000))
    for _ in range(500):
        sched.step()
    with pytest.raises(ValueError, match=r"at step 501; it must be finite, >= 0"):
        sched.step()


@pytest.mark.parametrize("k", [2**53 - 2048, 2**53 - 513, 2**53 - 1, 2**53, 2**53 + 700, 2**60])
def test_steps_near_and_past_float64s_integers(k):
    """Blocks only where float64 holds every step of the block; one step at a time beyond."""
    s = sch.cosine(init=0.1, decay_steps=2**54, past_end="periodic")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s)
    sched.step(epoch=k)
    assert opt.param_groups[0]["lr"] == _one_element(s, k)
    rates = sched._rates_lr()[0]
    assert rates.hi - rates.lo == (512 if k < 2**53 else 1)


def test_a_tensor_rate_and_a_float_rate_side_by_side():
    """A group whose ``lr`` is a tensor is filled in place and reported as a copy; a float
    group next to it gets a float."""
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam(
        [{"params": [a], "lr": torch.tensor(0.5, dtype=torch.float64)}, {"params": [b]}],
        lr=0.5,
        foreach=False,
    )
    lr_tensor = opt.param_groups[0]["lr"]
    s = SCHEDULES["one_cycle"]
    sched = LrlabScheduler(opt, s, scales=[1.0, 0.5])
    for k in range(1, 600):
        sched.step()
        want = _one_element(s, k)
        assert opt.param_groups[0]["lr"] is lr_tensor and float(lr_tensor) == want
        assert opt.param_groups[1]["lr"] == want * 0.5
        tensor_copy, rate = sched.get_last_lr()
        assert tensor_copy is not lr_tensor and float(tensor_copy) == want
        assert type(rate) is float and rate == want * 0.5
