"""lrlab's population engine against real Keras 3 ``fit`` runs: the same configurations, N seeds
each, compared by Welch's two-sample t-test on the final validation accuracy.

For each configuration, N independent Keras fits (``keras.utils.set_random_seed(s)``: own
initial weights and own batch order) and N lrlab seeds trained as one study, then the two
samples' means with their 95% confidence intervals and the test. A large p-value says the two
cannot be told apart with N runs; it is not run by CI (Keras' fits take minutes).

The configurations are the classic tutorials' own:

- blobs (``lrlab.lab.data.blobs``), MLP 2-50-3, relu, he_uniform, softmax, batch 32, SGD at a
  constant rate with or without momentum, ``--epochs`` epochs (200 as the tutorial);
- Ionosphere (the shipped UCI file, the last 33% held out unshuffled as Keras'
  ``validation_split=0.33``), 34-34-1, relu, Keras 2's ``init='normal'`` (N(0, 0.05)), sigmoid,
  batch 28, Keras' SGD(0.1), 50 epochs as its tutorial: the baseline (constant rate, no
  momentum) and Keras 2's time-based decay ``lr / (1 + 0.002 * iterations)`` with momentum 0.8.
  Keras 3 has no ``decay=`` argument; ``InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.002)``
  is the same rate per update.

    python benchmarks/keras_crosscheck.py [--runs 20] [--epochs 200] [--backend tensorflow]
        [--only blobs,ionosphere] [--page docs/reproductions/keras_crosscheck.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Config:
    """One configuration trained on both sides."""

    label: str
    data: str  # "blobs" or "ionosphere"
    lr: float
    momentum: float
    decay: float = 0.0  # Keras 2's time-based decay per update (0: a constant rate)
    epochs: int | None = None  # None: --epochs


CONFIGS = [
    Config("blobs, SGD 0.01", "blobs", 0.01, 0.0),
    Config("blobs, SGD 0.01, momentum 0.9", "blobs", 0.01, 0.9),
    Config("blobs, SGD 0.1", "blobs", 0.1, 0.0),
    Config("Ionosphere, SGD 0.1 (baseline)", "ionosphere", 0.1, 0.0, epochs=50),
    Config(
        "Ionosphere, SGD 0.1, time-based decay 0.002, momentum 0.8",
        "ionosphere",
        0.1,
        0.8,
        decay=0.002,
        epochs=50,
    ),
]

BATCH = {"blobs": 32, "ionosphere": 28}


def _dataset(name: str) -> Any:
    from lrlab.lab.data import blobs, ionosphere

    return blobs() if name == "blobs" else ionosphere(split="keras", validation_split=0.33)


def keras_runs(cfg: Config, runs: int, epochs: int) -> list[float]:
    """The final validation accuracy of ``runs`` independent Keras fits of ``cfg``."""
    import keras
    import numpy as np

    ds = _dataset(cfg.data)
    if cfg.data == "blobs":
        y_train = keras.utils.to_categorical(ds.y_train, 3)
        y_test = keras.utils.to_categorical(ds.y_test, 3)
        loss = "categorical_crossentropy"
    else:
        y_train = ds.y_train.astype(np.float32)
        y_test = ds.y_test.astype(np.float32)
        loss = "binary_crossentropy"
    out = []
    for seed in range(runs):
        keras.utils.set_random_seed(seed)
        if cfg.data == "blobs":
            layers = [
                keras.Input((2,)),
                keras.layers.Dense(50, activation="relu", kernel_initializer="he_uniform"),
                keras.layers.Dense(3, activation="softmax"),
            ]
        else:  # Keras 2's init='normal' on both layers, as the tutorial
            init = keras.initializers.RandomNormal(mean=0.0, stddev=0.05)
            layers = [
                keras.Input((34,)),
                keras.layers.Dense(34, activation="relu", kernel_initializer=init),
                keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init),
            ]
        model = keras.Sequential(layers)
        rate: Any = cfg.lr
        if cfg.decay:
            rate = keras.optimizers.schedules.InverseTimeDecay(
                cfg.lr, decay_steps=1, decay_rate=cfg.decay
            )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=rate, momentum=cfg.momentum),
            loss=loss,
            metrics=["accuracy"],
        )
        hist = model.fit(
            ds.x_train.astype(np.float32),
            y_train,
            validation_data=(ds.x_test.astype(np.float32), y_test),
            epochs=epochs,
            batch_size=BATCH[cfg.data],
            verbose=0,
        )
        out.append(float(hist.history["val_accuracy"][-1]))
    return out


def lrlab_runs(cfg: Config, runs: int, epochs: int) -> list[float]:
    """The final validation accuracy of ``runs`` lrlab seeds of ``cfg``, trained as one study."""
    from lrlab.lab.spec import Study
    from lrlab.lab.store import Store
    from lrlab.lab.study import run_study

    schedule = (
        f"keras2_decay(lr={cfg.lr}, decay={cfg.decay})" if cfg.decay else f"constant({cfg.lr})"
    )
    if cfg.data == "blobs":
        data: dict[str, Any] = {"name": "blobs"}
        model: dict[str, Any] = {"hidden": [50]}
    else:
        data = {"name": "ionosphere", "split": "keras", "validation_split": 0.33}
        model = {"hidden": [34], "activation": "relu", "init": "normal"}
    study = Study.from_dict(
        {
            "name": "crosscheck",
            "data": data,
            "model": model,
            "optimizer": {"name": "sgd", "momentum": cfg.momentum, "form": "keras"},
            "train": {"epochs": epochs, "batch_size": BATCH[cfg.data]},
            "schedule": schedule,
            "seeds": list(range(runs)),
        }
    )
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.sqlite") as store:
        run_study(study, store)
        return [float(r["final_val_accuracy"]) for r in store.records("crosscheck")]


def _ci(values: list[float]) -> str:
    from lrlab.lab.stats import mean_ci

    ci = mean_ci(values)
    return f"{ci.mean:.4f} [{ci.low:.4f}, {ci.high:.4f}]"


def _versions() -> str:
    out = []
    for dist in ("lrlab", "keras", "tensorflow", "tensorflow-cpu", "torch", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out.append(f"{dist} {importlib.metadata.version(dist)}")
    return ", ".join(out)


def write_page(path: Path, rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The recorded table as a Markdown page, with the command, the machine and the date."""
    command = "python benchmarks/keras_crosscheck.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:]
    )
    lines = [
        "# lrlab's population engine against Keras 3 `fit`",
        "",
        "The same configurations trained by lrlab (one study, the seeds as a population) and by "
        f"{args.runs} independent Keras 3 `fit` runs (Keras on {args.backend}; "
        "`keras.utils.set_random_seed(seed)` gives each its own initial weights and batch "
        "order), compared on the final validation accuracy: each side's mean with its 95% "
        "Student-t confidence interval over the runs, and Welch's two-sample t-test. A large "
        "p-value says the two engines cannot be told apart with this many runs; a small one "
        "would say they train differently.",
        "",
        "| configuration | epochs | lrlab (95% CI) | Keras (95% CI) | difference | Welch p | "
        "n (lrlab, Keras) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["test"]
        lines.append(
            f"| {r['label']} | {r['epochs']} | {_ci(r['lrlab'])} | {_ci(r['keras'])} | "
            f"{t.difference:+.4f} | {t.p:.3g} | {t.n[0]}, {t.n[1]} |"
        )
    lines += [
        "",
        "Settings, as the tutorials set them: blobs (`lrlab.lab.data.blobs()`), MLP 2-50-3, "
        "relu, he_uniform, softmax, categorical cross-entropy, batch 32; Ionosphere (the "
        "shipped UCI file, the last 33% of the rows held out unshuffled as Keras' "
        "`validation_split=0.33`: 235 train / 116 validation), 34-34-1, relu, Keras 2's "
        "`init='normal'` (N(0, 0.05)) on both layers, sigmoid, binary cross-entropy, batch 28, "
        "50 epochs. Keras 3 has no `decay=` argument: the time-based decay "
        "`lr / (1 + 0.002 * iterations)` is "
        "`keras.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.002)` "
        "there and `keras2_decay(lr=0.1, decay=0.002)` in lrlab, both per update. "
        'Both sides use Keras\' SGD update (`optimizer.form = "keras"` in lrlab).',
        "",
        "Wall-clock seconds for all runs of a configuration (lrlab / Keras), on the machine "
        "as it was, other work included (not a benchmark: see benchmarks/population.py): "
        + "; ".join(f"{r['label']}: {r['t_lrlab']:.1f} / {r['t_keras']:.1f}" for r in rows)
        + ".",
        "",
        f"Regenerated with `{command}` on {datetime.date.today().isoformat()}, "
        f"{platform.machine()} {platform.system()} ({os.cpu_count()} CPUs), Python "
        f"{platform.python_version()}, {_versions()}.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--epochs", type=int, default=200, help="blobs' epochs (Ionosphere: 50)")
    default = "tensorflow" if importlib.util.find_spec("tensorflow") else "torch"
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", default))
    p.add_argument("--only", default=None, help="comma-separated data sets: blobs, ionosphere")
    p.add_argument("--page", default=None, help="also write the table as a Markdown page")
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    from lrlab.lab.stats import welch_test

    chosen = set(args.only.split(",")) if args.only else {"blobs", "ionosphere"}
    print(
        f"{args.runs} runs each; Keras on {args.backend}; final validation accuracy, mean [95% CI]"
    )
    rows = []
    for cfg in CONFIGS:
        if cfg.data not in chosen:
            continue
        epochs = cfg.epochs if cfg.epochs is not None else args.epochs
        t0 = time.perf_counter()
        ours = lrlab_runs(cfg, args.runs, epochs)
        t1 = time.perf_counter()
        theirs = keras_runs(cfg, args.runs, epochs)
        t2 = time.perf_counter()
        test = welch_test(ours, theirs)
        rows.append(
            {
                "label": cfg.label,
                "epochs": epochs,
                "lrlab": ours,
                "keras": theirs,
                "test": test,
                "t_lrlab": t1 - t0,
                "t_keras": t2 - t1,
            }
        )
        print(
            f"{cfg.label}, {epochs} epochs: lrlab {_ci(ours)} [{t1 - t0:.1f} s]; "
            f"Keras {_ci(theirs)} [{t2 - t1:.1f} s]; {test}"
        )
        sys.stdout.flush()
    if args.page:
        write_page(Path(args.page), rows, args)
        print(f"wrote {args.page}")


if __name__ == "__main__":
    main()
