"""Tests for lrlab.lab.range_test and lrlab.lab.validation (the population range test and
validation), the torch adapter's ``validate=True``, and a smoke run of benchmarks/finder_quality.py
on a tiny budget."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrlab.finder import FinderResult, RepeatedResult, ramp, run  # noqa: E402
from lrlab.lab.data import blobs, from_arrays  # noqa: E402
from lrlab.lab.models import MLP, TorchModule  # noqa: E402
from lrlab.lab.optim import SGD, Adam  # noqa: E402
from lrlab.lab.range_test import find_lr  # noqa: E402
from lrlab.lab.validation import (  # noqa: E402
    Candidate,
    ValidatedRepeatedResult,
    ValidatedResult,
    Validation,
    validate,
    validation_center,
)

ROOT = Path(__file__).resolve().parent.parent


class Toy:
    """A small 3-class problem (two features), fixed by a seed."""

    def __init__(self, seed: int = 0, n: int = 90) -> None:
        rng = np.random.default_rng(seed)
        self.x_train = rng.normal(size=(n, 2))
        self.x_test = rng.normal(size=(40, 2))
        self.y_train = (self.x_train.sum(1) > 0).astype(int) + (self.x_train[:, 0] > 1)
        self.y_test = (self.x_test.sum(1) > 0).astype(int) + (self.x_test[:, 0] > 1)


def _torch_net(model: MLP, flat: np.ndarray) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for k, (i, o) in enumerate(model.layer_sizes):
        if k:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(i, o))
    net = torch.nn.Sequential(*layers).double()
    offset = 0
    for p in net.parameters():  # W1, b1, W2, b2: the layout of MLP.slots()
        n = p.numel()
        p.data.copy_(torch.as_tensor(flat[offset : offset + n]).view_as(p))
        offset += n
    return net


def _hand_step_fn(data, model: MLP, init_seed: int, data_seed: int, batch_size: int, momentum):
    """One model, one torch.optim.SGD, the batch order train_population uses for data_seed."""
    net = _torch_net(model, model.init_member(init_seed))
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=momentum)
    x = torch.as_tensor(data.x_train, dtype=torch.float64)
    y = torch.as_tensor(data.y_train, dtype=torch.int64)
    gen = torch.Generator().manual_seed(data_seed)

    def batches():
        while True:
            order = torch.randperm(len(x), generator=gen)
            for lo in range(0, len(x), batch_size):
                idx = order[lo : lo + batch_size]
                yield x[idx], y[idx]

    it = batches()

    def step_fn(lr: float) -> float:
        xb, yb = next(it)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step_fn


# -- the population range test ---------------------------------------------------------------------
def test_each_member_equals_run_with_a_hand_written_step_function():
    data, model = Toy(), MLP(2, (8,), 3)
    kw = {"batch_size": 16, "start_lr": 1e-4, "end_lr": 50.0, "num_steps": 60}
    rep = find_lr(data, model, SGD(momentum=0.9), seeds=[3, 5], data_seed=7, dtype="float64", **kw)
    assert isinstance(rep, RepeatedResult) and rep.seeds == (3, 5)
    for i, seed in enumerate((3, 5)):
        step_fn = _hand_step_fn(data, model, seed, 7 + seed, 16, 0.9)  # order: data_seed + seed
        ref = run(step_fn, ramp(1e-4, 50.0, 60), 60)
        got = rep.results[i]
        assert got.stop_reason == ref.stop_reason == "diverged"
        np.testing.assert_array_equal(got.lrs, ref.lrs)
        np.testing.assert_allclose(got.losses, ref.losses, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.smoothed, ref.smoothed, rtol=1e-10, atol=1e-12)
    # one run alone is the same run
    solo = find_lr(data, model, SGD(momentum=0.9), seeds=[5], data_seed=7, dtype="float64", **kw)
    assert isinstance(solo, FinderResult)
    np.testing.assert_allclose(solo.losses, rep.results[1].losses, rtol=1e-12, atol=1e-14)


def test_repeats_give_one_result_per_seed_and_batch_order():
    data, model = Toy(), MLP(2, (8,), 3)
    kw = {"batch_size": 16, "num_steps": 40, "start_lr": 1e-4, "end_lr": 10.0}
    rep = find_lr(data, model, SGD(momentum=0.9), repeats=3, **kw)
    assert isinstance(rep, RepeatedResult)
    assert rep.seeds == (0, 1, 2) and len(rep.results) == len(rep.runs) == 3
    assert len(rep.suggestions["valley"].lrs) == 3
    one = find_lr(data, model, SGD(momentum=0.9), **kw)
    assert isinstance(one, FinderResult) and not isinstance(one, ValidatedResult)
    # with a shared batch order, member 1 differs from member 0 only by its initial weights
    shared = find_lr(data, model, SGD(momentum=0.9), repeats=2, batch_order="shared", **kw)
    per = find_lr(data, model, SGD(momentum=0.9), repeats=2, **kw)
    np.testing.assert_allclose(shared.results[0].losses, per.results[0].losses, rtol=1e-6)
    assert not np.allclose(shared.results[1].losses, per.results[1].losses)


@pytest.mark.parametrize("batch_order", ["per_seed", "shared"])
def test_divergence_freezes_only_that_member(batch_order):
    data, model = Toy(), MLP(2, (8,), 3)
    kw = {
        "batch_size": 16,
        "start_lr": 1e-3,
        "end_lr": 100.0,
        "num_steps": 60,
        "dtype": "float64",
        "batch_order": batch_order,
    }
    # member 1 (momentum 0.99) blows up well before members 0 and 2 (plain SGD)
    rep = find_lr(data, model, SGD(momentum=[0.0, 0.99, 0.0]), seeds=[0, 1, 2], **kw)
    n = [r.lrs.size for r in rep.results]
    assert rep.results[1].stop_reason in ("diverged", "non-finite")
    assert n[1] < min(n[0], n[2])
    for i in (0, 2):  # the others are exactly what they are without member 1
        # per_seed: seed i's order is data_seed + i alone as in the population
        alone = find_lr(data, model, SGD(momentum=0.0), seeds=[i], **kw)
        assert alone.lrs.size == n[i]
        np.testing.assert_allclose(rep.results[i].losses, alone.losses, rtol=1e-12, atol=1e-14)


def test_find_lr_on_a_torch_module_runs_through_the_func_engine():
    def factory():
        return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

    rep = find_lr(Toy(), TorchModule(factory, 3), Adam(), batch_size=16, repeats=2, num_steps=30)
    assert [r.lrs.size > 5 for r in rep.results] == [True, True]


# -- validation ------------------------------------------------------------------------------------
def test_validation_picks_the_clearly_best_rate():
    data, model = blobs(), MLP(2, (50,), 3)
    v = validate(
        data, model, SGD(momentum=0.9), 1e-3, batch_size=32, factors=(10.0, 1e-3), epochs=5
    )
    assert isinstance(v, Validation) and v.split == "test" and v.seeds == (0, 1, 2)
    assert [c.factor for c in v.candidates] == [1e-3, 10.0]  # sorted
    assert v.best_lr == pytest.approx(1e-2) and v.best == 1
    good, tiny = v.candidates[1], v.candidates[0]
    assert good.accuracy_mean > tiny.accuracy_mean + 0.2
    assert len(good.loss) == 3 and good.diverged == 0
    text = str(v)
    assert "<- best" in text and "mean ± sd" in text and "largest rate tried" in text
    assert v.to_dict()["best_lr"] == v.best_lr


def test_find_lr_validate_attaches_the_validation():
    data, model = blobs(), MLP(2, (50,), 3)
    rep = find_lr(
        data,
        model,
        SGD(momentum=0.9),
        batch_size=32,
        repeats=2,
        validate=True,
        validate_around=1e-3,
        validate_factors=(1e-3, 10.0),
        validate_epochs=4,
        validate_seeds=2,
    )
    assert isinstance(rep, ValidatedRepeatedResult) and isinstance(rep, RepeatedResult)
    assert rep.validation is not None and rep.validation.best_lr == pytest.approx(1e-2)
    assert rep.validation.around == "given" and "validated best" in repr(rep)
    assert rep.to_dict()["validation"]["best_lr"] == rep.validation.best_lr
    one = find_lr(data, model, SGD(momentum=0.9), batch_size=32, validate=True, validate_epochs=1)
    assert isinstance(one, ValidatedResult) and one.validation is not None
    assert one.validation.around == "valley"
    assert one.validation.center == one.suggest().valley.lr == validation_center(one)[0]
    lr, note = validation_center(rep, "window")
    assert note.startswith("centre of the window") and lr == pytest.approx(
        math.sqrt(rep.window.lo * rep.window.hi)
    )
    assert validation_center(rep)[1] == "median valley of 2 runs"


def test_validation_of_a_regression_ranks_by_loss_and_without_a_test_split():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    ds = from_arrays(x, x @ [1.0, -2.0, 0.5], task="regression", test_fraction=0)
    v = validate(ds, MLP(3, (8,), 1, output="linear"), SGD(), 1e-2, batch_size=20, epochs=3)
    assert v.split == "train" and all(c.accuracy is None for c in v.candidates)
    assert v.best == int(np.argmin([c.loss_mean for c in v.candidates]))


def test_candidate_statistics_skip_diverged_seeds():
    c = Candidate(1.0, 0.1, (0.5, math.nan, 0.7), (0.8, math.nan, 0.9), 1)
    assert c.loss_mean == pytest.approx(0.6) and c.accuracy_mean == pytest.approx(0.85)
    gone = Candidate(3.0, 0.3, (math.nan,), (math.nan,), 1)
    assert gone.loss_mean is None and gone.accuracy_sd is None


# -- the torch adapter -----------------------------------------------------------------------------
def _torch_problem():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(96, 4)), dtype=torch.float32)
    y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    model(x[:8]).sum().backward()  # leave a .grad and a momentum buffer behind
    opt.step()
    return model, opt, x, y


def test_torch_validate_returns_a_validation_and_leaves_everything_untouched():
    from lrlab.torch import find_lr as torch_find_lr

    model, opt, x, y = _torch_problem()
    before_model = {k: v.clone() for k, v in model.state_dict().items()}
    before_opt = opt.state_dict()
    before_opt_state = {
        k: {n: t.clone() for n, t in s.items()} for k, s in before_opt["state"].items()
    }
    grads = [p.grad.clone() for p in model.parameters()]
    rng_state = torch.get_rng_state()
    res = torch_find_lr(
        model,
        opt,
        torch.nn.CrossEntropyLoss(),
        (x, y),
        batch_size=16,
        num_steps=40,
        val_data=(x[:32], y[:32]),
        validate=True,
        validate_epochs=2,
        validate_seeds=2,
    )
    assert isinstance(res, ValidatedResult) and isinstance(res.validation, Validation)
    assert len(res.validation.candidates) == 3 and res.validation.seeds == (0, 1)
    assert res.validation.batch_order == "per_seed" and res.validation.split == "test"
    after = model.state_dict()
    assert all(torch.equal(before_model[k], after[k]) for k in before_model)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    after_opt = opt.state_dict()
    assert after_opt["param_groups"] == before_opt["param_groups"]
    for k, s in before_opt_state.items():
        assert all(torch.equal(t, after_opt["state"][k][n]) for n, t in s.items())
    assert torch.equal(rng_state, torch.get_rng_state())


def test_torch_validate_from_a_dataloader_without_val_data():
    from torch.utils.data import DataLoader, TensorDataset

    from lrlab.torch import find_lr as torch_find_lr

    model, _, x, y = _torch_problem()
    yb = (y > 0).float()[:, None]
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, yb), batch_size=16, shuffle=True)
    res = torch_find_lr(
        model,
        opt,
        torch.nn.functional.binary_cross_entropy_with_logits,
        loader,
        num_steps=30,
        repeats=2,
        validate=True,
        validate_epochs=1,
        validate_seeds=[4],
    )
    assert isinstance(res, ValidatedRepeatedResult)
    assert res.validation.split == "train" and res.validation.seeds == (4,)


# -- bad arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"repeats": 0}, "repeats must be an integer >= 1, got 0"),
        ({"data_seed": -1}, "data_seed must be an integer >= 0, got -1"),
        ({"seeds": []}, r"seeds must be a non-empty sequence of integers, got \[\]"),
        ({"seeds": [0, 1], "repeats": 3}, "repeats=3 does not match the 2 seeds"),
        ({"dtype": "float16"}, "dtype must be one of 'float32', 'float64', got 'float16'"),
        ({"batch_order": "random"}, "batch_order must be one of .*, got 'random'"),
        ({"start_lr": -1.0}, "start_lr"),
        ({"validate": "yes"}, "validate must be True or False, got 'yes'"),
        ({"validate": True, "validate_factors": (0.0,)}, r"validate_factors\[0\] must be > 0"),
        ({"validate": True, "validate_factors": "x3"}, "validate_factors must be .*, got 'x3'"),
        ({"validate": True, "validate_factors": (1, 1)}, "must not repeat"),
        ({"validate": True, "validate_epochs": 0}, "validate_epochs must be .*, got 0"),
        ({"validate": True, "validate_around": "middle"}, "validate_around must be one of"),
        ({"validate": True, "validate_around": -0.1}, "validate_around must be > 0, got -0.1"),
        ({"validate": True, "validate_seeds": 0}, "validate_seeds must be .*, got 0"),
    ],
)
def test_bad_arguments_name_the_field_and_the_value(kwargs, match):
    args = {"batch_size": 16, **kwargs}
    with pytest.raises(ValueError, match=match):
        find_lr(Toy(), MLP(2, (8,), 3), SGD(), **args)


def test_bad_objects_are_named():
    with pytest.raises(ValueError, match=r"model must be an lrlab\.lab\.models\.MLP"):
        find_lr(Toy(), "mlp", SGD(), batch_size=16)
    with pytest.raises(ValueError, match=r"optimizer must be an lrlab\.lab\.optim optimizer"):
        find_lr(Toy(), MLP(2, (8,), 3), torch.optim.SGD, batch_size=16)
    with pytest.raises(ValueError, match="data must be an lrlab dataset"):
        find_lr(np.zeros((3, 2)), MLP(2, (8,), 3), SGD(), batch_size=16)
    with pytest.raises(ValueError, match=r"data.y_train does not fit the model: labels"):
        find_lr(Toy(), MLP(2, (8,), 2), SGD(), batch_size=16)
    with pytest.raises(ValueError, match="needs one value of each optimizer hyperparameter"):
        find_lr(Toy(), MLP(2, (8,), 3), SGD(momentum=[0.0, 0.9]), batch_size=16, repeats=2,
                validate=True)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"loss_fn": torch.nn.NLLLoss()}, "computes only cross-entropy on logits.*NLLLoss"),
        (
            {"loss_fn": torch.nn.CrossEntropyLoss(label_smoothing=0.1)},
            "no label smoothing; got loss_fn=CrossEntropyLoss",
        ),
        ({"optimizer": "lbfgs"}, "has torch.optim.SGD, Adam.*got optimizer of type .*LBFGS"),
        ({"optimizer": "groups"}, "param group 1 has lr=0.01 and group 0 0.1"),
        ({"model": "batchnorm"}, "validate=True: TorchModule: modules with buffers"),
        ({"targets": "one_hot"}, "class indices .* got dtype float32 and shape \\(96, 3\\)"),
        ({"validate_factors": [-1.0]}, r"validate_factors\[0\] must be > 0, got -1.0"),
    ],
)
def test_torch_validate_rejects_what_the_engine_cannot_train(change, match):
    from lrlab.torch import find_lr as torch_find_lr

    model, _, x, y = _torch_problem()
    if change.get("model") == "batchnorm":
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if change.get("optimizer") == "lbfgs":
        opt = torch.optim.LBFGS(model.parameters())
    elif change.get("optimizer") == "groups":
        opt = torch.optim.SGD(
            [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.01}],
            lr=0.1,
        )
    if change.get("targets") == "one_hot":
        y = torch.nn.functional.one_hot(y, 3).float()
    loss_fn = change.get("loss_fn", torch.nn.CrossEntropyLoss())
    extra = {"validate_factors": change["validate_factors"]} if "validate_factors" in change else {}
    with pytest.raises(ValueError, match=match):
        torch_find_lr(model, opt, loss_fn, (x, y), num_steps=10, validate=True, **extra)


# -- the benchmark, on a tiny budget ---------------------------------------------------------------
def _benchmark():
    path = ROOT / "benchmarks" / "finder_quality.py"
    spec = importlib.util.spec_from_file_location("finder_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["finder_quality"] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_functions_on_a_tiny_budget(tmp_path):
    fq = _benchmark()
    problem = fq.Problem(
        "tiny-blobs", blobs().subset(160, 80), MLP(2, (8,), 3), SGD(momentum=0.9), "SGD", 32, 2
    )
    settings = [(40, 0.98), (40, 0.9)]
    record = fq.run_problem(
        problem, [0, 1], fq.grid(7), settings, validate_epochs=1, log=lambda _: None
    )
    labels = [fq.setting_label(*s) for s in settings]
    assert list(record["tests"]) == labels
    assert set(record["tests"][labels[0]]["picks"]) == set(fq.PICKS)
    assert len(record["grid_mean_accuracy"]) == 7 and 0 <= record["best_index"] < 7
    scores = {label: fq.score([record], label) for label in labels}
    rows = scores[labels[1]]
    assert [r["pick"] for r in rows] == list(fq.PICKS)
    assert all(r["n"] + r["missing"] == 2 for r in rows)
    text = fq.tables(scores, [record])
    assert "`valley`" in text and "tiny-blobs" in text and "smoothing 0.9**" in text
    doc = tmp_path / "finder.md"
    doc.write_text(f"# x\n\n{fq.BEGIN}\nold\n{fq.END}\nafter\n")
    block = fq.report(scores, [record], command="cmd", seconds=1.0, seeds=2, lrs=fq.grid(7))
    fq.write_docs(block, doc)
    out = doc.read_text()
    assert "old" not in out and "`cmd`" in out and out.endswith(f"{fq.END}\nafter\n")
