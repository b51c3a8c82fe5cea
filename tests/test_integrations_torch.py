"""lrlab.integrations.torch: LrlabScheduler in real training loops, plateau composition against
lrlab.control.Plateau and torch's ReduceLROnPlateau, resume through torch.save/torch.load
(weights_only=True), PyTorch Lightning, GradScaler step skips, validation."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lrlab.integrations.torch as lt  # noqa: E402
import lrlab.schedules as sch  # noqa: E402
from lrlab.control import Plateau  # noqa: E402
from lrlab.torch import LrlabScheduler  # noqa: E402


def halve_every_third(epoch: int, lr: float) -> float:
    """A Keras LearningRateScheduler function: halve at epochs 2, 5, 8, ..."""
    return lr * 0.5 if epoch % 3 == 2 else lr


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def _groups(model: torch.nn.Module, n: int) -> list[dict]:
    """One param group (all parameters) or two (first layer = "backbone", last = "head")."""
    if n == 1:
        return [{"params": list(model.parameters())}]
    return [{"params": list(model[0].parameters())}, {"params": list(model[2].parameters())}]


def _batches(n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, generator=g), torch.randn(8, 1, generator=g)) for _ in range(n)]


def _train_step(model, opt, batch) -> float:
    x, y = batch
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _momenta(opt) -> list[float]:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


# -- the lrs of a real training loop equal the schedule ------------------------------------------
N = 24

LOOP_CASES = {
    # id: (optimizer, groups, schedule(s), scales, momentum, interval, steps_per_epoch, fractional)
    "cosine": ("sgd", 1, sch.cosine(init=0.1, decay_steps=20), None, None, "step", None, False),
    "warmup_cosine-2groups-scales": (
        "sgd",
        2,
        sch.warmup_cosine(0.1, 5, 20),
        [0.1, 1.0],
        None,
        "step",
        None,
        False,
    ),
    "one_cycle-sgd-momentum": (
        "sgd",
        2,
        sch.one_cycle(0.1, N),
        None,
        sch.one_cycle_momentum(N),
        "step",
        None,
        False,
    ),
    "one_cycle-adam-beta1": (
        "adam",
        2,
        sch.one_cycle(0.01, N),
        [1.0, 0.5],
        sch.one_cycle_momentum(N),
        "step",
        None,
        False,
    ),
    "step_decay-per-epoch": (
        "sgd",
        1,
        sch.step_decay(init=0.1, drop=0.5, every=2),
        None,
        None,
        "step",
        np.int64(4),  # len(loader) or a NumPy integer
        False,
    ),
    "cosine-per-epoch-fractional": (
        "adam",
        2,
        sch.cosine(init=0.01, decay_steps=5),
        [1.0, 0.1],
        None,
        "step",
        4,
        True,
    ),
    "multistep-interval-epoch": (
        "sgd",
        1,
        sch.multistep(init=0.1, milestones=[3, 7], factor=0.1),
        None,
        None,
        "epoch",
        None,
        False,
    ),
    "recurrence-interval-epoch": (
        "adamw",
        2,
        sch.recurrence(halve_every_third, init=0.1),
        None,
        None,
        "epoch",
        None,
        False,
    ),
    "list-of-schedules": (
        "rmsprop",
        2,
        [sch.exponential(init=0.01, decay_rate=0.9), sch.linear(init=0.0, end=0.02, steps=10)],
        [1.0, 2.0],
        [sch.constant(0.5), sch.linear(init=0.9, end=0.0, steps=N)],
        "step",
        None,
        False,
    ),
}

OPTIMIZERS = {
    "sgd": lambda groups: torch.optim.SGD(groups, lr=123.0, momentum=0.9),
    "adam": lambda groups: torch.optim.Adam(groups, lr=123.0),
    "adamw": lambda groups: torch.optim.AdamW(groups, lr=123.0),
    "rmsprop": lambda groups: torch.optim.RMSprop(groups, lr=123.0, momentum=0.5),
}


def _expected(schedule, k: np.ndarray, spe: int | None, fractional: bool) -> np.ndarray:
    """Reference values, built from the schedule on a vector of steps (no scheduler involved)."""
    if spe is None:
        return schedule(k)
    e = k / spe
    return schedule(e if fractional else np.floor(e))


@pytest.mark.parametrize("case", list(LOOP_CASES), ids=list(LOOP_CASES))
def test_training_loop_lrs_equal_the_schedule(case):
    opt_name, n, schedule, scales, momentum, interval, spe, fractional = LOOP_CASES[case]
    model = _model()
    opt = OPTIMIZERS[opt_name](_groups(model, n))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing at construction, nothing while training
        sched = LrlabScheduler(
            opt,
            schedule,
            scales=scales,
            interval=interval,
            steps_per_epoch=spe,
            fractional=fractional,
            momentum=momentum,
        )
        lrs, moms, last = [], [], []
        batches = _batches(3 if interval == "epoch" else 1)
        for _ in range(N):  # N updates (interval="step") or N epochs of 3 batches ("epoch")
            lrs.append([g["lr"] for g in opt.param_groups])
            moms.append(_momenta(opt))
            last.append(sched.get_last_lr())
            for batch in batches:
                _train_step(model, opt, batch)
                if interval == "step":
                    break
            sched.step()
    lrs, moms = np.array(lrs), np.array(moms)
    assert lrs.shape == (N, n)
    assert last == lrs.tolist()
    k = np.arange(N)
    schedules = schedule if isinstance(schedule, list) else [schedule] * n
    for g in range(n):
        want = _expected(schedules[g], k, spe, fractional) * (1.0 if scales is None else scales[g])
        np.testing.assert_array_equal(lrs[:, g], want, err_msg=f"{case}: group {g}")
        if momentum is not None:
            ms = momentum if isinstance(momentum, list) else [momentum] * n
            np.testing.assert_array_equal(moms[:, g], ms[g](k), err_msg=f"{case}: momentum {g}")
    assert sched.last_epoch == N
    if opt_name.startswith("adam") and momentum is not None:  # beta2 untouched
        assert all(g["betas"][1] == 0.999 for g in opt.param_groups)


def test_every_schedule_family_runs_exactly(schedule_case):
    """Every schedule lrlab has (conftest.SCHEDULE_CASES): step() k times gives s(k) exactly."""
    _, schedule = schedule_case
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, schedule)
    got = []
    for _ in range(30):
        got.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_array_equal(got, schedule(np.arange(30)))


def test_the_optimizers_lr_is_ignored():
    """The schedule's values are absolute: the optimizer's lr argument changes nothing."""
    runs = []
    for lr in (1e-3, 7.0):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        sched = LrlabScheduler(opt, sch.linear(init=0.1, end=0.0, steps=4))
        runs.append([sched.get_last_lr()[0] for _ in range(5) if sched.step() is None])
        assert opt.param_groups[0]["initial_lr"] == lr  # torch's record, unused
        assert sched.base_lrs == [0.1]
    assert runs[0] == runs[1]


def test_base_lrs_and_closed_form():
    opt = torch.optim.SGD(_groups(_model(), 2), lr=1.0)
    sched = LrlabScheduler(opt, sch.cosine(init=0.2, decay_steps=10), scales=[0.5, 1.0])
    assert sched.base_lrs == [0.1, 0.2]
    sched.step(epoch=5)
    assert sched.last_epoch == 5
    assert sched.get_lr() == sched._get_closed_form_lr() == sched.get_last_lr()
    assert sched.get_last_lr() == [0.5 * 0.1, 0.1]


def test_tensor_lr_is_filled_in_place():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([p], lr=torch.tensor(0.5, dtype=torch.float64), foreach=False)
    lr_tensor = opt.param_groups[0]["lr"]
    sched = LrlabScheduler(opt, sch.linear(init=0.1, end=0.0, steps=2))
    p.grad = torch.ones(2)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr_tensor
    assert float(lr_tensor) == 0.05
    (last,) = sched.get_last_lr()
    assert isinstance(last, torch.Tensor) and last is not lr_tensor and float(last) == 0.05


# -- plateau composition -------------------------------------------------------------------------
METRICS = [1.0, 0.8, 0.8, 0.81, 0.79, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5]


@pytest.mark.parametrize("n", [1, 2])
def test_plateau_times_warmup_cosine_interval_step(n):
    """interval="step": step() per batch advances; step(metric) at epoch end only feeds the
    plateau. The lr is schedule(k) * scale_g * the multiplier Plateau gives on the same metrics
    (fed with lr = the un-scaled rate of the next update)."""
    B = 3  # batches per epoch
    s = sch.warmup_cosine(0.1, 4, B * len(METRICS))
    scales = [1.0] if n == 1 else [0.1, 1.0]
    plateau = Plateau(patience=0, factor=0.5, min_lr=2e-3)
    model = _model()
    opt = torch.optim.SGD(_groups(model, n), lr=1.0)
    sched = LrlabScheduler(opt, s, scales=scales, plateau=plateau)
    batches = _batches(B)
    got = []
    for m in METRICS:
        for batch in batches:
            got.append([g["lr"] for g in opt.param_groups])
            _train_step(model, opt, batch)
            sched.step()
        before = sched.last_epoch
        sched.step(m)
        assert sched.last_epoch == before
    # reference: lrlab.control.Plateau alone, per group
    ref_scale = [[] for _ in range(n)]
    for g in range(n):
        state = plateau.init()
        for e, m in enumerate(METRICS):
            ref_scale[g].extend([state.scale] * B)
            state = plateau.update(state, m, lr=s((e + 1) * B) * scales[g])
    got = np.array(got)
    k = np.arange(B * len(METRICS))
    for g in range(n):
        want = s(k) * scales[g] * np.array(ref_scale[g])
        np.testing.assert_array_equal(got[:, g], want)
    assert min(ref_scale[0]) < 1.0  # the plateau did reduce
    if n == 2:  # min_lr acts per group, in that group's own lr units: the groups differ
        assert ref_scale[0] != ref_scale[1]
    assert sched.plateau_state.epoch.tolist() == [len(METRICS)] * n


def test_plateau_interval_epoch_advances_on_metric():
    """interval="epoch": one step(metric) per epoch feeds the plateau and advances."""
    s = sch.exponential(init=0.1, decay_rate=0.9)
    plateau = Plateau(patience=0, factor=0.5)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s, interval="epoch", plateau=plateau)
    got, state, want = [], plateau.init(), []
    for e, m in enumerate(METRICS):
        got.append(opt.param_groups[0]["lr"])
        want.append(s(np.array([e]))[0] * state.scale)
        sched.step(torch.tensor(m))  # a 0-d tensor, as Lightning passes it
        state = plateau.update(state, m, lr=s(e + 1))
        assert sched.last_epoch == e + 1
    assert got == want


@pytest.mark.parametrize("mode", ["step", "epoch"])
def test_constant_schedule_with_plateau_equals_torch_reduce_lr_on_plateau(mode):
    """A constant schedule times Plateau(convention="torch") is torch's ReduceLROnPlateau, also
    with two groups at different rates, min_lr, cooldown and eps (decisions per group)."""
    kwargs = {"factor": 0.5, "patience": 1, "cooldown": 1, "min_lr": 2e-4, "eps": 1e-4}
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9]
    ref_opt = torch.optim.SGD(_groups(_model(), 2), lr=0.1)
    ref_opt.param_groups[0]["lr"] = 0.001
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, **kwargs)
    opt = torch.optim.SGD(_groups(_model(), 2), lr=0.1)
    sched = LrlabScheduler(
        opt, sch.constant(0.1), scales=[0.01, 1.0], interval=mode, plateau=Plateau(**kwargs)
    )
    for m in metrics:
        ref.step(m)
        sched.step(m)
        want = [g["lr"] for g in ref_opt.param_groups]
        assert sched.get_last_lr() == pytest.approx(want, rel=1e-12, abs=0)
        assert sched.plateau_state.num_bad.tolist() == [ref.num_bad_epochs] * 2
    # group 0: 0.0005 -> 0.00025, then the step to the floor 0.0002 is below eps: skipped
    assert ref_opt.param_groups[0]["lr"] == 0.00025
    assert ref_opt.param_groups[1]["lr"] < 0.1 / 8


# -- step-counting rule: random interleavings against a pure reference --------------------------
@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.just(("step", None)),
            st.tuples(st.just("metric"), st.sampled_from([1.0, 0.5, 2.0])),
            st.tuples(st.just("jump"), st.integers(0, 30)),
        ),
        max_size=25,
    ),
    interval=st.sampled_from(["step", "epoch"]),
)
def test_counter_rule_matches_a_pure_reference(ops, interval):
    s = sch.join([sch.linear(init=0.0, end=0.1, steps=3), 0.1 * sch.exponential(1.0, 0.8)], [3])
    plateau = Plateau(patience=0, factor=0.5)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s, interval=interval, plateau=plateau)
    k, state = 0, plateau.init()
    for op, arg in ops:
        if op == "step":
            sched.step()
            k += 1
        elif op == "jump":
            sched.step(epoch=arg)
            k = arg
        else:
            sched.step(arg)
            k += interval == "epoch"
            state = plateau.update(state, arg, lr=s(np.array([k]))[0])
        assert sched.last_epoch == k
        assert opt.param_groups[0]["lr"] == s(np.array([k]))[0] * state.scale


# -- resume --------------------------------------------------------------------------------------
def _resume_setup(optimizer: str):
    model = _model(seed=3)
    groups = _groups(model, 2)
    if optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=1.0, momentum=0.9)
    else:
        opt = torch.optim.Adam(groups, lr=1.0)
    sched = LrlabScheduler(
        opt,
        sch.one_cycle(0.05, 40),
        scales=[0.1, 1.0],
        momentum=sch.one_cycle_momentum(40),
        plateau=Plateau(patience=0, factor=0.5),
    )
    return model, opt, sched


def _resume_run(model, opt, sched, batches, start: int, stop: int, spe: int = 5):
    """Steps start..stop-1: train, step(); at each epoch end (every spe steps) step(metric)."""
    lrs, moms = [], []
    for i in range(start, stop):
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append(_momenta(opt))
        _train_step(model, opt, batches[i])
        sched.step()
        if (i + 1) % spe == 0:
            sched.step([1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8][(i + 1) // spe - 1])
    return lrs, moms


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("scheduler_first", [True, False])
@pytest.mark.parametrize("n_first", [7, 15])
def test_resume_equals_an_uninterrupted_run(optimizer, scheduler_first, n_first, tmp_path):
    total = 40
    batches = _batches(total, seed=5)
    model, opt, sched = _resume_setup(optimizer)
    full = _resume_run(model, opt, sched, batches, 0, total)
    full_params = [p.detach().clone() for p in model.parameters()]

    model, opt, sched = _resume_setup(optimizer)
    first = _resume_run(model, opt, sched, batches, 0, n_first)
    path = tmp_path / "ckpt.pt"
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path
    )
    del model, opt, sched
    ckpt = torch.load(path, weights_only=True)
    model, opt, sched = _resume_setup(optimizer)  # fresh objects: lrs back at step 0
    model.load_state_dict(ckpt["model"])
    if scheduler_first:
        sched.load_state_dict(ckpt["sched"])
        opt.load_state_dict(ckpt["opt"])
    else:
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
    second = _resume_run(model, opt, sched, batches, n_first, total)

    assert first[0] + second[0] == full[0]  # lrs, exactly
    assert first[1] + second[1] == full[1]  # momenta / beta1, exactly
    assert min(lr for lr, _ in full[0]) < 0.05 * 1e-3  # the plateau and the anneal both acted
    for p, q in zip(model.parameters(), full_params):
        assert torch.equal(p, q)


def test_state_dict_is_plain_data():
    s = sch.recurrence(halve_every_third, init=0.1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LrlabScheduler(opt, s, plateau=Plateau(patience=0))
    sched.step()
    sched.step(1.0)
    sd = sched.state_dict()

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (str, int, float, bool))

    assert plain(sd)
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True) == sd
    assert sd["last_epoch"] == 1
    assert sd["plateau_state"]["epoch"] == [1]
    assert sd["schedules"] == [s.to_dict()]


def _saved(**kwargs):
    opt = torch.optim.SGD(_groups(_model(), 2), lr=1.0, momentum=0.9)
    base = {"schedule": sch.cosine(init=0.1, decay_steps=10)}
    sched = LrlabScheduler(opt, **{**base, **kwargs})
    for _ in range(3):
        sched.step()
    return sched.state_dict()


MISMATCHES = {
    "schedule": (
        {},
        {"schedule": sch.cosine(init=0.1, decay_steps=20)},
        "schedules differ: the checkpoint has [cosine(init=0.1, decay_steps=10), cosine(init=0.1, "
        "decay_steps=10)], this scheduler has [cosine(init=0.1, decay_steps=20), cosine(init=0.1, "
        "decay_steps=20)]",
    ),
    "scales": ({"scales": [1.0, 0.1]}, {}, "scales differ: the checkpoint has [1.0, 0.1]"),
    "interval": ({"interval": "epoch"}, {}, "interval differ: the checkpoint has 'epoch'"),
    "steps_per_epoch": ({"steps_per_epoch": 5}, {}, "the checkpoint has [by_epoch(cosine("),
    "momentum": ({"momentum": sch.constant(0.9)}, {}, "momentum differ"),
    "plateau": (
        {"plateau": Plateau(patience=1)},
        {"plateau": Plateau(patience=2)},
        "plateau differ",
    ),
    "plateau-missing": ({"plateau": Plateau()}, {}, "plateau differ"),
}


@pytest.mark.parametrize("case", list(MISMATCHES), ids=list(MISMATCHES))
def test_loading_a_different_configuration_fails_clearly(case):
    saved_kwargs, new_kwargs, message = MISMATCHES[case]
    sd = _saved(**saved_kwargs)
    opt = torch.optim.SGD(_groups(_model(), 2), lr=1.0, momentum=0.9)
    sched = LrlabScheduler(opt, **{"schedule": sch.cosine(init=0.1, decay_steps=10), **new_kwargs})
    with pytest.raises(ValueError, match=r"LrlabScheduler.load_state_dict: ") as err:
        sched.load_state_dict(sd)
    assert message in str(err.value)
    assert sched.last_epoch == 0  # nothing was loaded


def test_strict_false_loads_the_step_into_a_changed_schedule():
    sd = _saved()
    opt = torch.optim.SGD(_groups(_model(), 2), lr=1.0)
    longer = sch.cosine(init=0.1, decay_steps=100)
    sched = LrlabScheduler(opt, longer)
    sched.load_state_dict(sd, strict=False)
    assert sched.last_epoch == 3
    assert sched.get_last_lr() == [longer(np.array([3]))[0]] * 2
    with pytest.raises(ValueError, match="plateau state"):  # plateau presence is never optional
        LrlabScheduler(opt, longer, plateau=Plateau()).load_state_dict(sd, strict=False)


def test_loading_a_foreign_state_dict_fails_clearly():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    torch_sd = torch.optim.lr_scheduler.StepLR(opt, 2).state_dict()
    sched = LrlabScheduler(opt, sch.constant(0.1))
    with pytest.raises(ValueError, match=r"not an LrlabScheduler state dict .* got keys"):
        sched.load_state_dict(torch_sd)
    with pytest.raises(ValueError, match="1 param groups, this scheduler has 2"):
        LrlabScheduler(
            torch.optim.SGD(_groups(_model(), 2), lr=1.0), sch.constant(0.1)
        ).load_state_dict(sched.state_dict())
    bad = {**sched.state_dict(), "last_epoch": -3}
    with pytest.raises(ValueError, match="last_epoch must be an integer >= 0, got -3"):
        sched.load_state_dict(bad)


# -- GradScaler: a skipped optimizer step is not an ordering mistake ----------------------------
def _scaler_loop(make_scheduler, steps: int = 4):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = make_scheduler(opt)
    scaler = torch.amp.GradScaler("cpu")
    lrs, skipped = [], 0
    x, y = _batches(1)[0]
    for i in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        scaler.scale(loss).backward()
        if i < 2:  # inf gradients: GradScaler skips optimizer.step() (twice, from the start)
            model[0].weight.grad.fill_(float("inf"))
        scale = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        skipped += scaler.get_scale() < scale
        sched.step()
    return lrs, skipped


def test_gradscaler_skipped_steps_give_no_warning():
    s = sch.linear(init=0.1, end=0.0, steps=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs, skipped = _scaler_loop(lambda opt: LrlabScheduler(opt, s))
    assert skipped == 2
    assert lrs == s(np.arange(4)).tolist()  # skipped updates still advance the schedule
    # the check is meaningful: torch's own scheduler warns in the same loop
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        _scaler_loop(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0))


# -- PyTorch Lightning -----------------------------------------------------------------------------
def _lightning():
    try:
        import lightning.pytorch as pl
    except ImportError:
        pl = pytest.importorskip("pytorch_lightning")
    return pl


def _fit(pl, configure, epochs: int = 2, log_metric=None):
    class LrRecorder(pl.Callback):
        def __init__(self):
            self.lrs = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            opt = trainer.optimizers[0]
            self.lrs.append([g["lr"] for g in opt.param_groups])

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _model()

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            if log_metric is not None:
                self.log("metric", log_metric(self.current_epoch), on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return configure(self.net)

        def train_dataloader(self):
            g = torch.Generator().manual_seed(0)
            data = torch.utils.data.TensorDataset(
                torch.randn(20, 3, generator=g), torch.randn(20, 1)
            )
            return torch.utils.data.DataLoader(data, batch_size=4)  # 5 batches per epoch

    recorder = LrRecorder()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        callbacks=[recorder],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(Tiny())
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "lr_scheduler" in m or "LrlabScheduler" in m], messages
    return np.array(recorder.lrs)


def test_lightning_interval_step():
    pl = _lightning()
    s = sch.warmup_cosine(0.1, 3, 10)

    def configure(net):
        opt = torch.optim.SGD(_groups(net, 2), lr=1.0)
        sched = LrlabScheduler(opt, s, scales=[0.1, 1.0])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    lrs = _fit(pl, configure)
    k = np.arange(10)
    np.testing.assert_array_equal(lrs, np.stack([s(k) * 0.1, s(k)], axis=1))


def test_lightning_interval_step_with_plateau():
    """Per-batch schedule and per-epoch plateau: the same scheduler in two Lightning configs."""
    pl = _lightning()
    s = sch.cosine(init=0.1, decay_steps=15)

    def configure(net):
        opt = torch.optim.SGD(net.parameters(), lr=1.0)
        sched = LrlabScheduler(opt, s, plateau=Plateau(patience=0, factor=0.5))
        return [opt], [
            {"scheduler": sched, "interval": "step"},
            {
                "scheduler": sched,
                "interval": "epoch",
                "reduce_on_plateau": True,
                "monitor": "metric",
            },
        ]

    lrs = _fit(pl, configure, epochs=3, log_metric=lambda epoch: 1.0)  # no improvement
    k = np.arange(15)
    # metric 1.0 each epoch: epoch 0 sets best, epoch 1 is bad (patience 0) -> halve for epoch 2
    want = s(k) * np.repeat([1.0, 1.0, 0.5], 5)
    np.testing.assert_array_equal(lrs[:, 0], want)


def test_lightning_interval_epoch():
    pl = _lightning()
    s = sch.step_decay(init=0.1, drop=0.5, every=1)

    def configure(net):
        opt = torch.optim.Adam(net.parameters(), lr=1.0)
        sched = LrlabScheduler(opt, s, interval="epoch")
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    lrs = _fit(pl, configure, epochs=3)
    np.testing.assert_array_equal(lrs[:, 0], np.repeat(s(np.arange(3)), 5))


# -- validation ----------------------------------------------------------------------------------
def _two_group_sgd():
    return torch.optim.SGD(_groups(_model(), 2), lr=1.0)


BAD_ARGS = {
    "schedules-length": (
        {"schedule": [sch.constant(0.1)] * 3},
        "schedule must be one schedule or a list of 2 (one per param group), got a list of 3",
    ),
    "schedule-number": ({"schedule": 0.1}, "schedule must be an lrlab schedule"),
    "schedule-item": (
        {"schedule": [sch.constant(0.1), "cosine"]},
        "schedule[1] must be an lrlab schedule (e.g. lrlab.schedules.constant(0.1)), got 'cosine'",
    ),
    "scales-length": ({"scales": [1.0]}, "scales must be a list of 2 numbers"),
    "scales-negative": (
        {"scales": [1.0, -0.1]},
        "scales[1] must be a finite number >= 0, got -0.1",
    ),
    "scales-nan": ({"scales": [float("nan"), 1.0]}, "scales[0] must be a finite number >= 0"),
    "interval": ({"interval": "batch"}, "interval must be 'step' or 'epoch', got 'batch'"),
    "steps_per_epoch-zero": ({"steps_per_epoch": 0}, "steps_per_epoch must be a positive integer"),
    "steps_per_epoch-float": ({"steps_per_epoch": 2.5}, "got 2.5"),
    "steps_per_epoch-epoch": (
        {"steps_per_epoch": 10, "interval": "epoch"},
        "needs interval='step', got interval='epoch'",
    ),
    "fractional-alone": ({"fractional": True}, "fractional=True needs steps_per_epoch, got None"),
    "fractional-type": ({"fractional": "yes"}, "fractional must be True or False, got 'yes'"),
    "momentum-length": ({"momentum": [sch.constant(0.9)]}, "momentum must be one schedule"),
    "plateau-type": ({"plateau": "min"}, "plateau must be an lrlab.control.Plateau or None"),
}


@pytest.mark.parametrize("case", list(BAD_ARGS), ids=list(BAD_ARGS))
def test_bad_arguments_name_the_argument_and_value(case):
    kwargs, message = BAD_ARGS[case]
    kwargs = {"schedule": sch.constant(0.1), **kwargs}
    with pytest.raises(ValueError, match=r"^LrlabScheduler: ") as err:
        LrlabScheduler(_two_group_sgd(), **kwargs)
    assert message in str(err.value)


def test_more_bad_input():
    with pytest.raises(ValueError, match=r"optimizer must be a torch.optim.Optimizer, got 'sgd'"):
        LrlabScheduler("sgd", sch.constant(0.1))
    opt = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[0\] of Adagrad has neither"):
        LrlabScheduler(opt, sch.constant(0.1), momentum=sch.constant(0.9))
    opt = _two_group_sgd()
    sched = LrlabScheduler(opt, sch.constant(0.1))
    with pytest.raises(ValueError, match=r"metric=0.5 was given but this scheduler has no plateau"):
        sched.step(0.5)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0, got -1"):
        sched.step(epoch=-1)
    with_plateau = LrlabScheduler(opt, sch.constant(0.1), plateau=Plateau())
    with pytest.raises(ValueError, match="metric must be a number or a one-element tensor"):
        with_plateau.step(torch.ones(3))
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
    with pytest.raises(ValueError, match="the optimizer has 3 param groups but the scheduler"):
        sched.step()


def test_a_bad_rate_is_an_error_not_applied():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = sch.linear(init=0.1, end=-0.1, steps=2)
    sched = LrlabScheduler(opt, s)
    sched.step()
    with pytest.raises(ValueError, match=r"schedule\[0\] gave -0.1 at step 2"):
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0


# -- packaging -------------------------------------------------------------------------------------
def test_alias_module_reexports_the_same_objects():
    import lrlab.torch

    assert lrlab.torch.__all__ == lt.__all__
    for name in lt.__all__:
        assert getattr(lrlab.torch, name) is getattr(lt, name)
    from lrlab.torch import LrlabScheduler as Again

    assert Again is LrlabScheduler


def test_integrations_package_imports_no_framework():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {'torch', 'jax', 'keras', 'optax', 'tensorflow'}:
                    raise ImportError(f'blocked: {name}')
        sys.meta_path.insert(0, Block())
        import lrlab, lrlab.integrations
        try:
            import lrlab.torch
        except ImportError as e:
            print('torch needed:', e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("torch needed: blocked: torch")


def test_lightning_interval_epoch_with_plateau():
    """Per-epoch schedule and plateau: one config; Lightning calls step(metric) once per epoch,
    which feeds the plateau and advances."""
    pl = _lightning()
    s = sch.exponential(init=0.1, decay_rate=0.9)

    def configure(net):
        opt = torch.optim.SGD(net.parameters(), lr=1.0)
        sched = LrlabScheduler(opt, s, interval="epoch", plateau=Plateau(patience=0, factor=0.5))
        config = {"scheduler": sched, "interval": "epoch", "reduce_on_plateau": True}
        return {"optimizer": opt, "lr_scheduler": {**config, "monitor": "metric"}}

    lrs = _fit(pl, configure, epochs=4, log_metric=lambda epoch: 1.0)
    # epoch 0 sets best; epochs 1 and 2 are bad (patience 0): halve after each
    want = np.repeat(s(np.arange(4)) * np.array([1.0, 1.0, 0.5, 0.25]), 5)
    np.testing.assert_array_equal(lrs[:, 0], want)
