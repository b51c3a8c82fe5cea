"""A study's trials written for other tools: TensorBoard event files (one run per trial), CSV and
JSON (one row per trial).

TensorBoard files are written with tensorboardX's ``SummaryWriter`` (``pip install
'lrlab[tensorboard]'``), a maintained writer that needs neither TensorFlow nor torch; open them
with ``tensorboard --logdir LOGDIR``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from .._text import short_name
from ..lab.store import Store, flatten, write_csv
from ..lab.summary import study_spec, swept_value, swept_variables

__all__ = ["export_csv", "export_json", "export_tensorboard"]

#: the per-epoch metrics written to TensorBoard, when a trial has them
SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+,-]+")


def _safe(text: str, limit: int = 80) -> str:
    """``text`` as one path component: letters, digits and ``._=+,-``, the rest as ``_``."""
    return _UNSAFE.sub("_", text).strip("._")[:limit] or "_"


def _records(store: Store, study: str) -> list[dict[str, Any]]:
    names = [s["name"] for s in store.studies()]
    if study not in names:
        raise ValueError(f"study: no study {study!r} in the store; studies: {names or 'none'}")
    return store.records(study)


def export_tensorboard(store: Store, study: str, logdir: str | Path) -> list[Path]:
    """Write each finished trial of ``study`` as a TensorBoard run under ``logdir/<study>/``.

    A run is named by the trial's swept variables, seed and id (``lr=0.1,seed=0,3fa2c1d0``);
    it holds the scalars ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and ``lr`` per
    epoch (step = epoch, from 1; an epoch without a value, such as a diverged one, is skipped)
    and the trial's config as text. Needs ``tensorboardX``.

    Returns:
        The run folders written, in the study's order.

    Example:
        >>> import tempfile, pathlib
        >>> from lrlab.lab.spec import Study
        >>> from lrlab.lab.store import Store
        >>> from lrlab.lab.study import run_study
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> study = Study.from_dict({"name": "s", "data": {"name": "blobs", "n_samples": 100,
        ...     "n_train": 50}, "model": {"hidden": [4]}, "train": {"epochs": 2,
        ...     "batch_size": 25}, "schedule": "constant({lr})", "grid": {"lr": [0.1, 0.01]}})
        >>> with Store(tmp / "lrlab.sqlite") as store:
        ...     _ = run_study(study, store)
        ...     runs = export_tensorboard(store, "s", tmp / "tb")
        >>> [p.name.split(",")[0] for p in runs]
        ['lr=0.1', 'lr=0.01']
    """
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError(
            "TensorBoard export needs tensorboardX: pip install 'lrlab[tensorboard]'"
        ) from None
    records = [r for r in _records(store, study) if r["status"] == "done"]
    varying = swept_variables(records, study_spec(store, study))
    root = Path(logdir) / _safe(study)
    written: list[Path] = []
    for r in records:
        label = ",".join(f"{short_name(k)}={swept_value(r, k)}" for k in varying)
        name = _safe(f"{label},seed={r['seed']},{r['trial_id'][:8]}".lstrip(","), 160)
        run_dir = root / name
        history = store.history(r["trial_id"])
        with SummaryWriter(logdir=str(run_dir)) as writer:
            for metric in SCALARS:
                for epoch, value in enumerate(history.get(metric, []), 1):
                    if value is not None:
                        writer.add_scalar(metric, float(value), epoch)
            writer.add_text("config", json.dumps(r["config"], indent=1).replace("\n", "  \n"))
        written.append(run_dir)
    return written


def _atomic_write(path: Path, write: Any) -> None:
    """Write a text file whole: into a temporary file beside it, then renamed over it. The
    file gets the permissions ``open`` would give it: an existing file's own, else
    ``0o666`` less the umask (the temporary file is made with that mode, the umask applied by
    the system: ``mkstemp`` would make it the owner's alone, and asking for the umask would
    change it for the whole process). Raises ``OSError`` naming ``path``."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name beside it", str(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if path.is_file():
                with contextlib.suppress(OSError):  # (a file system without modes)
                    os.fchmod(f.fileno(), stat.S_IMODE(path.stat().st_mode))
            write(f)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def export_csv(store: Store, study: str, path: str | Path) -> Path:
    """Write one row per trial of ``study`` (config as dotted columns) to the CSV file ``path``."""
    rows = [flatten(r) for r in _records(store, study)]
    target = Path(path)
    _atomic_write(target, lambda f: write_csv(rows, f))
    return target


def export_json(store: Store, study: str, path: str | Path) -> Path:
    """Write the trials of ``study`` (config nested) as a JSON list to ``path``."""
    records = _records(store, study)
    target = Path(path)
    _atomic_write(target, lambda f: json.dump(records, f, indent=1))
    return target
