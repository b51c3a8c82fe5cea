"""The engines and the cohort loop: the batch order is torch's, computed in NumPy; both engines
follow the Engine protocol and the loop gives them the same numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lrlab.lab.engine import (
    Controls,
    NumpyEngine,
    auto_engine,
    epoch_orders,
    make_engine,
    native_status,
    run_cohort,
)
from lrlab.lab.engine._order import numpy_orders
from lrlab.lab.models import MLP
from lrlab.lab.optim import SGD, Adam


@pytest.mark.parametrize(
    ("rows", "seed"),
    [(1, 5), (2, 9), (90, 7), (500, 0), (351, 3), (17, 2**40 + 3), (33, -1), (33, -(2**63))],
)
def test_the_numpy_batch_order_is_torch_randperm(rows, seed):
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(seed)
    for ours in itertools.islice(numpy_orders(rows, seed), 3):
        np.testing.assert_array_equal(ours, torch.randperm(rows, generator=generator).numpy())


def test_epoch_orders_without_shuffle_and_its_limits():
    assert next(epoch_orders(4, 0, shuffle=False)).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"n must be in \[1, 214748364\), got 0"):
        next(epoch_orders(0, 0))


def _data(rows: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 2))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 0] > 1).astype(int)


@pytest.mark.parametrize("optimizer", [SGD(momentum=[0.9, 0.0, 0.5]), Adam()], ids=repr)
def test_the_loop_gives_both_engines_the_same_numbers(optimizer):
    pytest.importorskip("torch")
    x, y = _data()
    rates = np.tile(np.geomspace(0.3, 0.01, 5 * 4), (3, 1))
    runs = {}
    for kind in ("numpy", "torch"):
        engine = make_engine(
            kind, MLP(2, (6,), 3), 3, (x, y), (x[:20], y[:20]), batch_size=16, dtype="float64"
        )
        engine.init([0, 1, 2], optimizer)
        runs[kind] = run_cohort(engine, rates, epochs=5, data_seed=4, keep_params=True)
    np.testing.assert_allclose(runs["numpy"].params, runs["torch"].params, rtol=0, atol=1e-12)
    for key, values in runs["torch"].history.items():
        np.testing.assert_allclose(runs["numpy"].history[key], values, rtol=1e-12)


def test_a_member_that_diverges_is_frozen_by_the_loop():
    from lrlab.control import EarlyStopping

    x, y = _data()
    engine = make_engine("numpy", MLP(2, (6,), 3), 2, (x, y), None, batch_size=16, dtype="float32")
    assert isinstance(engine, NumpyEngine)
    engine.init([0, 1], SGD())
    rates = np.array([[0.05] * 20, [1e30] * 20])
    stop = Controls(early_stopping=EarlyStopping(patience=100), stop_monitor="loss")
    r = run_cohort(engine, rates, epochs=5, has_test=False, controls=stop, keep_params=True)
    assert r.diverged.tolist() == [False, True]
    assert r.epochs_run.tolist() == [5, 1]
    assert np.all(r.params[1] == 0) and np.isfinite(r.params[0]).all()
    assert np.isnan(r.history["loss"][1, 1:]).all()


def test_auto_picks_native_then_numpy_for_small_cpu_cohorts_and_torch_elsewhere():
    blobs = MLP(2, (50,), 3)
    native = native_status() == "available"
    assert auto_engine(blobs, 8, 32) == ("native" if native else "numpy")
    assert auto_engine(blobs, 1024, 32) == ("native" if native else "torch")
    assert auto_engine(blobs, 8, 32, dtype="float64") == "numpy"
    assert auto_engine(blobs, 8, 32, device="cuda:0") == "torch"
    assert auto_engine(MLP(784, (300, 100), 10), 8, 32) == "torch"  # too wide for native


def test_one_batch_order_per_member_on_both_engines():
    """A member with its own order trains as it does alone with that order (both engines)."""
    pytest.importorskip("torch")
    x, y = _data(50)
    rates = np.full((3, 4 * 4), 0.1)
    for kind in ("numpy", "torch"):
        runs = []
        for members, seeds in (([0, 1, 2], [5, 6, 7]), ([1], [6])):
            engine = make_engine(
                kind, MLP(2, (6,), 3), len(members), (x, y), None, batch_size=16, dtype="float64"
            )
            engine.init(members, SGD(momentum=0.9))
            runs.append(
                run_cohort(
                    engine,
                    rates[: len(members)],
                    epochs=4,
                    data_seed=seeds,
                    has_test=False,
                    keep_params=True,
                )
            )
        together, alone = runs
        np.testing.assert_allclose(together.params[1], alone.params[0], rtol=0, atol=1e-13)
        np.testing.assert_allclose(together.history["loss"][1], alone.history["loss"][0], 1e-13)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_finite_flags_exactly_the_members_with_a_nan_or_inf_weight(kind):
    # finite() sums each member's weights first: a sum that overflows (huge finite weights)
    # must still count as finite, and nan, +inf, -inf, or +inf with -inf must not
    if kind == "torch":
        pytest.importorskip("torch")
    x, y = _data()
    engine = make_engine(kind, MLP(2, (4,), 3), 6, (x, y), None, batch_size=16, dtype="float32")
    engine.init(list(range(6)), SGD())
    P = engine.params().shape[1]
    rows = np.zeros((6, P))
    rows[1, 0] = np.nan
    rows[2, 3] = np.inf
    rows[3, 5] = -np.inf
    rows[4, :2] = (np.inf, -np.inf)
    rows[5, :] = 3e38  # finite in float32, its sum overflows
    engine.load_params(np.ones(6, dtype=bool), rows)
    np.testing.assert_array_equal(engine.finite(), [True, False, False, False, False, True])


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_params_of_some_members_and_load_params_write_only_theirs(kind):
    if kind == "torch":
        pytest.importorskip("torch")
    x, y = _data()
    engine = make_engine(kind, MLP(2, (4,), 3), 3, (x, y), None, batch_size=16, dtype="float32")
    engine.init([0, 1, 2], SGD(momentum=0.9))
    before = engine.params()
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(engine.params(mask), before[mask])
    engine.load_params(mask, np.stack([np.full(before.shape[1], 0.5), np.full(before.shape[1], 2)]))
    after = engine.params()
    assert (after[0] == 0.5).all() and (after[2] == 2).all()
    np.testing.assert_array_equal(after[1], before[1])
    # the kernels train the loaded weights: one step moves them
    engine.start_epoch(np.arange(len(x)))
    engine.step(0, np.full(3, 0.1, dtype=np.float32))
    assert not np.array_equal(engine.params()[0], after[0])


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_keep_best_copies_each_members_lowest_val_loss_epoch(kind):
    if kind == "torch":
        pytest.importorskip("torch")
    x, y = _data()
    net = MLP(2, (6,), 3)
    # member 1's rate jumps at epoch 3: it diverges there and keeps its last finite best
    rates = np.array([[0.3] * 20, [0.3] * 12 + [1e150] * 8])
    engine = make_engine(kind, net, 2, (x, y), (x[:20], y[:20]), batch_size=16, dtype="float64")
    engine.init([0, 1], SGD())
    r = run_cohort(engine, rates, epochs=5, data_seed=2, keep_params=True, keep_best=True)
    gone = int(r.diverged_epoch[1])
    assert r.diverged.tolist() == [False, True] and gone >= 3
    val = r.history["val_loss"]
    assert r.best_epoch[0] == int(np.nanargmin(val[0]))
    assert r.best_epoch[1] == int(np.nanargmin(val[1, :gone])) and r.best_epoch[1] < gone
    assert not r.restored.any()  # keep_best alone restores nothing
    np.testing.assert_array_equal(r.params[1], 0)  # the diverged member is frozen at 0
    for i in range(2):  # the copy is the weights of that epoch: they score its val_loss
        check = make_engine(kind, net, 1, (x, y), (x[:20], y[:20]), batch_size=16, dtype="float64")
        check.init([0], SGD())
        check.load_params(np.array([True]), r.best_params[i : i + 1])
        loss = check.evaluate("test")[0][0]
        assert loss == pytest.approx(val[i, r.best_epoch[i]], rel=1e-12)


def test_restore_best_weights_loads_the_best_epoch_at_the_end_stopped_or_not():
    from lrlab.control import EarlyStopping

    x, y = _data()
    net = MLP(2, (6,), 3)
    rates = np.array([[0.5] * 40, [2.0] * 40, [0.01] * 40])
    controls = Controls(
        early_stopping=EarlyStopping(patience=3, min_delta=1e-3, restore_best_weights=True),
        stop_monitor="val_loss",
    )
    engine = make_engine("numpy", net, 3, (x, y), (x[:20], y[:20]), batch_size=16, dtype="float64")
    engine.init([0, 1, 2], SGD(momentum=0.9))
    r = run_cohort(engine, rates, epochs=10, data_seed=1, controls=controls, keep_params=True)
    assert r.restored.all() and r.best_params is None  # tracked for the restore only
    final = engine.evaluate("test")[0]
    for i in range(3):
        assert final[i] == pytest.approx(r.history["val_loss"][i, r.best_epoch[i]], rel=1e-12)
    # the same run without restoring ends on its last epoch's weights instead
    plain = Controls(
        early_stopping=EarlyStopping(patience=3, min_delta=1e-3), stop_monitor="val_loss"
    )
    engine.init([0, 1, 2], SGD(momentum=0.9))
    q = run_cohort(engine, rates, epochs=10, data_seed=1, controls=plain, keep_params=True)
    np.testing.assert_array_equal(q.history["val_loss"], r.history["val_loss"])
    last = engine.evaluate("test")[0]
    for i in range(3):
        assert last[i] == pytest.approx(q.history["val_loss"][i, q.epochs_run[i] - 1], rel=1e-12)
    moved = [r.best_epoch[i] != q.epochs_run[i] - 1 for i in range(3)]
    assert any(moved), "the case must have a member whose best epoch is not its last"
