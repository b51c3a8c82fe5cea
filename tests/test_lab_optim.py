"""Tests for lrlab.lab.optim: each vectorised optimizer against torch.optim and Keras 3 run alone
per member, resume equivalence, member independence, validation, dtypes and devices."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrlab.lab.optim import (  # noqa: E402
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    RMSprop,
    optimizer_from_config,
)
from lrlab.lab.optim._kernel import COLUMN_B2, DECAY, NESTEROV, WD  # noqa: E402

F64 = torch.float64
STEPS = 100

# Keras' torch backend trips NumPy 2's __array__(copy=...) deprecation on reads of a variable.
keras_warnings = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# -- a small problem: per-member quadratic loss plus gradient noise, elementwise only ------------
# (elementwise ops give the population and the single runs the very same gradient bits)


class Problem:
    def __init__(self, n, p=7, seed=0, dtype=F64, lr0=None):
        gen = torch.Generator().manual_seed(seed)
        self.C, self.P = C, P = n, p
        self.theta0 = torch.randn(C, P, generator=gen, dtype=F64).to(dtype)
        self.h = (0.5 + 1.5 * torch.rand(C, P, generator=gen, dtype=F64)).to(dtype)
        self.target = torch.randn(C, P, generator=gen, dtype=F64).to(dtype)
        self.noise = (0.3 * torch.randn(STEPS, C, P, generator=gen, dtype=F64)).to(dtype)
        lr0 = torch.linspace(0.02, 0.1, C, dtype=F64) if lr0 is None else torch.as_tensor(lr0)
        t = torch.arange(STEPS, dtype=F64)
        # lr_t = lr0 * (1 + 0.5 sin t), rounded to a multiple of 2**-16: Keras' float32
        # learning-rate variable holds it exactly, and so does Keras' float32 weight-decay
        # factor 1 - wd * lr when wd is a power of two
        lr = lr0[None, :] * (1 + 0.5 * torch.sin(t))[:, None]
        self.lr = torch.round(lr * 2**16) / 2**16

    def grad(self, theta, t, rows=slice(None)):
        return self.h[rows] * (theta - self.target[rows]) + self.noise[t, rows]


def run_population(opt, pb, steps=STEPS, dtype=F64, device="cpu", state=None, theta=None):
    theta = pb.theta0.to(device=device, dtype=dtype).clone() if theta is None else theta
    state = opt.init(theta) if state is None else state
    h, target = pb.h.to(device, dtype), pb.target.to(device, dtype)
    noise, lr = pb.noise.to(device, dtype), pb.lr.to(device, dtype)
    start = int(state["step"])
    for t in range(start, start + steps):
        grad = h * (theta - target) + noise[t]
        opt.step(theta, grad, lr[t], state)
    return theta, state


def member_values(members, key, default):
    return [m.get(key, default) for m in members]


# -- cases: one population of members with different hyperparameters ----------------------------
# each case: (optimizer name, list of per-member torch keyword dicts, population-only kwargs)

TORCH_CASES = {
    "sgd-mixed": (
        "sgd",
        [
            {"momentum": 0.0},
            {"momentum": 0.9},
            {"momentum": 0.5, "dampening": 0.3},
            {"momentum": 0.9, "nesterov": True},
            {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
            {"momentum": 0.0, "dampening": 0.5, "weight_decay": 0.01},
        ],
    ),
    "sgd-nesterov": (
        "sgd",
        [{"momentum": 0.9, "nesterov": True}, {"momentum": 0.5, "nesterov": True}],
    ),
    "sgd-shared": ("sgd", [{"momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3}] * 3),
    "sgd-plain": ("sgd", [{}, {"weight_decay": 0.1}, {}]),
    "adam": (
        "adam",
        [
            {},
            {"betas": (0.5, 0.99), "eps": 1e-3},
            {"betas": (0.0, 0.9), "weight_decay": 0.1},
            {"betas": (0.95, 0.999), "eps": 1e-6, "weight_decay": 1e-3},
        ],
    ),
    "adam-shared": ("adam", [{"betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.01}] * 2),
    "adam-amsgrad": (
        "adam",
        [{"amsgrad": True}, {"amsgrad": True, "betas": (0.5, 0.9), "eps": 1e-3}],
    ),
    "adamw": (
        "adamw",
        [
            {},
            {"weight_decay": 0.0},
            {"weight_decay": 0.3, "betas": (0.7, 0.95)},
            {"weight_decay": 0.1, "eps": 1e-4},
        ],
    ),
    "adamw-amsgrad": (
        "adamw",
        [{"amsgrad": True, "weight_decay": 0.2}, {"amsgrad": True, "betas": (0.5, 0.9)}],
    ),
    "rmsprop": (
        "rmsprop",
        [{}, {"alpha": 0.9, "eps": 1e-4}, {"alpha": 0.5, "weight_decay": 0.1}],
    ),
    "rmsprop-centered-momentum": (
        "rmsprop",
        [
            {"centered": True},
            {"centered": True, "momentum": 0.9},
            {"centered": True, "momentum": 0.5, "alpha": 0.9, "weight_decay": 0.01},
        ],
    ),
    "rmsprop-momentum-shared": ("rmsprop", [{"momentum": 0.7, "alpha": 0.95}] * 3),
    "adagrad": (
        "adagrad",
        [
            {},
            {"lr_decay": 0.01},
            {"initial_accumulator_value": 0.5, "eps": 1e-4},
            {"lr_decay": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.1},
        ],
    ),
    "adagrad-shared": ("adagrad", [{"lr_decay": 0.05, "initial_accumulator_value": 0.2}] * 2),
    "adadelta": (
        "adadelta",
        [{}, {"rho": 0.5}, {"rho": 0.95, "eps": 1e-4}, {"rho": 0.8, "weight_decay": 0.1}],
    ),
}

# torch.optim class and defaults per name (AdamW: the population's decoupled Adam)
TORCH_CLASSES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
}
SHARED_SWITCHES = ("amsgrad", "centered")


def population_kwargs(name, members):
    """The population optimizer's kwargs: one value per member (or shared switches)."""
    cls = OPTIMIZERS[name]
    defaults = {
        f.name: f.default for f in dataclasses.fields(cls) if f.name not in ("form", "decoupled")
    }
    out = {}
    keys = {k for m in members for k in m}
    for key in keys:
        if key in SHARED_SWITCHES:
            (value,) = {m.get(key, defaults[key]) for m in members}
            out[key] = value
        elif key == "betas":
            pairs = member_values(members, "betas", defaults["betas"])
            out["betas"] = ([p[0] for p in pairs], [p[1] for p in pairs])
        else:
            out[key] = member_values(members, key, defaults[key])
    if len(members) > 1 and all(m == members[0] for m in members):
        # a population of identical members: give each value as a shared number
        out = {k: (v if k in SHARED_SWITCHES else _shared(v)) for k, v in out.items()}
    return out


def _shared(v):
    if isinstance(v, tuple):  # betas
        return tuple(x[0] for x in v)
    return v[0]


def torch_reference(name, members, pb):
    """Run torch.optim alone for each member; the final parameters, [C, P]."""
    cls = getattr(torch.optim, TORCH_CLASSES[name])
    rows = []
    for i, kw in enumerate(members):
        p = torch.nn.Parameter(pb.theta0[i].clone())
        opt = cls([p], lr=float(pb.lr[0, i]), **kw)
        for t in range(STEPS):
            opt.param_groups[0]["lr"] = float(pb.lr[t, i])
            p.grad = pb.grad(p.detach(), t, i)
            opt.step()
        rows.append(p.detach())
    return torch.stack(rows)


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_matches_torch_optim_per_member(case):
    name, members = TORCH_CASES[case]
    pb = Problem(len(members), seed=len(case))
    opt = optimizer_from_config(name, **population_kwargs(name, members))
    theta, state = run_population(opt, pb)
    expected = torch_reference(name, members, pb)
    torch.testing.assert_close(theta, expected, rtol=1e-12, atol=1e-14)
    assert int(state["step"]) == STEPS


def test_torch_sgd_matches_bitwise_with_shared_hyperparameters():
    # shared numbers run the very ops torch.optim runs
    members = [{"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}] * 3
    pb = Problem(3, seed=3)
    theta, _ = run_population(SGD(momentum=0.9, nesterov=True, weight_decay=0.01), pb)
    assert torch.equal(theta, torch_reference("sgd", members, pb))


def test_first_sgd_step_stores_the_raw_gradient():
    # torch: on the first step the buffer is the gradient itself, dampening not applied
    opt = SGD(momentum=0.9, dampening=0.5)
    theta = torch.zeros(1, 2, dtype=F64)
    state = opt.init(theta)
    g = torch.tensor([[1.0, -2.0]], dtype=F64)
    opt.step(theta, g, torch.tensor([1.0], dtype=F64), state)
    assert state["momentum_buffer"].tolist() == [[1.0, -2.0]]
    opt.step(theta, g, torch.tensor([1.0], dtype=F64), state)
    assert state["momentum_buffer"].tolist() == [[0.9 + 0.5, -1.8 - 1.0]]


def test_adagrad_lr_decay_hand_values():
    # clr = lr / (1 + (t - 1) * lr_decay), sum starts at initial_accumulator_value
    opt = Adagrad(lr_decay=1.0, eps=0.0, initial_accumulator_value=3.0)
    theta = torch.zeros(1, 1, dtype=F64)
    state = opt.init(theta)
    for _ in range(2):
        opt.step(theta, torch.ones(1, 1, dtype=F64), torch.tensor([1.0], dtype=F64), state)
    assert theta.item() == pytest.approx(-(1 / 2) - (1 / 2) / math.sqrt(5), rel=1e-15)


# -- Keras 3 --------------------------------------------------------------------------------------

# weight decays are powers of two (see Problem.lr)
KERAS_CASES = {
    "sgd": ("sgd", [{}, {"momentum": 0.9}, {"momentum": 0.5, "weight_decay": 0.125}]),
    "sgd-nesterov-mixed": (
        "sgd",
        [
            {"momentum": 0.9, "nesterov": True},
            {"momentum": 0.5},
            {"momentum": 0.0, "nesterov": True},
            {"momentum": 0.7, "nesterov": True, "weight_decay": 0.0625},
        ],
    ),
    "sgd-nesterov": ("sgd", [{"momentum": 0.8, "nesterov": True}] * 2),
    "adam": (
        "adam",
        [
            {},
            {"betas": (0.5, 0.99), "eps": 1e-3},
            {"betas": (0.0, 0.9), "weight_decay": 0.125},
        ],
    ),
    "adam-amsgrad": (
        "adam",
        [{"amsgrad": True, "eps": 1e-7}, {"amsgrad": True, "betas": (0.5, 0.9), "eps": 1e-2}],
    ),
    "adamw": ("adamw", [{"weight_decay": 2**-8}, {"weight_decay": 0.25, "eps": 1e-4}]),
    "rmsprop": (
        "rmsprop",
        [
            {},
            {"alpha": 0.9, "eps": 1e-4},
            {"momentum": 0.9},
            {"momentum": 0.5, "weight_decay": 0.125},
        ],
    ),
    "rmsprop-centered": (
        "rmsprop",
        [{"centered": True, "eps": 1e-3}, {"centered": True, "momentum": 0.9, "eps": 1e-3}],
    ),
    "adagrad": (
        "adagrad",
        [{}, {"initial_accumulator_value": 0.1, "eps": 1e-7}, {"weight_decay": 0.0625}],
    ),
    "adadelta": ("adadelta", [{}, {"rho": 0.95, "eps": 1e-7}, {"weight_decay": 0.125}]),
}


def keras_optimizer(keras, name, kw, lr):
    """The Keras 3 optimizer equivalent to one member's (torch-named) hyperparameters."""
    wd = kw.get("weight_decay", 0.0) or None
    if name == "sgd":
        return keras.optimizers.SGD(
            lr, momentum=float(kw.get("momentum", 0.0)), nesterov=kw.get("nesterov", False),
            weight_decay=wd,
        )  # fmt: skip
    if name in ("adam", "adamw"):
        b1, b2 = kw.get("betas", (0.9, 0.999))
        cls = keras.optimizers.AdamW if name == "adamw" else keras.optimizers.Adam
        extra = {"weight_decay": kw.get("weight_decay", 1e-2 if name == "adamw" else 0.0)}
        if name == "adam":
            extra = {"weight_decay": wd}
        return cls(
            lr, beta_1=b1, beta_2=b2, epsilon=kw.get("eps", 1e-8),
            amsgrad=kw.get("amsgrad", False), **extra,
        )  # fmt: skip
    if name == "rmsprop":
        return keras.optimizers.RMSprop(
            lr, rho=kw.get("alpha", 0.99), momentum=kw.get("momentum", 0.0),
            epsilon=kw.get("eps", 1e-8), centered=kw.get("centered", False), weight_decay=wd,
        )  # fmt: skip
    if name == "adagrad":
        return keras.optimizers.Adagrad(
            lr, initial_accumulator_value=kw.get("initial_accumulator_value", 0.0),
            epsilon=kw.get("eps", 1e-10), weight_decay=wd,
        )  # fmt: skip
    return keras.optimizers.Adadelta(
        lr, rho=kw.get("rho", 0.9), epsilon=kw.get("eps", 1e-6), weight_decay=wd
    )


def keras_reference(name, members, pb, dtype="float64"):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras comparison runs on Keras' torch backend")
    rows = []
    for i, kw in enumerate(members):
        v = keras.Variable(pb.theta0[i].numpy().astype(dtype), dtype=dtype)
        opt = keras_optimizer(keras, name, kw, float(pb.lr[0, i]))
        for t in range(STEPS):
            opt.learning_rate = float(pb.lr[t, i])
            cur = v.value.detach().cpu().to(F64)
            g = pb.grad(cur, t, i).to(v.value.dtype)
            opt.apply_gradients([(g, v)])
        rows.append(v.value.detach().cpu().to(F64))
    return torch.stack(rows)


@keras_warnings
@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_keras_form_matches_keras3_per_member(case):
    name, members = KERAS_CASES[case]
    pb = Problem(len(members), seed=len(case) + 100)
    expected = keras_reference(name, members, pb)
    kwargs = population_kwargs(name, members)
    opt = optimizer_from_config(name, form="keras", **kwargs)
    theta, _ = run_population(opt, pb)
    torch.testing.assert_close(theta, expected, rtol=1e-12, atol=1e-14)


@keras_warnings
@pytest.mark.parametrize("case", ["sgd-nesterov-mixed", "adam", "rmsprop", "adagrad"])
def test_keras_form_float32_matches_keras3_float32(case):
    name, members = KERAS_CASES[case]
    pb = Problem(len(members), seed=len(case) + 200)
    expected = keras_reference(name, members, pb, dtype="float32")
    opt = optimizer_from_config(name, form="keras", **population_kwargs(name, members))
    theta, _ = run_population(opt, pb, dtype=torch.float32)
    assert theta.dtype == torch.float32
    torch.testing.assert_close(theta.to(F64), expected, rtol=2e-5, atol=2e-5)


def test_keras_sgd_differs_from_torch_when_the_learning_rate_changes():
    pb = Problem(2, seed=5)
    a, _ = run_population(SGD(momentum=0.9), pb)
    b, _ = run_population(SGD(momentum=0.9, form="keras"), pb)
    assert (a - b).abs().max() > 1e-3
    # ... and agrees with it for a constant learning rate
    pb.lr = pb.lr[:1].expand(STEPS, -1).clone()
    a, _ = run_population(SGD(momentum=0.9), pb)
    b, _ = run_population(SGD(momentum=0.9, form="keras"), pb)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


# -- resume, independence, layouts ---------------------------------------------------------------

ALL_OPTIMIZERS = {
    "sgd": SGD(momentum=[0.9, 0.0, 0.5], dampening=[0.0, 0.0, 0.2], nesterov=[True, False, False]),
    "sgd-keras": SGD(momentum=[0.9, 0.5, 0.0], nesterov=[True, False, True], form="keras"),
    "adam": Adam(betas=([0.9, 0.5, 0.8], 0.99), weight_decay=0.01, amsgrad=True),
    "adamw": AdamW(weight_decay=[0.1, 0.0, 0.01]),
    "adam-keras": Adam(eps=[1e-7, 1e-3, 1e-5], weight_decay=0.01, form="keras"),
    "rmsprop": RMSprop(alpha=[0.9, 0.99, 0.5], centered=True, momentum=[0.0, 0.9, 0.5]),
    "rmsprop-keras": RMSprop(centered=True, momentum=[0.0, 0.9, 0.5], form="keras"),
    "adagrad": Adagrad(lr_decay=[0.0, 0.1, 0.01], initial_accumulator_value=[0.0, 0.1, 1.0]),
    "adagrad-keras": Adagrad(initial_accumulator_value=0.1, eps=1e-7, form="keras"),
    "adadelta": Adadelta(rho=[0.9, 0.5, 0.99], weight_decay=[0.0, 0.1, 0.01]),
    "adadelta-keras": Adadelta(rho=0.95, weight_decay=0.01, form="keras"),
}


@pytest.mark.parametrize("key", list(ALL_OPTIMIZERS))
def test_resume_is_bitwise_equal_to_an_uninterrupted_run(key):
    opt = ALL_OPTIMIZERS[key]
    pb = Problem(3, seed=7)
    full, _ = run_population(opt, pb, steps=20)
    theta, state = run_population(opt, pb, steps=12)
    buf = io.BytesIO()
    torch.save(opt.state_dict(state), buf)
    buf.seek(0)
    saved = torch.load(buf)
    fresh = optimizer_from_config(**opt.to_config())
    assert fresh == opt
    resumed = fresh.load_state_dict(saved)
    assert int(resumed["step"]) == 12
    theta, _ = run_population(fresh, pb, steps=8, state=resumed, theta=theta)
    assert torch.equal(theta, full)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("key", list(ALL_OPTIMIZERS))
def test_stepper_equals_step_bit_for_bit(key, dtype):
    opt = ALL_OPTIMIZERS[key]
    pb = Problem(3, seed=11)
    want, want_state = run_population(opt, pb, steps=15, dtype=dtype)
    theta = pb.theta0.to(dtype).clone()
    grad = torch.empty_like(theta)
    state = opt.init(theta)
    update = opt.stepper(theta, grad, state)
    h, target, noise = pb.h.to(dtype), pb.target.to(dtype), pb.noise.to(dtype)
    lr = pb.lr.to(dtype)
    with torch.no_grad():
        for t in range(15):
            grad.copy_(h * (theta - target) + noise[t])
            update(lr[t].unsqueeze(1))
    update.flush()
    assert torch.equal(theta, want)
    assert int(state["step"]) == 15
    for name, buf in want_state.items():
        assert torch.equal(state[name], buf), name


def _widened(opt, members):
    """``opt`` with each per-member hyperparameter list cycled to ``members`` members."""
    cfg = opt.to_config()

    def wide(v):
        return [v[i % len(v)] for i in range(members)] if isinstance(v, list) else v

    if "betas" in cfg:  # a pair, each shared or per member
        cfg["betas"] = [wide(b) for b in cfg["betas"]]
    return optimizer_from_config(**{n: v if n == "betas" else wide(v) for n, v in cfg.items()})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", list(ALL_OPTIMIZERS))
def test_stepper_rows_in_parts_equal_the_whole_update(key, dtype):
    # the native engine updates each thread's members apart: any cut gives the same bits
    C, P, steps = 37, 29, 12
    opt = _widened(ALL_OPTIMIZERS[key], C)
    rng = np.random.default_rng(5)
    theta0 = rng.normal(size=(C, P)).astype(dtype)
    grads = rng.normal(size=(steps, C, P)).astype(dtype)
    lrs = rng.uniform(1e-3, 0.2, size=(steps, C, 1)).astype(dtype)
    results = []
    for cuts in (None, (0, 16, 32, 37), (0, 5, 6, 6, 37)):
        theta, grad = theta0.copy(), np.empty_like(theta0)
        state = opt.init(theta)
        update = opt.stepper(theta, grad, state)
        parts = (
            None
            if cuts is None
            else [(a, b, update.rows(a, b)) for a, b in itertools.pairwise(cuts)]
        )
        for t in range(steps):
            grad[:] = grads[t] + theta * dtype(0.1)
            if parts is None:
                update(lrs[t])
            else:
                for a, b, part in parts:
                    part(lrs[t][a:b])
                update.tick()
        update.flush()
        assert int(state["step"]) == steps
        results.append((theta, state))
    (want, want_state), *rest = results
    for theta, state in rest:
        assert np.array_equal(theta, want)
        for name, buf in want_state.items():
            assert np.array_equal(np.asarray(state[name]), np.asarray(buf)), name


def test_stepper_rows_checks_its_bounds():
    theta = np.zeros((4, 3))
    update = SGD().stepper(theta, np.zeros_like(theta), SGD().init(theta))
    with pytest.raises(ValueError, match=r"0 <= lo <= hi <= 4, got \[2, 5\)"):
        update.rows(2, 5)
    t = torch.zeros(2, 3)
    with pytest.raises(TypeError, match="NumPy populations"):
        SGD().stepper(t, torch.zeros_like(t), SGD().init(t)).rows(0, 1)


def _kernel_formula(kernel, theta: np.ndarray, g: np.ndarray, lr: np.ndarray) -> None:
    """``KernelUpdate``'s documented formulas on its coefficients, in NumPy float32, one
    operation at a time (what the native kernel computes), in place."""
    rows = kernel.coefficients(lr)
    col = [r[:, None] for r in rows]
    if kernel.rule in ("sgd", "momentum", "keras_momentum"):
        r, m, wd, decay = col
        if kernel.flags & DECAY:
            theta *= decay
        if kernel.flags & WD:
            g = g + theta * wd
        if kernel.rule == "sgd":
            theta -= g * r
        elif kernel.rule == "momentum":
            (b,) = kernel.buffers
            b[...] = b * m + g
            theta -= (g + b * m if kernel.flags & NESTEROV else b) * r
        elif kernel.flags & NESTEROV:
            (b,) = kernel.buffers
            b[...] = b * m - g * r
            theta -= g * r
            theta += b * m
        else:
            (b,) = kernel.buffers
            b[...] = b * m - g * r
            theta += b
    else:
        size, decay, a, c, near, b2, c2, sc2, eps = col
        e, v = kernel.buffers
        theta *= decay
        if kernel.rule == "adam":
            diff = g - e
            e[...] = np.where(near != 0, e + a * diff, g - diff * c)
        else:
            e[...] = e * a + g * c
        v[...] = v * b2 + (g * (g * c2) if kernel.flags & COLUMN_B2 else (g * g) * c2)
        den = np.sqrt(v)
        if kernel.rule == "adam":
            den = den / sc2
        theta -= e / (den + eps) * size


@pytest.mark.parametrize(
    ("opt", "rule"),
    [
        (SGD(), "sgd"),
        (SGD(form="keras"), "sgd"),
        (SGD(momentum=0.9), "momentum"),
        (SGD(momentum=[0.0, 0.7]), "momentum"),  # one value per member: the momentum path
        (SGD(momentum=0.9, form="keras"), "keras_momentum"),
        (SGD(momentum=0.9, nesterov=True), "momentum"),
        (SGD(momentum=0.9, nesterov=True, form="keras"), "keras_momentum"),
        (SGD(weight_decay=1e-2), "sgd"),
        (SGD(momentum=[0.9, 0.5], weight_decay=[1e-2, 0.0]), "momentum"),
        (SGD(momentum=0.9, nesterov=True, weight_decay=0.1, form="keras"), "keras_momentum"),
        (SGD(weight_decay=0.1, form="keras"), "sgd"),
        (Adam(), "adam"),
        (Adam(betas=(0.3, 0.99)), "adam"),  # lerp from the far end
        (Adam(betas=([0.9, 0.2], [0.99, 0.9]), eps=[1e-8, 1e-3]), "adam"),
        (AdamW(), "adam"),
        (AdamW(weight_decay=[0.0, 0.1], form="keras"), "keras_adam"),
        (Adam(form="keras"), "keras_adam"),
        (SGD(momentum=[0.9, 0.8], nesterov=[True, False]), None),  # Nesterov per member
        (SGD(momentum=0.9, dampening=0.1), None),
        (Adam(amsgrad=True), None),
        (Adam(weight_decay=1e-2), None),  # coupled (L2) weight decay
        (RMSprop(), None),
    ],
)
def test_stepper_says_which_update_the_native_kernel_can_apply(opt, rule: str | None):
    """``Stepper.kernel``: the update as one of the native kernel's rules, on a float32 NumPy
    population; its documented formulas on its coefficients give the optimizer's own update
    bit for bit (three steps from non-zero buffers, each member at its own rate)."""
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(2, 5)).astype(np.float32)
    grad = rng.normal(size=(2, 5)).astype(np.float32)
    state = opt.init(theta)
    for name in state:
        if name != "step":
            state[name][...] = rng.uniform(0.0, 1.0, size=theta.shape)
    twin, twin_state = theta.copy(), {n: b.copy() for n, b in state.items()}
    update = opt.stepper(theta, grad, state)
    kernel = update.kernel
    assert (kernel.rule if kernel else None) == rule
    if kernel is not None:
        assert all(any(b is a for a in state.values()) for b in kernel.buffers)
        twin_kernel = opt.stepper(twin, grad, twin_state).kernel
        for step in range(3):
            lr = np.array([[0.25], [0.01 * (step + 1)]])
            update(lr)
            update.flush()
            _kernel_formula(twin_kernel, twin, grad, lr)
            twin_state["step"] += 1
            np.testing.assert_array_equal(twin, theta)
            for name in state:
                np.testing.assert_array_equal(twin_state[name], state[name])
    t = torch.ones(2, 3)
    assert opt.stepper(t, torch.ones_like(t), opt.init(t)).kernel is None
    t64 = np.ones((2, 3))  # the kernel's arithmetic is float32
    assert opt.stepper(t64, np.ones_like(t64), opt.init(t64)).kernel is None


def test_no_kernel_update_for_arrays_the_kernel_cannot_write_or_a_subclass_s_own_update():
    theta = np.ones((2, 3), dtype=np.float32)
    opt = SGD(momentum=0.9)
    state = opt.init(theta)
    state["momentum_buffer"].flags.writeable = False
    assert opt.stepper(theta, np.ones_like(theta), state).kernel is None
    strided = theta[:, ::2]
    assert opt.stepper(strided, np.ones((2, 2), np.float32), opt.init(strided)).kernel is None

    @dataclasses.dataclass(frozen=True)
    class Clipped(Adam):  # an update of its own: the kernel's formula is not it
        def _update_numpy(self, theta, grad, lr, state, k):  # type: ignore[no-untyped-def]
            super()._update_numpy(theta, np.clip(grad, -1, 1), lr, state, k)

    @dataclasses.dataclass(frozen=True)
    class Decays(SGD):  # a weight decay of its own
        def _weight_decay_numpy(self, theta, grad, lr, k):  # type: ignore[no-untyped-def]
            return grad + theta

    assert Adam().stepper(theta, np.ones_like(theta), Adam().init(theta)).kernel is not None
    for opt in (Clipped(), Decays(momentum=0.9)):
        assert opt.stepper(theta, np.ones_like(theta), opt.init(theta)).kernel is None


def test_stepper_checks_its_tensors():
    theta = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="grad must have theta's shape"):
        SGD().stepper(theta, torch.zeros(3, 2), SGD().init(theta))


def test_state_dict_is_a_copy():
    opt = Adam()
    theta = torch.zeros(2, 3, dtype=F64)
    state = opt.init(theta)
    d = opt.state_dict(state)
    opt.step(theta, torch.ones_like(theta), torch.tensor([0.1, 0.1], dtype=F64), state)
    assert int(d["step"]) == 0 and not d["buffers"]["exp_avg"].any()
    assert set(d) == {"optimizer", "form", "step", "buffers"}


def test_load_state_dict_checks_what_it_is_given():
    pb = Problem(3)
    _, state = run_population(Adam(), pb, steps=2)
    d = Adam().state_dict(state)
    with pytest.raises(ValueError, match="'adam' form 'torch', not 'sgd'"):
        SGD(momentum=0.9).load_state_dict(d)
    with pytest.raises(ValueError, match="form 'keras'"):
        Adam(form="keras").load_state_dict(d)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        Adam(amsgrad=True).load_state_dict(d)
    with pytest.raises(ValueError, match=r"betas\[0\] has 2 values .* C=3"):
        Adam(betas=([0.9, 0.8], 0.999)).load_state_dict(d)
    AdamW().load_state_dict(d)  # Adam and AdamW share their state
    with pytest.raises(ValueError, match="keys"):
        Adam().load_state_dict({"step": 3})


@pytest.mark.parametrize("key", list(ALL_OPTIMIZERS))
def test_members_are_independent(key):
    # change member 1's hyperparameters (where given per member) and its gradients: members 0
    # and 2 move exactly as before, bit for bit
    opt = ALL_OPTIMIZERS[key]
    config = opt.to_config()
    changed = dict(config)
    for k, v in config.items():
        if k == "betas":
            changed[k] = [[b[0], b[1] * 0.5, b[2]] if isinstance(b, list) else b for b in v]
        elif isinstance(v, list) and v and isinstance(v[0], float):
            changed[k] = [v[0], v[1] * 0.5 + 0.001, v[2]]
        elif isinstance(v, list) and v and isinstance(v[0], bool):
            changed[k] = [v[0], not v[1], v[2]]
    if changed.get("nesterov") and changed["form"] == "torch":
        changed["nesterov"] = config["nesterov"]
    other = optimizer_from_config(**changed)
    assert (other != opt) == (changed != config)
    pb = Problem(3, seed=11)
    a, state_a = run_population(opt, pb)
    pb.noise[:, 1] = 7.0 * torch.randn(STEPS, pb.P, dtype=F64)
    pb.lr[:, 1] *= 0.3
    b, state_b = run_population(other, pb)
    rows = [0, 2]
    assert torch.equal(a[rows], b[rows])
    for name in state_a:
        if name != "step":
            assert torch.equal(state_a[name][rows], state_b[name][rows])
    assert not torch.equal(a[1], b[1])


@pytest.mark.parametrize("key", ["sgd", "adam", "rmsprop", "adagrad", "adadelta"])
def test_one_member_alone_equals_itself_in_a_population(key):
    # member 1 trained alone (C=1) agrees with member 1 of the population of 3
    opt = ALL_OPTIMIZERS[key]
    config = opt.to_config()
    alone = {k: ([v[1]] if isinstance(v, list) and len(v) == 3 else v) for k, v in config.items()}
    if "betas" in alone:
        alone["betas"] = [[b[1]] if isinstance(b, list) else b for b in config["betas"]]
    pb = Problem(3, seed=13)
    full, _ = run_population(opt, pb)
    single = Problem(3, seed=13)
    for attr in ("theta0", "h", "target"):
        setattr(single, attr, getattr(single, attr)[1:2])
    single.noise, single.lr = single.noise[:, 1:2], single.lr[:, 1:2]
    one, _ = run_population(optimizer_from_config(**alone), single)
    torch.testing.assert_close(one[0], full[1], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("key", ["sgd", "adam", "rmsprop-keras", "adagrad", "adadelta"])
def test_float32_follows_float64(key):
    opt = ALL_OPTIMIZERS[key]
    pb = Problem(3, seed=17)
    a, state = run_population(opt, pb, dtype=torch.float32)
    b, _ = run_population(opt, pb)
    assert a.dtype == torch.float32
    assert all(t.dtype == torch.float32 for n, t in state.items() if n != "step")
    torch.testing.assert_close(a.to(F64), b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("key", ["sgd", "adam", "rmsprop", "adagrad"])
def test_non_contiguous_parameters_give_the_same_result(key):
    opt = ALL_OPTIMIZERS[key]
    pb = Problem(3, seed=19)
    a, _ = run_population(opt, pb)
    storage = torch.zeros(pb.P, 3, dtype=F64)
    theta = storage.T  # [C, P] view with strides (1, C)
    theta.copy_(pb.theta0)
    assert not theta.is_contiguous()
    run_population(opt, pb, theta=theta)
    torch.testing.assert_close(storage.T, a, rtol=1e-14, atol=1e-15)


def test_grad_is_not_modified_and_lr_zero_freezes_a_member():
    for opt in ALL_OPTIMIZERS.values():
        theta = torch.randn(3, 4, dtype=F64)
        start = theta.clone()
        state = opt.init(theta)
        grad = torch.randn(3, 4, dtype=F64)
        g0 = grad.clone()
        for _ in range(3):
            opt.step(theta, grad, torch.tensor([0.1, 0.0, 0.2], dtype=F64), state)
        assert torch.equal(grad, g0), opt
        assert torch.isfinite(theta).all(), opt
        assert torch.equal(theta[1], start[1]), opt


def test_zeroed_member_with_zero_lr_stays_finite():
    # the population engine freezes a diverged member: weights and state zeroed, lr 0
    for opt in ALL_OPTIMIZERS.values():
        theta = torch.zeros(3, 4, dtype=F64)
        state = opt.init(theta)
        for _ in range(3):
            opt.step(theta, torch.zeros_like(theta), torch.zeros(3, dtype=F64), state)
        assert torch.equal(theta, torch.zeros_like(theta)), opt


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("key", list(ALL_OPTIMIZERS))
def test_cuda_matches_cpu(key):
    opt = ALL_OPTIMIZERS[key]
    pb = Problem(3, seed=23)
    a, _ = run_population(opt, pb)
    b, state = run_population(opt, pb, device="cuda")
    assert b.is_cuda and all(t.is_cuda for t in state.values())
    torch.testing.assert_close(b.cpu(), a, rtol=1e-10, atol=1e-12)
    resumed = opt.load_state_dict(opt.state_dict(state), device="cpu")
    assert all(not t.is_cuda for t in resumed.values())


# -- hyperparameters, validation, config ---------------------------------------------------------


def test_hyper_broadcasts_per_member_values():
    opt = SGD(momentum=[0.1, 0.2, 0.3], nesterov=[True, True, False], weight_decay=0.01)
    h = opt.hyper(3)
    assert h["momentum"].tolist() == [0.1, 0.2, 0.3]
    assert h["weight_decay"].tolist() == [0.01] * 3
    assert h["nesterov"].dtype == torch.bool and h["nesterov"].tolist() == [True, True, False]
    assert h["dampening"].dtype == F64
    h = Adam(betas=(np.array([0.9, 0.8]), 0.99)).hyper(2, dtype=torch.float32)
    assert h["beta1"].dtype == torch.float32 and h["beta2"].tolist() == pytest.approx([0.99] * 2)
    assert set(h) == {"beta1", "beta2", "eps", "weight_decay"}


def test_per_member_values_accept_numpy_and_tensors():
    a = SGD(momentum=np.array([0.5, 0.9]), nesterov=np.array([False, True]))
    b = SGD(momentum=torch.tensor([0.5, 0.9], dtype=F64), nesterov=[False, True])
    assert a == b == SGD(momentum=[0.5, 0.9], nesterov=(False, True))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(momentum=-0.1), r"SGD: momentum must be in \[0, inf\), got -0.1"),
        (lambda: SGD(momentum=[0.9, -1]), r"momentum \(member 1\) must be in .*got -1"),
        (lambda: SGD(momentum="0.9"), "momentum must be a number or a non-empty sequence"),
        (lambda: SGD(momentum=[]), "momentum must be a number or a non-empty sequence"),
        (lambda: SGD(momentum=[0.9, None]), r"momentum \(member 1\) must be a number in .*None"),
        (lambda: SGD(nesterov=True), "nesterov requires momentum > 0 .* member 0"),
        (
            lambda: SGD(momentum=[0.9, 0.9], nesterov=[True, True], dampening=[0, 0.1]),
            "member 1 has momentum=0.9, dampening=0.1",
        ),
        (lambda: SGD(nesterov=[1, 0]), r"nesterov \(member 0\) must be a bool, got 1"),
        (lambda: SGD(dampening=0.1, form="keras"), "dampening must be 0 with form='keras'"),
        (lambda: SGD(form="tf"), "form must be 'torch' or 'keras', got 'tf'"),
        (lambda: SGD(momentum=[0.1, 0.2], weight_decay=[0, 0, 0]), "one length"),
        (lambda: Adam(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1.0"),
        (lambda: Adam(betas=(0.9, [0.9, 1.2])), r"betas\[1\] \(member 1\) .* got 1.2"),
        (lambda: Adam(betas=0.9), r"betas must be a pair \(beta1, beta2\), got 0.9"),
        (lambda: Adam(eps=-1e-8), "eps must be in .* got -1e-08"),
        (lambda: Adam(eps=float("nan")), "eps must be in .* got nan"),
        (lambda: Adam(amsgrad="yes"), "amsgrad must be a bool, got 'yes'"),
        (lambda: Adam(weight_decay=0.1, decoupled=False, form="keras"), "decoupled"),
        (lambda: AdamW(decoupled=False), "AdamW: decoupled must be True, got False"),
        (lambda: RMSprop(alpha=1.5), r"RMSprop: alpha must be in \[0, 1\], got 1.5"),
        (lambda: RMSprop(centered=1), "centered must be a bool, got 1"),
        (lambda: Adagrad(lr_decay=-1), "lr_decay must be in .* got -1"),
        (lambda: Adagrad(lr_decay=0.1, form="keras"), "lr_decay must be 0 with form='keras'"),
        (lambda: Adadelta(rho=[0.9, 2.0]), r"rho \(member 1\) must be in \[0, 1\], got 2.0"),
    ],
)
def test_validation_names_the_hyperparameter_and_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_length_is_checked_against_the_population():
    opt = Adam(eps=[1e-8, 1e-7])
    with pytest.raises(ValueError, match=r"Adam: eps has 2 values .* C=3 members"):
        opt.init(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"theta must be a floating \[C, P\] tensor, got \[4\]"):
        opt.init(torch.zeros(4))
    state = opt.init(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"lr must have shape \[C\] = \[2\], got shape \[3\]"):
        opt.step(torch.zeros(2, 4), torch.zeros(2, 4), torch.ones(3), state)


def test_a_scalar_lr_is_every_members():
    a, b = torch.ones(2, 3, dtype=F64), torch.ones(2, 3, dtype=F64)
    opt = SGD(momentum=0.9)
    sa, sb = opt.init(a), opt.init(b)
    opt.step(a, torch.ones_like(a), 0.1, sa)
    opt.step(b, torch.ones_like(b), torch.tensor([0.1, 0.1], dtype=F64), sb)
    assert torch.equal(a, b)


def test_optimizer_from_config_names_and_did_you_mean():
    assert isinstance(optimizer_from_config("AdamW"), AdamW)
    assert optimizer_from_config("rmsprop", alpha=0.9) == RMSprop(alpha=0.9)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsporp'; did you mean 'rmsprop'"):
        optimizer_from_config("rmsporp")
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'momentun'.*'momentum'"):
        optimizer_from_config("sgd", momentun=0.9)
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'epsilon' .*'eps'"):
        optimizer_from_config("adam", epsilon=1e-7)
    with pytest.raises(ValueError, match="'lr' is not an optimizer hyperparameter"):
        optimizer_from_config("sgd", lr=0.1)
    with pytest.raises(ValueError, match="SGD: momentum must be in"):
        optimizer_from_config("sgd", momentum=-2)


@pytest.mark.parametrize("key", list(ALL_OPTIMIZERS))
def test_to_config_round_trips_as_plain_python(key):
    opt = ALL_OPTIMIZERS[key]
    config = opt.to_config()
    assert optimizer_from_config(**json.loads(json.dumps(config))) == opt


def test_adamw_defaults_are_torchs():
    assert AdamW().weight_decay == 0.01 and AdamW().decoupled is True
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    assert opt.defaults["weight_decay"] == AdamW().weight_decay
    for name, ours in [
        ("SGD", SGD()),
        ("Adam", Adam()),
        ("RMSprop", RMSprop()),
        ("Adagrad", Adagrad()),
        ("Adadelta", Adadelta()),
    ]:
        defaults = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))]).defaults
        for k, v in ours.to_config().items():
            if k in defaults:
                assert defaults[k] == (tuple(v) if k == "betas" else v), (name, k)


def _numpy_cases() -> list:
    cases = []
    for form in ("torch", "keras"):
        nesterov = [True, False, False] if form == "keras" else False
        cases += [
            SGD(form=form),
            SGD(momentum=0.9, form=form),
            SGD(momentum=[0.9, 0.5, 0.0], nesterov=nesterov, weight_decay=0.01, form=form),
            SGD(momentum=0.9, nesterov=True, weight_decay=[0.1, 0.0, 0.2], form=form),
            Adam(form=form),
            Adam(betas=([0.9, 0.6, 0.5], 0.99), amsgrad=True, weight_decay=0.1, form=form),
            AdamW(form=form),
            RMSprop(form=form),
            RMSprop(
                centered=True,
                momentum=[0.9, 0.0, 0.5],
                alpha=[0.9, 0.3, 0.99],
                weight_decay=0.01,
                form=form,
            ),
            Adagrad(initial_accumulator_value=[0.1, 0.0, 1.0], form=form),
            Adadelta(rho=[0.9, 0.3, 0.95], form=form),
        ]
    return [
        *cases,
        SGD(momentum=0.9, dampening=0.3),
        SGD(momentum=[0.9, 0.8, 0.7], nesterov=[True, False, True]),
        Adam(betas=(0.4, 0.999)),  # lerp's weight 0.6 >= 0.5: torch computes from the end
        Adagrad(lr_decay=[0.1, 0.0, 0.01]),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt", _numpy_cases(), ids=repr)
def test_numpy_updates_equal_the_torch_updates(opt, dtype):
    """A NumPy theta gets NumPy state and NumPy updates (the NumPy engine's, torch unused):
    the same formulas as the tensor updates, equal to rounding; step and stepper agree."""
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(3, 7)).astype(dtype)
    bound = theta.copy()
    tensor = torch.from_numpy(theta.copy())
    state, bound_state, tensor_state = opt.init(theta), opt.init(bound), opt.init(tensor)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    grad = np.empty_like(theta)
    update = opt.stepper(bound, grad, bound_state)
    for _ in range(6):
        grad[:] = rng.normal(size=theta.shape)
        lr = rng.uniform(0.01, 0.2, size=3)
        opt.step(theta, grad, lr, state)
        update(lr.astype(dtype)[:, None])
        opt.step(tensor, torch.from_numpy(grad), torch.from_numpy(lr), tensor_state)
    update.flush()
    assert int(state["step"]) == int(bound_state["step"]) == 6
    # values are O(1): a few float32 units of their size where terms cancel to near zero
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-5, 1e-6)
    np.testing.assert_allclose(theta, tensor.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(bound, theta, rtol=rtol, atol=atol)


def test_a_numpy_theta_is_checked():
    with pytest.raises(ValueError, match=r"theta must be a floating \[C, P\] array, got \[4\]"):
        SGD().init(np.zeros(4))
    with pytest.raises(ValueError, match=r"lr must have shape \[C\] = \[2\], got shape \[3\]"):
        theta = np.zeros((2, 3))
        SGD().step(theta, theta.copy(), np.ones(3), SGD().init(theta))
