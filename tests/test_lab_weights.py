"""Best weights and restore: a study's train.keep saves each trial's weights beside the store,
early stopping's restore_best_weights, and loading the weights into torch and Keras."""

from __future__ import annotations

import copy
import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

from lrlab.cli import main
from lrlab.lab.data import blobs
from lrlab.lab.models import MLP
from lrlab.lab.spec import SpecError, Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.lab.weights import (
    TrialWeights,
    load_keras,
    load_torch,
    load_weights,
    save_weights,
    weights_dir,
    weights_path,
)

STUDY = {
    "name": "kept",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    "train": {"epochs": 6, "batch_size": 25, "keep": "best"},
    "optimizer": {"name": "sgd", "momentum": 0.9},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.3, 0.03]},
    "seeds": [0, 1],
}
DATA = blobs(n_samples=200, n_train=100)


def study(**changes) -> Study:
    d = copy.deepcopy(STUDY)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return Study.from_dict(d)


def run(s: Study, out) -> tuple[object, dict[str, dict]]:
    """Run ``s`` into ``out``; its stored records and histories by trial id."""
    summary = run_study(s, out / "lrlab.sqlite")
    with Store(out / "lrlab.sqlite", readonly=True) as store:
        records = {r["trial_id"]: r for r in store.records(s.name)}
        for tid, r in records.items():
            r["history"] = store.history(tid)
    return summary, records


def files(out) -> dict[str, tuple[int, bytes]]:
    """Every file under ``out/weights``: modification time (ns) and bytes."""
    folder = out / "weights"
    if not folder.exists():
        return {}
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


# -- what a study keeps --------------------------------------------------------------------------
def test_best_weights_in_torch_and_keras_give_the_labs_own_val_loss(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    # no prediction under Keras' 1e-7 clip of probabilities here, so its loss is the lab's
    summary, records = run(study(optimizer={"name": "sgd"}, grid={"lr": [0.3, 0.1]}), tmp_path)
    assert summary.kept == 4 and summary.weights == str(tmp_path / "weights")
    assert (
        summary.weights_line() == f"weights: 4 trials kept in {tmp_path / 'weights'} (train.keep)"
    )
    x = DATA.x_test.astype(np.float32)
    y = DATA.y_test
    for tid, r in records.items():
        w = load_weights(tmp_path, tid)
        val = r["history"]["val_loss"]
        # "best" without early stopping: the lowest val_loss, the store's best_epoch
        assert w.trial == tid and w.keep == "best" and w.monitor == "val_loss"
        assert w.epoch == r["best_epoch"] == int(np.argmin(val))
        assert w.value == pytest.approx(val[w.epoch], rel=1e-6)
        assert w.params.dtype == np.float32
        assert w.evaluate(x, y)[0] == pytest.approx(val[w.epoch], rel=1e-5)
        # torch: the module returns logits; its cross-entropy is the lab's val_loss
        module = load_torch(tmp_path, trial=tid)
        with torch.no_grad():
            logits = module(torch.as_tensor(x))
            loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).item()
            acc = (logits.argmax(1).numpy() == y).mean()
        assert loss == pytest.approx(val[w.epoch], rel=1e-5)
        assert acc == pytest.approx(r["history"]["val_accuracy"][w.epoch], abs=1.5 / len(y))
        # Keras: the model ends in softmax; compiled with Keras' loss, evaluate gives the same
        model = load_keras(tmp_path, trial=tid)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        k_loss, k_acc = model.evaluate(x, y, verbose=0, batch_size=len(y))
        assert k_loss == pytest.approx(val[w.epoch], rel=1e-4)
        assert k_acc == pytest.approx(r["history"]["val_accuracy"][w.epoch], abs=1.5 / len(y))
        np.testing.assert_allclose(
            model.predict(x, verbose=0), torch.softmax(logits, 1).numpy(), rtol=1e-4, atol=1e-6
        )


def test_weights_load_into_models_built_by_hand(tmp_path):
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    run(study(grid={"lr": [0.3]}, seeds=[0]), tmp_path)
    tid = next(iter(files(tmp_path))).removesuffix(".npz")
    w = load_weights(tmp_path / "lrlab.sqlite", tid)
    with Store(tmp_path / "lrlab.sqlite", readonly=True) as store:
        record = store.records("kept")[0]
    assert weights_path(store, record) == w.path  # a Store and one of its records
    assert load_weights(tmp_path, record).epoch == w.epoch
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    assert load_torch(w.path, net) is net
    x = DATA.x_test[:10]
    with torch.no_grad():
        out = net(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(out, w.logits(x), rtol=1e-5, atol=1e-6)
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(3, "softmax")]
    )
    assert w.to_keras(model) is model
    np.testing.assert_allclose(model.predict(x, verbose=0), w.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"x must be \[N, 2\], got shape \(10, 3\)"):
        w.logits(np.zeros((10, 3)))
    wrong = torch.nn.Sequential(torch.nn.Linear(2, 9), torch.nn.ReLU(), torch.nn.Linear(9, 3))
    with pytest.raises(
        ValueError, match=r"torch model's dense layers are 2 -> 9 -> 3, the saved MLP's 2 -> 8 -> 3"
    ):
        w.to_torch(wrong)
    short = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"Keras model's dense layers are 2 -> 3, the saved MLP's"):
        w.to_keras(short)


def test_final_weights_and_restore_best_weights(tmp_path):
    # final: the last epoch's weights score the last epoch's val_loss
    _, records = run(study(train={**STUDY["train"], "keep": "final"}), tmp_path / "final")
    for tid, r in records.items():
        w = load_weights(tmp_path / "final", tid)
        assert w.keep == "final" and w.epoch == r["epochs_run"] - 1
        assert w.evaluate(DATA.x_test, DATA.y_test)[0] == pytest.approx(
            r["history"]["val_loss"][-1], rel=1e-5
        )
    # restore_best_weights: the final weights are those of the early-stopping best epoch
    stop = {"monitor": "val_accuracy", "patience": 1, "restore_best_weights": True}
    s = study(train={**STUDY["train"], "epochs": 12, "keep": "final"}, early_stopping=stop)
    _, records = run(s, tmp_path / "restore")
    moved = 0
    for tid, r in records.items():
        w = load_weights(tmp_path / "restore", tid)
        acc = r["history"]["val_accuracy"]
        best = int(np.argmax(acc))  # the first of the highest (a tie is no improvement)
        assert w.monitor == "val_accuracy" and w.epoch == best
        loss, accuracy = w.evaluate(DATA.x_test, DATA.y_test)
        assert accuracy == pytest.approx(acc[best], abs=1e-6)
        assert loss == pytest.approx(r["history"]["val_loss"][best], rel=1e-5)
        moved += best != r["epochs_run"] - 1
    assert moved, "some trial must end on an epoch that is not its best"


def test_keep_none_writes_nothing(tmp_path):
    summary, records = run(study(train={**STUDY["train"], "keep": "none"}), tmp_path)
    assert len(records) == 4 and summary.weights is None and summary.weights_line() is None
    assert not (tmp_path / "weights").exists()
    assert "weights" not in str(summary).splitlines()[1]
    with pytest.raises(FileNotFoundError, match=r"train\.keep"):
        load_weights(tmp_path, next(iter(records)))


def test_a_resumed_study_neither_rewrites_nor_loses_kept_weights(tmp_path, monkeypatch):
    first = study(grid={"lr": [0.3]})
    run(first, tmp_path)
    before = files(tmp_path)
    assert len(before) == 2
    # a run killed after its weights were written but before its trials were stored
    more = study()
    real = Store.write_trials

    def killed(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "write_trials", killed)
    with pytest.raises(KeyboardInterrupt):
        run_study(more, tmp_path / "lrlab.sqlite")
    monkeypatch.setattr(Store, "write_trials", real)
    half = files(tmp_path)  # the first cohort (a cohort per seed) wrote its file, whole
    assert len(half) == 3 and {k: half[k] for k in before} == before
    summary, _ = run(more, tmp_path)  # resume: trains the two not stored, rewrites theirs
    assert (summary.skipped, summary.ran, summary.kept) == (2, 2, 4)
    after = files(tmp_path)
    assert {k: after[k] for k in before} == before  # done trials: not touched
    assert len(after) == 4 and set(half) <= set(after)
    assert not [p for p in (tmp_path / "weights").iterdir() if p.suffix != ".npz"]
    summary, _ = run(more, tmp_path)  # everything done: nothing written
    assert summary.ran == 0 and files(tmp_path) == after


def test_what_a_diverged_trial_keeps(tmp_path):
    # the rate jumps at epoch 3 (step 12): diverges after three finite epochs
    late = "piecewise_constant(boundaries=[12], values=[0.1, 1e30])"
    s = study(
        grid={"schedule": [late, "constant(1e30)"]},
        schedule=None,
        train={**STUDY["train"], "keep": "best"},
        seeds=[0],
    )
    _, records = run(s, tmp_path / "best")
    by_kind = {r["config"]["schedule"].split("(")[0]: r for r in records.values()}
    later, at_once = by_kind["piecewise_constant"], by_kind["constant"]
    assert later["diverged"] and at_once["diverged"] and at_once["diverged_epoch"] == 0
    # best: the last finite best before the divergence; none for a trial diverged at once
    w = load_weights(tmp_path / "best", later["trial_id"])
    assert 0 <= w.epoch < later["diverged_epoch"]
    assert w.value == pytest.approx(min(later["history"]["val_loss"][: later["diverged_epoch"]]))
    assert np.isfinite(w.params).all()
    assert not weights_path(tmp_path / "best", at_once["trial_id"]).exists()
    # final: nothing for a diverged trial (its last weights are not finite)
    s = s.override({"train.keep": "final"})
    _, records = run(s, tmp_path / "final")
    assert len(records) == 2 and files(tmp_path / "final") == {}


def test_bad_values_name_the_field_and_the_value():
    with pytest.raises(SpecError, match=r"^train\.keep: must be one of .*got 'bestest'") as exc:
        study(train={**STUDY["train"], "keep": "bestest"})
    assert exc.value.path == "train.keep"
    bad = {"patience": 2, "restore_best_weights": "yes"}
    with pytest.raises(SpecError, match=r"must be true or false, got 'yes'") as exc:
        study(early_stopping=bad)
    assert exc.value.path == "early_stopping.restore_best_weights"


# -- the file ------------------------------------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path, monkeypatch):
    net = MLP(2, (4,), 3)
    path = weights_path(tmp_path, "t1")
    save_weights(path, net, net.init_member(0).astype(np.float32), trial="t1", epoch=1)
    old = path.read_bytes()
    real = np.savez

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_weights(path, net, net.init_member(1), trial="t1", epoch=2)
    monkeypatch.setattr(np, "savez", real)
    assert path.read_bytes() == old and load_weights(path).epoch == 1
    assert [p.name for p in path.parent.iterdir()] == ["t1.npz"]


def test_file_errors_say_what_is_wrong(tmp_path):
    net = MLP(2, (4,), 3)
    with pytest.raises(ValueError, match="has 27 parameters, got 5"):
        save_weights(tmp_path / "a.npz", net, np.zeros(5))
    with pytest.raises(ValueError, match="not all finite"):
        save_weights(tmp_path / "a.npz", net, np.full(27, np.nan))
    with pytest.raises(
        ValueError, match=r"trial must be a trial id such as '3f2a9c', got '\.\./x'"
    ):
        weights_path(tmp_path, "../x")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz is not an lrlab weights file"):
        load_weights(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", meta=np.array('{"format": 99}'))
    with pytest.raises(ValueError, match="has format 99; this lrlab reads 1"):
        load_weights(tmp_path / "other.npz")
    assert weights_dir(tmp_path / "lrlab.sqlite") == tmp_path / "weights"


def test_damaged_meta_and_layers_are_named(tmp_path):
    def write(name, meta, **arrays):
        np.savez(tmp_path / name, meta=np.array(json.dumps(meta)), **arrays)
        return tmp_path / name

    base = {"format": 1, "model": {"n_inputs": 2, "hidden": [4], "n_outputs": 3}}
    with pytest.raises(ValueError, match=r"no\.npz names no lrlab MLP \(KeyError"):
        load_weights(write("no.npz", {"format": 1}))
    bogus = {"format": 1, "model": {**base["model"], "bogus": 1}}
    with pytest.raises(ValueError, match=r"bogus\.npz names no lrlab MLP \(TypeError"):
        load_weights(write("bogus.npz", bogus))
    right = {name: np.zeros(shape) for name, _, shape in MLP(2, (4,), 3).slots()}
    with pytest.raises(ValueError, match=r"lacks the layer 'b2'"):
        load_weights(write("short.npz", base, **{k: v for k, v in right.items() if k != "b2"}))
    wrong = {**right, "W2": np.zeros((3, 12))}
    with pytest.raises(ValueError, match=r"layer 'W2' has shape \(3, 12\), .* needs \(3, 4\)"):
        load_weights(write("shape.npz", base, **wrong))
    good = load_weights(write("good.npz", base, **right))
    assert good.params.shape == (27,)
    assert repr(good) == (
        "TrialWeights(trial=None, keep='final', epoch=-1, MLP 2-4-3 relu/softmax, "
        "27 float64 parameters)"
    )


def test_the_weights_folder_of_a_store_folder_named_weights(tmp_path):
    out = tmp_path / "weights"  # a results folder that happens to be called "weights"
    out.mkdir()
    with Store.in_dir(out):
        pass
    assert weights_dir(out / "lrlab.sqlite") == out / "weights"
    assert weights_dir(out) == out / "weights"
    assert weights_path(out, "abc") == out / "weights" / "abc.npz"
    kept = tmp_path / "run" / "weights"  # the weights folder of a store, given itself
    kept.mkdir(parents=True)
    assert weights_dir(kept) == kept
    assert weights_dir(tmp_path / "x" / "results.db") == tmp_path / "x" / "weights"
    assert weights_dir(tmp_path / "new") == tmp_path / "new" / "weights"


def test_a_sigmoid_and_a_linear_mlp_in_torch_and_keras():
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    for net in (
        MLP(3, (5, 4), 1, output="sigmoid", activation="tanh"),
        MLP(3, (6,), 2, "sigmoid", "linear"),
    ):
        w = TrialWeights(net, net.init_member(2).astype(np.float32) + 0.1)
        module = w.to_torch()
        with torch.no_grad():
            logits = module(torch.as_tensor(x)).double().numpy()
        np.testing.assert_allclose(logits, w.logits(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            w.to_keras().predict(x, verbose=0), w.predict(x), rtol=1e-5, atol=1e-6
        )


def test_lrlab_run_keeps_the_weights_in_the_out_folder(tmp_path, capsys):
    f = tmp_path / "kept.toml"
    f.write_text(
        'schedule = "constant(0.1)"\nseeds = [0, 1]\n[data]\nname = "blobs"\nn_samples = 200\n'
        "n_train = 100\n[model]\nhidden = [4]\n[train]\nepochs = 2\nbatch_size = 50\n"
        'keep = "final"\n'
    )
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "--no-report", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"weights: 2 trials kept in {tmp_path / 'out' / 'weights'} (train.keep)" in out
    assert len(files(tmp_path / "out")) == 2
    with Store.in_dir(tmp_path / "out", readonly=True) as store:
        ids = {r["trial_id"] for r in store.records("kept")}
    assert {p.stem for p in (tmp_path / "out" / "weights").iterdir()} == ids


def test_a_store_without_a_trial_is_refused(tmp_path):
    message = r"a \.npz file, or a store and a trial, got <lrlab"
    with Store(tmp_path / "lrlab.sqlite") as store, pytest.raises(ValueError, match=message):
        load_weights(store)
