"""lrlab's population engine against real Keras 3 ``fit`` runs: the same configurations, N seeds
each, compared by Welch's two-sample t-test on the final validation accuracy.

For each configuration (blobs, MLP 2-50-3, he_uniform, softmax, batch 32; SGD at a learning
rate, with or without momentum), N independent Keras fits (``keras.utils.set_random_seed(s)``:
own initial weights and own batch order) and N lrlab seeds trained as one study, then the two
samples' means with their 95% confidence intervals and the test. A large p-value says the two
cannot be told apart with N runs; it is not run by CI (Keras' fits take minutes).

    python benchmarks/keras_crosscheck.py [--runs 20] [--epochs 200] [--backend tensorflow]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = [  # (label, learning rate, momentum)
    ("SGD 0.01", 0.01, 0.0),
    ("SGD 0.01, momentum 0.9", 0.01, 0.9),
    ("SGD 0.1", 0.1, 0.0),
]


def keras_runs(lr: float, momentum: float, runs: int, epochs: int) -> list[float]:
    import keras
    import numpy as np

    from lrlab.lab.data import blobs

    ds = blobs()
    y_train = keras.utils.to_categorical(ds.y_train, 3)
    y_test = keras.utils.to_categorical(ds.y_test, 3)
    out = []
    for seed in range(runs):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        hist = model.fit(
            ds.x_train.astype(np.float32),
            y_train,
            validation_data=(ds.x_test.astype(np.float32), y_test),
            epochs=epochs,
            batch_size=32,
            verbose=0,
        )
        out.append(float(hist.history["val_accuracy"][-1]))
    return out


def lrlab_runs(lr: float, momentum: float, runs: int, epochs: int) -> list[float]:
    from lrlab.lab.spec import Study
    from lrlab.lab.store import Store
    from lrlab.lab.study import run_study

    study = Study.from_dict(
        {
            "name": "crosscheck",
            "data": {"name": "blobs"},
            "model": {"hidden": [50]},
            "optimizer": {"name": "sgd", "momentum": momentum, "form": "keras"},
            "train": {"epochs": epochs, "batch_size": 32},
            "schedule": f"constant({lr})",
            "seeds": list(range(runs)),
        }
    )
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.sqlite") as store:
        run_study(study, store)
        return [float(r["final_val_accuracy"]) for r in store.records("crosscheck")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--epochs", type=int, default=200)
    default = "tensorflow" if importlib.util.find_spec("tensorflow") else "torch"
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", default))
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    from lrlab.lab.stats import mean_ci, welch_test

    print(
        f"blobs 2-50-3, batch 32, {args.epochs} epochs, {args.runs} runs each; Keras on "
        f"{args.backend}; final validation accuracy, mean ± 95% CI"
    )
    for label, lr, momentum in CONFIGS:
        t0 = time.perf_counter()
        ours = lrlab_runs(lr, momentum, args.runs, args.epochs)
        t1 = time.perf_counter()
        theirs = keras_runs(lr, momentum, args.runs, args.epochs)
        t2 = time.perf_counter()
        test = welch_test(ours, theirs)
        print(
            f"{label}: lrlab {mean_ci(ours)} [{t1 - t0:.1f} s]; Keras {mean_ci(theirs)} "
            f"[{t2 - t1:.1f} s]; {test}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
