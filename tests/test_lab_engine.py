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


def test_auto_picks_numpy_for_small_cpu_cohorts_and_torch_elsewhere():
    blobs = MLP(2, (50,), 3)
    assert auto_engine(blobs, 8, 32) == "numpy"
    assert auto_engine(blobs, 8, 32, device="cuda:0") == "torch"


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
