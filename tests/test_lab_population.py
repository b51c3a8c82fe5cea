"""Population training: equal to the idiomatic single-model loop, members independent."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrlab.control import EarlyStopping, Plateau  # noqa: E402
from lrlab.lab.engine import NumpyMLPKernel, TorchMLPKernel  # noqa: E402
from lrlab.lab.engine._torch_kernels import loss_and_grad  # noqa: E402
from lrlab.lab.models import MLP, TorchModule  # noqa: E402
from lrlab.lab.optim import SGD, Adam  # noqa: E402
from lrlab.lab.population import lr_table, train_population  # noqa: E402
from lrlab.schedules import constant, cosine, custom, exponential, linear  # noqa: E402

ENGINES = ("torch", "numpy")


@pytest.fixture(params=ENGINES)
def engine(request):
    """Every behaviour of the population holds on both MLP engines."""
    return request.param


class Toy:
    """A small 3-class problem (two features), fixed by a seed."""

    def __init__(self, seed: int = 0, n: int = 90, task: str = "multiclass") -> None:
        rng = np.random.default_rng(seed)
        self.x_train = rng.normal(size=(n, 2))
        self.x_test = rng.normal(size=(40, 2))
        if task == "multiclass":
            self.y_train = _label3(self.x_train)
            self.y_test = _label3(self.x_test)
        elif task == "binary":
            self.y_train = (self.x_train.sum(1) > 0).astype(int)
            self.y_test = (self.x_test.sum(1) > 0).astype(int)
        else:
            self.y_train = np.sin(self.x_train[:, :1])
            self.y_test = np.sin(self.x_test[:, :1])


def _label3(x: np.ndarray) -> np.ndarray:
    return (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 0] > 1).astype(int)


def _torch_net(model: MLP) -> torch.nn.Sequential:
    act = {
        "relu": torch.nn.ReLU,
        "tanh": torch.nn.Tanh,
        "sigmoid": torch.nn.Sigmoid,
        "linear": torch.nn.Identity,
    }[model.activation]
    layers: list[torch.nn.Module] = []
    for k, (i, o) in enumerate(model.layer_sizes):
        if k:
            layers.append(act())
        layers.append(torch.nn.Linear(i, o))
    return torch.nn.Sequential(*layers).double()


def _load(net: torch.nn.Module, flat: np.ndarray) -> None:
    offset = 0
    for p in net.parameters():
        n = p.numel()
        p.data.copy_(torch.as_tensor(flat[offset : offset + n]).view_as(p))
        offset += n


def _reference_loop(
    data, model, schedule, seed, *, epochs, batch_size, data_seed, momentum, nesterov=False
):
    """The idiomatic PyTorch loop: same init, same batch order, lr set from the schedule."""
    net = _torch_net(model)
    _load(net, model.init_member(seed))
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=momentum, nesterov=nesterov)
    x = torch.as_tensor(data.x_train)
    if model.loss == "categorical_crossentropy":
        y = torch.as_tensor(data.y_train)
        loss_fn = torch.nn.functional.cross_entropy
    elif model.loss == "binary_crossentropy":
        y = torch.as_tensor(data.y_train, dtype=torch.float64).view(-1, 1)
        loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
    else:
        y = torch.as_tensor(data.y_train, dtype=torch.float64)
        loss_fn = torch.nn.functional.mse_loss
    gen = torch.Generator().manual_seed(data_seed)
    n, step = len(x), 0
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for lo in range(0, n, batch_size):
            idx = order[lo : lo + batch_size]
            for g in opt.param_groups:
                g["lr"] = float(schedule(step))
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            step += 1
        losses.append(total / n)
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
    return flat, np.array(losses)


@pytest.mark.parametrize(
    ("task", "model"),
    [
        ("multiclass", MLP(2, (7, 5), 3, activation="tanh")),
        ("multiclass", MLP(2, (6,), 3, activation="relu", init="glorot_uniform")),
        ("binary", MLP(2, (4,), 1, output="sigmoid", activation="sigmoid", init="normal")),
        ("regression", MLP(2, (5,), 1, output="linear", activation="relu", init="torch")),
    ],
)
def test_one_member_equals_the_idiomatic_torch_loop(task, model, engine):
    data = Toy(1, task=task)
    sched = exponential(init=0.05, decay_rate=0.9, decay_steps=10)
    r = train_population(
        data,
        model,
        SGD(momentum=0.9),
        [sched],
        [3],
        epochs=4,
        batch_size=16,
        data_seed=7,
        dtype="float64",
        keep_params=True,
        engine=engine,
    )
    # batch_order="per_seed" (the default): the member of seed 3 draws data_seed 7 + 3's order
    ref, ref_losses = _reference_loop(
        data, model, sched, 3, epochs=4, batch_size=16, data_seed=7 + 3, momentum=0.9
    )
    np.testing.assert_allclose(r.params[0], ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.history["loss"][0], ref_losses, rtol=1e-12)


@pytest.mark.parametrize("n_inputs", [3, 20], ids=["narrow", "wide"])
def test_hand_written_backward_equals_autograd(n_inputs):
    model = MLP(n_inputs, (5, 4), 3, activation="tanh")
    engine = TorchMLPKernel(model)
    theta = engine.init_params([0, 1, 2, 3], "cpu", torch.float64).requires_grad_(True)
    rng = np.random.default_rng(0)
    xb = torch.as_tensor(rng.normal(size=(6, n_inputs)))
    yt = torch.nn.functional.one_hot(torch.as_tensor([0, 1, 2, 1, 0, 2]), 3).double().T
    grad = torch.zeros_like(theta)
    loss, _ = engine.step(theta.detach(), grad, xb, yt)
    z = engine.forward(theta, xb)[-1]
    auto_loss, _, _ = loss_and_grad(z, yt, model.loss, want_grad=False)
    (auto,) = torch.autograd.grad(auto_loss.sum(), theta)
    np.testing.assert_allclose(grad.numpy(), auto.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(loss.numpy(), auto_loss.detach().numpy(), rtol=1e-14)


@pytest.mark.parametrize(
    "model",
    [
        MLP(3, (5, 4), 3, activation="tanh"),
        MLP(3, (5,), 3, activation="relu"),
        MLP(3, (5, 4), 3, activation="relu"),
        MLP(24, (5,), 3, activation="relu"),  # wide: layer 1 per member
        MLP(24, (5, 4), 1, activation="tanh", output="sigmoid"),
        MLP(3, (4, 4), 1, activation="sigmoid", output="sigmoid"),
        MLP(3, (6,), 2, activation="linear", output="linear"),
    ],
)
def test_numpy_engine_gradient_and_loss_equal_autograd(model):
    C, rng = 4, np.random.default_rng(1)
    torch_engine, np_engine = TorchMLPKernel(model), NumpyMLPKernel(model)
    theta = torch_engine.init_params(range(C), "cpu", torch.float64).requires_grad_(True)
    xb = rng.normal(size=(7, model.n_inputs))
    if model.loss == "categorical_crossentropy":
        yt = np.eye(model.n_outputs)[rng.integers(0, model.n_outputs, 7)].T
    elif model.loss == "binary_crossentropy":
        yt = rng.integers(0, 2, (1, 7)).astype(float)
    else:
        yt = rng.normal(size=(model.n_outputs, 7))
    z = torch_engine.forward(theta, torch.as_tensor(xb))[-1]
    auto_loss, auto_correct, _ = loss_and_grad(z, torch.as_tensor(yt), model.loss, False)
    (auto,) = torch.autograd.grad(auto_loss.sum(), theta)
    grad = np.zeros(theta.shape)
    loss, correct = np_engine.step(
        theta.detach().numpy().copy(), grad, NumpyMLPKernel.inputs(xb), yt.copy()
    )
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(loss, auto_loss.detach().numpy(), rtol=1e-13)
    np.testing.assert_array_equal(correct, auto_correct.numpy())


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "binary_crossentropy", "mse"])
def test_the_epoch_tally_equals_the_per_step_losses(loss):
    # 3 steps of 5, 5 and 2 rows: the last batch's padding must not count
    from lrlab.lab.engine._numpy_kernels import Tally
    from lrlab.lab.engine._numpy_kernels import loss_and_grad as np_loss_and_grad

    rng, C, K = np.random.default_rng(2), 3, (1 if loss == "binary_crossentropy" else 3)
    tally = Tally(3, C, 5, 2, np.dtype(np.float64), loss)
    total_loss, total_correct = np.zeros(C), np.zeros(C)
    for b, n in enumerate((5, 5, 2)):
        z = rng.normal(size=(C, K, n))
        if loss == "categorical_crossentropy":
            yt = np.eye(K)[rng.integers(0, K, n)].T
        else:
            yt = rng.integers(0, 2, (K, n)).astype(float)
        mean, correct, grad = np_loss_and_grad(z.copy(), yt, loss)
        total_loss += mean * n
        total_correct += correct
        np.testing.assert_allclose(tally.record(b, z, yt), grad, rtol=1e-14)
    got_loss, got_correct = tally.totals()
    np.testing.assert_allclose(got_loss, total_loss, rtol=1e-13)
    np.testing.assert_allclose(got_correct, total_correct)


class Wide:
    """20 input features: the NumPy engine multiplies layer 1 per member (WIDE_INPUT)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x_train, self.x_test = rng.normal(size=(70, 20)), rng.normal(size=(30, 20))
        self.y_train, self.y_test = _label3(self.x_train), _label3(self.x_test)


@pytest.mark.parametrize("data", [Toy(8), Wide(8)], ids=["2-inputs", "20-inputs"])
def test_the_engines_agree_and_auto_picks_numpy_for_small_cohorts(data):
    n_in = data.x_train.shape[1]
    runs = {
        e: train_population(
            data,
            MLP(n_in, (6,), 3),
            SGD(momentum=0.9),
            [constant(0.05), constant(0.01)],
            [0, 1],
            epochs=3,
            batch_size=16,
            dtype="float64",
            keep_params=True,
            engine=e,
        )
        for e in ("torch", "numpy", "auto")
    }
    np.testing.assert_allclose(runs["numpy"].params, runs["torch"].params, rtol=0, atol=1e-12)
    for k in runs["torch"].history:
        np.testing.assert_allclose(runs["numpy"].history[k], runs["torch"].history[k], rtol=1e-12)
    np.testing.assert_array_equal(runs["auto"].params, runs["numpy"].params)


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        (MLP(2, (3,), 3), {"engine": "jax"}, "engine must be one of"),
        (
            TorchModule(lambda: torch.nn.Linear(2, 3), 3),
            {"engine": "numpy"},
            "engine='numpy' trains an MLP on the CPU only, got TorchModule",
        ),
        (MLP(2, (3,), 3), {"engine": "numpy", "device": "meta"}, "device 'meta'"),
    ],
)
def test_engine_choice_is_checked(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_population(
            Toy(), model, SGD(), [constant(0.1)], [0], epochs=1, batch_size=8, **kwargs
        )


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_the_onednn_layer_one_equals_mkl_in_float32(activation, monkeypatch):
    from lrlab.lab.engine import _torch_kernels as _engines

    if _engines._probe_onednn() is None:
        pytest.skip("this torch build has no oneDNN linear")
    model = MLP(2, (16, 8), 3, activation=activation)
    runs = []
    monkeypatch.setattr(_engines, "ONEDNN_MIN", 0)  # the toy's layers are small
    for probe in (_engines._probe_onednn(), None):
        monkeypatch.setattr(_engines, "_ONEDNN", [probe])
        runs.append(
            train_population(
                Toy(9),
                model,
                SGD(momentum=0.5),
                [constant(0.05), constant(0.01)],
                [0, 1],
                epochs=2,
                batch_size=16,
                keep_params=True,
                engine="torch",
            )
        )
    fused, mkl = runs
    np.testing.assert_allclose(fused.params, mkl.params, rtol=1e-4, atol=1e-5)
    for k in mkl.history:
        np.testing.assert_allclose(fused.history[k], mkl.history[k], rtol=1e-4, atol=1e-5)


def test_onednn_can_be_turned_off(monkeypatch):
    from lrlab.lab.engine import _torch_kernels as _engines

    monkeypatch.setenv("LRLAB_NO_ONEDNN", "1")
    assert _engines._probe_onednn() is None


def test_an_overflowed_relu_input_is_zero_not_nan_on_both_engines():
    # float32: a finite member whose first layer overflows to -inf; relu(-inf) is 0 in torch
    model = MLP(2, (3,), 3)
    theta = np.zeros((1, model.n_params), dtype=np.float32)
    theta[0, :6] = -3e38  # W1: every hidden unit's input is about -6e38 -> -inf
    x = np.ones((4, 2), dtype=np.float32)
    yt = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]].T.copy()
    t_loss, t_acc = TorchMLPKernel(model).evaluate(
        torch.as_tensor(theta), torch.as_tensor(x), torch.as_tensor(yt)
    )
    with np.errstate(over="ignore"):
        n_loss, n_acc = NumpyMLPKernel(model).evaluate(theta, NumpyMLPKernel.inputs(x), yt)
    np.testing.assert_allclose(n_loss, t_loss.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(n_acc, t_acc.numpy())
    assert np.isfinite(n_loss).all()
    grad = np.zeros_like(theta)
    with np.errstate(over="ignore"):
        loss, _ = NumpyMLPKernel(model).step(theta.copy(), grad, NumpyMLPKernel.inputs(x), yt)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()


def test_a_batch_larger_than_the_data_and_per_step_metrics_give_the_same_numbers(monkeypatch):
    from lrlab.lab.engine import _torch as torch_engine

    data = Toy(10)  # 90 rows
    kw = {"epochs": 2, "dtype": "float64", "keep_params": True}
    args = (data, MLP(2, (5,), 3), SGD(momentum=0.5), [constant(0.1)] * 2, [0, 1])
    ref = train_population(*args, batch_size=16, engine="torch", **kw)
    big = {e: train_population(*args, batch_size=1000, engine=e, **kw) for e in ENGINES}
    np.testing.assert_allclose(big["numpy"].history["loss"], big["torch"].history["loss"], 1e-12)
    monkeypatch.setattr(torch_engine, "EPOCH_LOGITS_BYTES", 0)  # the per-step path
    per_step = train_population(*args, batch_size=16, engine="torch", **kw)
    np.testing.assert_allclose(per_step.params, ref.params, rtol=0, atol=1e-12)
    for k in ref.history:
        np.testing.assert_allclose(per_step.history[k], ref.history[k], rtol=1e-12)


def test_callbacks_run_with_the_callers_autograd_and_numpy_settings():
    seen = []

    def on_epoch(epoch, history):
        seen.append((torch.is_grad_enabled(), np.geterr()["over"]))

    with np.errstate(over="raise"):
        train_population(
            Toy(),
            MLP(2, (3,), 3),
            SGD(),
            [constant(0.1)],
            [0],
            epochs=2,
            batch_size=30,
            on_epoch=on_epoch,
        )
    assert seen == [(True, "raise"), (True, "raise")]


def _run(data, schedules, seeds, momentum, **kw):
    return train_population(
        data,
        MLP(2, (6,), 3),
        SGD(momentum=momentum),
        schedules,
        seeds,
        epochs=3,
        batch_size=10,
        dtype="float64",
        keep_params=True,
        **kw,
    )


def test_members_do_not_depend_on_their_cohort(engine):
    data = Toy(2)
    scheds = [constant(0.1), cosine(init=0.3, decay_steps=20), constant(0.01)]
    together = _run(data, scheds, [0, 1, 2], [0.9, 0.5, 0.0], engine=engine)
    # BLAS may pick another micro-kernel (FMA or not) for another number of rows, so equality
    # holds to rounding, not bit for bit: float64 makes that tolerance tight
    for i in range(3):
        alone = _run(data, [scheds[i]], [i], [[0.9, 0.5, 0.0][i]], engine=engine)
        np.testing.assert_allclose(together.params[i], alone.params[0], rtol=1e-12, atol=1e-15)
        for k in together.history:
            np.testing.assert_allclose(together.history[k][i], alone.history[k][0], rtol=1e-12)


def test_a_diverging_member_is_frozen_and_the_others_are_unaffected(engine):
    data = Toy(3)
    scheds = [constant(0.05), constant(1e100), constant(0.02)]
    with_bad = _run(data, scheds, [0, 1, 2], 0.9, engine=engine)
    without = _run(data, [constant(0.05), constant(0.02)], [0, 2], 0.9, engine=engine)
    assert with_bad.diverged.tolist() == [False, True, False]
    assert with_bad.diverged_epoch[1] == 0
    assert np.all(with_bad.params[1] == 0)
    assert np.isnan(with_bad.history["val_loss"][1, 1:]).all()
    np.testing.assert_allclose(with_bad.params[[0, 2]], without.params, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        with_bad.history["val_loss"][[0, 2]], without.history["val_loss"], rtol=1e-12
    )


def test_plateau_multiplies_the_schedule(engine):
    data = Toy(4)
    plateau = Plateau(factor=0.5, patience=0, threshold=10.0, threshold_mode="abs")
    r = train_population(
        data,
        MLP(2, (6,), 3),
        SGD(momentum=0.0),
        [constant(0.1)],
        [0],
        epochs=4,
        batch_size=30,
        plateau=plateau,
        plateau_monitor="loss",
        engine=engine,
    )
    # threshold 10 makes every epoch after the first a bad one: halve after each
    np.testing.assert_allclose(r.history["lr"][0], [0.1, 0.1, 0.05, 0.025])


def test_early_stopping_freezes_a_member(engine):
    data = Toy(5)
    stop = EarlyStopping(patience=1, min_delta=10.0)
    r = train_population(
        data,
        MLP(2, (6,), 3),
        SGD(momentum=0.0),
        [constant(0.1)] * 2,
        [0, 1],
        epochs=6,
        batch_size=30,
        early_stopping=stop,
        stop_monitor="val_loss",
        engine=engine,
    )
    assert r.stopped_epoch.tolist() == [1, 1]
    assert r.epochs_run.tolist() == [2, 2]
    assert np.isnan(r.history["loss"][:, 2:]).all()


def test_torch_module_path_equals_the_fused_mlp(engine):
    data = Toy(6)
    model = MLP(2, (5,), 3, activation="tanh", init="torch")

    def factory() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))

    spec = TorchModule(factory, n_outputs=3)
    fast = train_population(
        data,
        model,
        Adam(),
        [constant(0.01)] * 2,
        [0, 1],
        epochs=2,
        batch_size=16,
        dtype="float64",
        keep_params=True,
        engine=engine,
    )
    # give the module path the same initial weights through its factory seeds
    init = [model.init_member(s) for s in (0, 1)]

    def seeded_factory() -> torch.nn.Module:
        net = factory().double()
        _load(net, init[int(torch.initial_seed()) % 2])
        return net

    general = train_population(
        data,
        TorchModule(seeded_factory, 3),
        Adam(),
        [constant(0.01)] * 2,
        [0, 1],
        epochs=2,
        batch_size=16,
        dtype="float64",
        keep_params=True,
    )
    np.testing.assert_allclose(general.params, fast.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(general.history["val_loss"], fast.history["val_loss"], rtol=1e-12)
    assert spec.loss == "categorical_crossentropy"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)), "buffers"),
        (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Dropout(0.5)), "dropout"),
    ],
)
def test_unsupported_modules_fail_clearly(factory, message):
    with pytest.raises(ValueError, match=message):
        train_population(
            Toy(), TorchModule(factory, 3), SGD(), [constant(0.1)], [0], epochs=1, batch_size=8
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
        ({"dtype": "float16"}, "dtype must be float32 or float64, got 'float16'"),
        ({"plateau": Plateau(), "plateau_monitor": "val_los"}, "plateau_monitor must be one of"),
        ({"batch_order": "per_member"}, r"batch_order must be one of \['per_seed', 'shared'\], "),
        ({"data_seed": -1}, r"train_population: data_seed must be an integer >= 0, got -1"),
        ({"data_seed": 1.5}, r"train_population: data_seed must be an integer >= 0, got 1.5"),
        ({"seeds": [-1]}, r"train_population: seeds\[0\] must be an integer >= 0, got -1"),
        ({"seeds": [1.5]}, r"train_population: seeds\[0\] must be an integer >= 0, got 1.5"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, message):
    args = {"epochs": 1, "batch_size": 8, **kwargs}
    seeds = args.pop("seeds", [0])
    with pytest.raises(ValueError, match=message):
        train_population(Toy(), MLP(2, (3,), 3), SGD(), [constant(0.1)], seeds, **args)


def _wide_test() -> Toy:
    data = Toy()
    data.x_test = np.ones((4, 5))
    return data


def _flat_train() -> Toy:
    data = Toy()
    data.x_train = data.x_train[:, 0]
    return data


@pytest.mark.parametrize(
    ("schedule", "member_step_value"),
    [
        (constant(-0.1), r"member 1 .*-0\.1 at step 0"),
        (linear(0.05, -0.1, 10), r"member 1 .* has -0\.0\d+ at step 4"),  # +0.005 at 3
        (custom(lambda t: np.where(t >= 5, np.inf, 0.1), vectorized=True), r"inf at step 5"),
        (custom(lambda t: np.where(t >= 3, np.nan, 0.1), vectorized=True), r"nan at step 3"),
    ],
)
def test_negative_or_non_finite_rates_are_refused(schedule, member_step_value, engine):
    """Studies refuse such rates; the population names the member and the step."""
    with pytest.raises(ValueError, match="learning rates must be finite and >= 0") as info:
        train_population(
            Toy(),
            MLP(2, (3,), 3),
            SGD(),
            [constant(0.1), schedule],
            [0, 1],
            epochs=2,
            batch_size=16,
            engine=engine,
        )
    assert re.search(member_step_value, str(info.value)), str(info.value)


def test_a_rate_beyond_float32_is_refused_in_float32_only():
    args = dict(epochs=1, batch_size=45)
    huge = [constant(1e39)]
    with pytest.raises(ValueError, match=r"float32\); member 0 .*1e\+39 at step 0"):
        train_population(Toy(), MLP(2, (3,), 3), SGD(), huge, [0], **args)
    r = train_population(Toy(), MLP(2, (3,), 3), SGD(), huge, [0], dtype="float64", **args)
    assert r.history["lr"][0, 0] == 1e39  # accepted in float64, where it is finite


@pytest.mark.parametrize(
    ("n_inputs", "data", "message"),
    [
        (3, Toy(), "model takes 3 inputs, but data.x_train has rows of width 2"),
        (2, _wide_test(), "model takes 2 inputs, but data.x_test has rows of width 5"),
        (
            2,
            _flat_train(),
            r"data.x_train must be a 2-D array \[rows, features\], got \(90,\)",
        ),
    ],
)
def test_input_width_is_checked_up_front(n_inputs, data, message):
    with pytest.raises(ValueError, match=message):
        train_population(
            data, MLP(n_inputs, (3,), 3), SGD(), [constant(0.1)], [0], epochs=1, batch_size=8
        )


def test_lr_table_evaluates_each_distinct_schedule_once():
    table = lr_table([constant(0.1), cosine(init=1.0, decay_steps=4), constant(0.1)], 5)
    assert table.shape == (3, 5)
    np.testing.assert_allclose(table[1], [1.0, 0.853553, 0.5, 0.146447, 0.0], atol=1e-6)
    np.testing.assert_array_equal(table[0], table[2])


def test_blas_threads_are_pinned_for_small_numpy_cohorts_and_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas() -> list[int]:
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before, seen = blas(), []
    train_population(
        Toy(),
        MLP(2, (3,), 3),
        SGD(),
        [constant(0.1)],
        [0],
        epochs=1,
        batch_size=8,
        engine="numpy",
        on_epoch=lambda epoch, history: seen.append(blas()),
    )
    assert seen == [[1] * len(before)]
    assert blas() == before


def test_thread_setting_is_restored():
    before = torch.get_num_threads()
    train_population(
        Toy(), MLP(2, (3,), 3), SGD(), [constant(0.1)], [0], epochs=1, batch_size=8, threads=1
    )
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1 or None, got 0"):
        train_population(
            Toy(), MLP(2, (3,), 3), SGD(), [constant(0.1)], [0], epochs=1, batch_size=8, threads=0
        )
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("batch_order", ["per_seed", "shared"])
def test_batch_order_per_seed_by_default_as_in_studies_or_shared_by_name(batch_order, engine):
    """per_seed (the default): the member of seed s draws data_seed + s's order, as a study's
    train.batch_order = "per_seed" does; shared: every member draws data_seed's."""
    data, model, sched = Toy(1), MLP(2, (5,), 3), constant(0.05)
    order = {} if batch_order == "per_seed" else {"batch_order": "shared"}
    r = train_population(
        data,
        model,
        SGD(momentum=0.9),
        [sched, sched],
        [3, 5],
        epochs=3,
        batch_size=16,
        data_seed=7,
        dtype="float64",
        keep_params=True,
        engine=engine,
        **order,
    )
    for i, seed in enumerate([3, 5]):
        ref, _ = _reference_loop(
            data,
            model,
            sched,
            seed,
            epochs=3,
            batch_size=16,
            data_seed=7 + seed if batch_order == "per_seed" else 7,
            momentum=0.9,
        )
        np.testing.assert_allclose(r.params[i], ref, rtol=0, atol=1e-12)


def test_keep_best_and_restore_best_weights_through_train_population(engine):
    data = Toy(4)
    model = MLP(2, (6,), 3)
    scheds = [constant(0.5), constant(0.05), constant(1e100)]  # the last diverges at once
    kw = {"epochs": 8, "batch_size": 16, "dtype": "float64", "engine": engine}
    best = train_population(data, model, SGD(momentum=0.9), scheds, [0, 1, 2], keep_best=True, **kw)
    val = best.history["val_loss"]
    assert best.best_epoch[:2].tolist() == [int(np.nanargmin(v)) for v in val[:2]]
    assert best.best_epoch[2] == -1 and np.isnan(best.best_params[2]).all()
    stop = EarlyStopping(patience=2, restore_best_weights=True)
    r = train_population(
        data,
        model,
        SGD(momentum=0.9),
        scheds,
        [0, 1, 2],
        early_stopping=stop,
        keep_params=True,
        **kw,
    )
    assert r.restored.tolist() == [True, True, False]
    for i in range(2):  # the restored weights are those of the early-stopping best epoch
        np.testing.assert_allclose(r.params[i], best.best_params[i], rtol=0, atol=0)
        assert r.best_epoch[i] == int(np.nanargmin(r.history["val_loss"][i]))
    np.testing.assert_array_equal(r.params[2], 0)  # nothing to restore: frozen at 0


class _Wide(Toy):
    """Toy with 20 inputs: the engines' wide-input layer 1 (WIDE_INPUT = 16)."""

    def __init__(self) -> None:
        super().__init__(5)
        rng = np.random.default_rng(5)
        self.x_train = np.hstack([self.x_train, rng.normal(size=(90, 18))])
        self.x_test = np.hstack([self.x_test, rng.normal(size=(40, 18))])


@pytest.mark.parametrize(
    ("task", "model"),
    [
        ("multiclass", MLP(2, (7, 5), 3, activation="tanh")),
        ("binary", MLP(2, (4,), 1, output="sigmoid", activation="sigmoid", init="normal")),
        ("regression", MLP(2, (5,), 1, output="linear", activation="linear", init="torch")),
        ("wide", MLP(20, (6,), 3)),
    ],
)
def test_members_with_their_own_batch_orders_each_equal_the_torch_loop(task, model, engine):
    """Each member's own order (batched over the members in one call per step) trains each
    member exactly as the idiomatic loop does with that order."""
    data = _Wide() if task == "wide" else Toy(1, task=task)
    sched = exponential(init=0.05, decay_rate=0.9, decay_steps=10)
    seeds = [3, 8, 11]
    r = train_population(
        data,
        model,
        SGD(momentum=0.9),
        [sched] * 3,
        seeds,
        epochs=3,
        batch_size=16,
        data_seed=7,
        dtype="float64",
        keep_params=True,
        engine=engine,
    )
    for i, seed in enumerate(seeds):
        ref, ref_losses = _reference_loop(
            data, model, sched, seed, epochs=3, batch_size=16, data_seed=7 + seed, momentum=0.9
        )
        np.testing.assert_allclose(r.params[i], ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.history["loss"][i], ref_losses, rtol=1e-12)
