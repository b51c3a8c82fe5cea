"""Tests for lrlab.torch.find_lr: exact restore (also after an exception), param-group ratios,
cycling data, gradient accumulation, AMP, evaluation, repeats, and a real run on Ionosphere."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrlab.finder import FinderResult, RepeatedResult, ramp  # noqa: E402
from lrlab.lab.data import ionosphere  # noqa: E402
from lrlab.torch import find_lr, preserved  # noqa: E402


def _data(n=64, d=6, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = (x[:, :1] - 0.5 * x[:, 1:2] > 0).to(dtype)
    return x, y


def _net(d=6, dtype=torch.float32):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(d, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(8, 1),
    ).to(dtype)


def _two_groups(model, kind):
    groups = [
        {"params": list(model[0].parameters()) + list(model[1].parameters()), "lr": 1e-3},
        {"params": model[4].parameters(), "lr": 1e-2},  # ratio 10
    ]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-4)
    return torch.optim.Adam(groups, lr=1e-3, betas=(0.8, 0.99), weight_decay=1e-4)


def _warm_up(model, opt, x, y, steps=3):
    """A few real steps so that momentum buffers / Adam moments / step counts exist."""
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    model.eval()  # a mode the finder must put back
    model[0].train()
    model[4].weight.grad = torch.full_like(model[4].weight, 0.25)  # a gradient left over


def _capture(model, opt):
    return {
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "opt": _clone(opt.state_dict()),
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
    }


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return obj


def _assert_identical(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, path
        assert torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for k in a:
            _assert_identical(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_identical(u, v, f"{path}[{i}]")
    else:
        assert a == b or (a is None and b is None), f"{path}: {a!r} != {b!r}"


# -- exact restore --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("warm", [True, False])
def test_state_is_restored_bit_identical(kind, warm):
    x, y = _data()
    model = _net()
    opt = _two_groups(model, kind)
    if warm:
        _warm_up(model, opt, x, y)
    before = _capture(model, opt)
    res = find_lr(
        model,
        opt,
        torch.nn.BCEWithLogitsLoss(),
        (x, y),
        batch_size=16,
        start_lr=1e-4,
        end_lr=10.0,
        num_steps=30,
    )
    assert isinstance(res, FinderResult) and res.lrs.size > 5
    _assert_identical(before, _capture(model, opt))
    assert bool(opt.state) == warm  # no optimizer state left behind


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_is_restored_after_an_exception(kind):
    x, y = _data()
    model = _net()
    opt = _two_groups(model, kind)
    _warm_up(model, opt, x, y)
    before = _capture(model, opt)
    calls = []

    def failing_loss(out, target):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("boom at step 7")
        return torch.nn.functional.binary_cross_entropy_with_logits(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, opt, failing_loss, (x, y), batch_size=16, num_steps=20)
    _assert_identical(before, _capture(model, opt))


def test_restore_keeps_tensor_identity():
    x, y = _data()
    model = _net()
    opt = _two_groups(model, "adam")
    _warm_up(model, opt, x, y)
    moment = opt.state[model[0].weight]["exp_avg"]
    running = model[1].running_mean
    find_lr(model, opt, torch.nn.BCEWithLogitsLoss(), (x, y), num_steps=10)
    assert opt.state[model[0].weight]["exp_avg"] is moment and model[1].running_mean is running


def test_preserved_context_manager():
    model = _net()
    opt = _two_groups(model, "sgd")
    before = _capture(model, opt)
    with pytest.raises(ZeroDivisionError), preserved(model, opt):
        x, y = _data()
        torch.nn.BCEWithLogitsLoss()(model(x), y).backward()
        opt.step()
        opt.param_groups[1]["lr"] = 5.0
        opt.param_groups[0]["extra"] = 1
        1 / 0  # noqa: B018
    _assert_identical(before, _capture(model, opt))
    assert "extra" not in opt.param_groups[0]


def test_global_random_state_is_not_advanced():
    x, y = _data()
    model, opt = _net(), None
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    find_lr(model, opt, torch.nn.BCEWithLogitsLoss(), (x, y), num_steps=10, repeats=2)
    assert torch.equal(torch.rand(3), expected)


# -- what the optimizer sees ----------------------------------------------------------------------
def test_param_groups_keep_their_ratio_and_group_0_follows_the_ramp():
    x, y = _data()
    model = _net()
    opt = _two_groups(model, "sgd")
    seen = []

    def loss_fn(out, target):
        seen.append([g["lr"] for g in opt.param_groups])
        return torch.nn.functional.binary_cross_entropy_with_logits(out, target)

    res = find_lr(
        model, opt, loss_fn, (x, y), start_lr=1e-5, end_lr=1.0, num_steps=25, diverge_factor=None
    )
    seen = np.asarray(seen)
    assert res.lrs.size == 25 and len(seen) == 25
    np.testing.assert_allclose(seen[:, 0], ramp(1e-5, 1.0, 25)(np.arange(25)), rtol=1e-12)
    np.testing.assert_allclose(seen[:, 1] / seen[:, 0], 10.0, rtol=1e-12)
    np.testing.assert_array_equal(res.lrs, seen[:, 0])
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-2]


def test_tensor_lr_is_set_in_place_and_restored():
    x, y = _data()
    model = _net()
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-3))
    lr = opt.param_groups[0]["lr"]
    find_lr(model, opt, torch.nn.BCEWithLogitsLoss(), (x, y), num_steps=10)
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(1e-3)


# -- data -----------------------------------------------------------------------------------------
def test_short_loader_cycles():
    x, y = _data(n=24)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seen = []

    def loss_fn(out, target):
        seen.append(target.clone())
        return torch.nn.functional.binary_cross_entropy_with_logits(out, target)

    res = find_lr(model, opt, loss_fn, loader, num_steps=10, start_lr=1e-6, end_lr=1e-3)
    assert res.stop_reason == "completed" and res.lrs.size == 10
    for i in range(3, 10):  # 3 batches per pass, in order: pass 2 repeats pass 1
        assert torch.equal(seen[i], seen[i - 3])


def test_tensor_pair_is_reshuffled_each_pass():
    x = torch.arange(12.0)[:, None]
    y = torch.zeros(12, 1)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    rows = []

    def loss_fn(out, target):
        return ((out - target) ** 2).mean()

    def fwd_hook(module, args, out):
        rows.append(args[0][:, 0].tolist())

    model.register_forward_hook(fwd_hook)
    find_lr(
        model,
        opt,
        loss_fn,
        (x, y),
        batch_size=4,
        num_steps=6,
        start_lr=1e-6,
        end_lr=1e-5,
        diverge_factor=None,
    )
    first = [v for batch in rows[:3] for v in batch]
    second = [v for batch in rows[3:6] for v in batch]
    assert sorted(first) == sorted(second) == list(range(12))
    assert first != second
    rows.clear()
    find_lr(
        model,
        opt,
        loss_fn,
        (x, y),
        batch_size=5,
        num_steps=3,
        shuffle=False,
        start_lr=1e-6,
        end_lr=1e-5,
        diverge_factor=None,
    )
    assert rows == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]  # the last batch is short


def test_one_shot_iterator_is_refused_clearly():
    x, y = _data(n=16)
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    batches = iter([(x[:8], y[:8]), (x[8:], y[8:])])
    with pytest.raises(ValueError, match="second pass"):
        find_lr(model, opt, torch.nn.BCEWithLogitsLoss(), batches, num_steps=5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": (torch.zeros(4, 2), torch.zeros(3))}, ValueError, "same, non-zero"),
        ({"data": 3}, TypeError, "DataLoader"),
        ({"data": [{"x": 1}]}, TypeError, "tuple"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"accumulation_steps": 0}, ValueError, "accumulation_steps"),
        ({"eval_every": 2}, ValueError, "val_data"),
        ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr"),
    ],
)
def test_bad_input(kwargs, error, match):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    args = {"data": (torch.zeros(4, 2), torch.zeros(4, 1)), **kwargs}
    data = args.pop("data")
    with pytest.raises(error, match=match):
        find_lr(model, opt, torch.nn.functional.mse_loss, data, num_steps=5, **args)


def test_zero_reference_lr_with_other_groups_is_refused():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight], "lr": 0.0}, {"params": [model.bias]}], lr=0.1)
    with pytest.raises(ValueError, match="group 0"):
        find_lr(model, opt, torch.nn.functional.mse_loss, (torch.zeros(4, 2), torch.zeros(4, 1)))


# -- accumulation, AMP, evaluation, repeats -------------------------------------------------------
def test_accumulation_equals_one_big_batch():
    x, y = _data(n=64, dtype=torch.float64)
    losses = {}
    for acc, bs in ((1, 16), (2, 8), (4, 4)):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
        ).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        res = find_lr(
            model,
            opt,
            torch.nn.BCEWithLogitsLoss(),
            (x, y),
            batch_size=bs,
            accumulation_steps=acc,
            num_steps=12,
            start_lr=1e-3,
            end_lr=1.0,
            shuffle=False,
            diverge_factor=None,
        )
        losses[acc] = res.losses
    # each step sees the same 16 rows; equal gradients give equal later losses
    np.testing.assert_allclose(losses[2], losses[1], rtol=1e-12)
    np.testing.assert_allclose(losses[4], losses[1], rtol=1e-12)


def test_amp_on_cpu_bfloat16():
    x, y = _data()
    model = _net()
    opt = _two_groups(model, "adam")
    _warm_up(model, opt, x, y)
    before = _capture(model, opt)
    seen = []

    def loss_fn(out, target):
        seen.append(out.dtype)
        return torch.nn.functional.binary_cross_entropy_with_logits(out.float(), target)

    res = find_lr(model, opt, loss_fn, (x, y), amp=True, num_steps=20)
    assert set(seen) == {torch.bfloat16} and np.isfinite(res.losses).any()
    _assert_identical(before, _capture(model, opt))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_on_cuda_float16_with_grad_scaler():
    x, y = _data()
    model = _net().cuda()
    opt = _two_groups(model, "adam")
    _warm_up(model, opt, x.cuda(), y.cuda())
    before = _capture(model, opt)
    res = find_lr(model, opt, torch.nn.BCEWithLogitsLoss(), (x, y), amp=True, num_steps=40)
    assert res.lrs.size > 10 and np.isfinite(res.losses[:-1]).all()
    _assert_identical(before, _capture(model, opt))


def test_val_data_is_evaluated_every_k_steps():
    x, y = _data()
    xv, yv = _data(n=40, seed=1)
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    res = find_lr(
        model,
        opt,
        torch.nn.BCEWithLogitsLoss(),
        (x, y),
        val_data=(xv, yv),
        eval_every=5,
        batch_size=16,
        num_steps=30,
        start_lr=1e-5,
        end_lr=1e-2,
    )
    assert res.eval_steps.tolist() == [4, 9, 14, 19, 24, 29]
    # with a tiny ramp the weights barely move: the eval loss is the full-set loss in eval mode
    model.eval()
    with torch.no_grad():
        full = torch.nn.BCEWithLogitsLoss()(model(xv), yv).item()
    assert res.eval_losses[0] == pytest.approx(full, rel=1e-2)
    assert res.suggest(source="eval").valley.lr is not None


def test_repeats_return_a_summary_and_start_from_the_same_state():
    x, y = _data()
    model = _net()
    opt = _two_groups(model, "sgd")
    before = _capture(model, opt)
    rep = find_lr(
        model,
        opt,
        torch.nn.BCEWithLogitsLoss(),
        (x, y),
        batch_size=8,
        num_steps=30,
        repeats=3,
        seed=5,
        start_lr=1e-5,
        end_lr=10.0,
    )
    assert isinstance(rep, RepeatedResult) and rep.seeds == (5, 6, 7)
    # same start, different batch orders: the first losses differ, the ramps are equal
    a, b = rep.results[0], rep.results[1]
    np.testing.assert_array_equal(a.lrs[:5], b.lrs[:5])
    assert not np.array_equal(a.losses[:5], b.losses[:5])
    _assert_identical(before, _capture(model, opt))
    again = find_lr(
        model,
        opt,
        torch.nn.BCEWithLogitsLoss(),
        (x, y),
        batch_size=8,
        num_steps=30,
        seed=6,
        start_lr=1e-5,
        end_lr=10.0,
    )
    np.testing.assert_array_equal(again.losses, b.losses)  # a repeat is its seed's single run


# -- a real run -----------------------------------------------------------------------------------
def test_ionosphere_34_34_1():
    ds = ionosphere().standardized()
    x = torch.tensor(ds.x_train, dtype=torch.float32)
    y = torch.tensor(ds.y_train, dtype=torch.float32)[:, None]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(34, 34), torch.nn.ReLU(), torch.nn.Linear(34, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    res = find_lr(
        model,
        opt,
        torch.nn.BCEWithLogitsLoss(),
        (x, y),
        batch_size=32,
        start_lr=1e-7,
        end_lr=10.0,
        num_steps=100,
    )
    assert res.stop_reason == "diverged"
    s = res.suggest()
    for sug in s.values():
        assert math.isfinite(sug.lr)
    for rule in ("steepest", "valley", "half_divergence"):
        assert 1e-7 <= s[rule].lr <= 10.0
    assert 1e-8 <= s.minimum_div10.lr <= 1.0
    assert 1e-4 <= s.steepest.lr <= 1.0 and 1e-4 <= s.valley.lr <= 1.0
    assert s.window is not None and s.window.lo <= s.window.hi
