"""Trial weights: what a study's ``train.keep`` saves, and how to load them into torch or Keras.

A study with ``train.keep = "best"`` or ``"final"`` saves each trial's weights in one file
``<store folder>/weights/<trial id>.npz`` (:func:`weights_path`; ``lrlab run --out DIR`` puts the
store in ``DIR``, so the files are ``DIR/weights/*.npz``). The file is NumPy's ``.npz``, read
without pickles:

- ``W1, b1, W2, b2, ...``: each Dense layer's weights ``[fan_out, fan_in]`` (torch
  ``nn.Linear``'s layout) and bias ``[fan_out]``, in the trial's dtype: the slots of
  :meth:`lrlab.lab.models.MLP.slots`, the flat vector the lab trains cut into layers;
- ``meta``: a JSON string with ``format`` (1), ``trial`` (its id), ``keep`` (``"best"`` or
  ``"final"``), ``epoch`` (0-based epoch whose end the weights are from), ``monitor`` and
  ``value`` (the metric that chose a best epoch and its value then; the last epoch's for
  ``"final"``), ``model`` (:meth:`~lrlab.lab.models.MLP.to_dict`) and ``dtype``.

Files are written atomically (a temporary file in the same folder, then ``os.replace``): a run
that is killed leaves either the whole new file or what was there before, never half a file.

:func:`load_weights` reads one into a :class:`TrialWeights`; :meth:`TrialWeights.to_torch` /
:func:`load_torch` give a ``torch.nn.Sequential`` (or fill one you built of the same shape) and
:meth:`TrialWeights.to_keras` / :func:`load_keras` a Keras 3 model. The torch module returns
logits, as a torch classifier does (the loss takes them: ``cross_entropy``,
``binary_cross_entropy_with_logits``, ``mse_loss``); the Keras model ends in the MLP's output
activation (softmax, sigmoid or linear), as a Keras classifier does.

Example:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from lrlab.lab.models import MLP
    >>> from lrlab.lab.weights import load_weights, save_weights
    >>> net = MLP(2, (3,), 2)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "weights" / "abc123.npz"
    >>> _ = save_weights(path, net, net.init_member(0), trial="abc123", keep="final", epoch=4)
    >>> w = load_weights(path)
    >>> w.trial, w.epoch, [a.shape for a, _ in w.layers()]
    ('abc123', 4, [(3, 2), (2, 3)])
    >>> w.predict(np.zeros((1, 2))).round(3).tolist()  # biases start at 0: equal odds
    [[0.5, 0.5]]
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._store_schema import FILENAME
from .models import MLP

__all__ = [
    "FORMAT",
    "WEIGHTS_DIR",
    "TrialWeights",
    "keep_monitor",
    "kept_weights",
    "load_keras",
    "load_torch",
    "load_weights",
    "save_kept",
    "save_weights",
    "weights_dir",
    "weights_path",
]

#: the version of the ``.npz`` layout written by :func:`save_weights`
FORMAT = 1
#: the folder beside the store that holds the weight files
WEIGHTS_DIR = "weights"
_ID = re.compile(r"[A-Za-z0-9_.-]+\Z")
_TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}


def weights_dir(store: Any) -> Path:
    """The weights folder of a store: ``<store folder>/weights``.

    Args:
        store: A :class:`~lrlab.lab.store.Store`, its file, or its folder (``--out DIR``).

    Example:
        >>> weights_dir("/runs/blobs/lrlab.sqlite").as_posix()
        '/runs/blobs/weights'
        >>> weights_dir("/runs/blobs").as_posix()
        '/runs/blobs/weights'
    """
    path = Path(store.path) if hasattr(store, "path") else Path(store)
    if path.is_dir():
        # a store's folder (even one named "weights"), else the weights folder itself
        store_folder = (path / FILENAME).exists() or path.name != WEIGHTS_DIR
        return path / WEIGHTS_DIR if store_folder else path
    # a store file, existing or not yet (a name with a suffix), else a folder to be made
    folder = path.parent if path.is_file() or path.suffix else path
    return folder / WEIGHTS_DIR


def weights_path(store: Any, trial: Any) -> Path:
    """The file of one trial's weights: ``<store folder>/weights/<trial id>.npz``.

    Args:
        store: As for :func:`weights_dir`.
        trial: The trial id, or anything with it (a :class:`~lrlab.lab.spec.Trial`, a record
            of :meth:`~lrlab.lab.store.Store.records` with its ``"trial_id"``).

    Raises:
        ValueError: the id is not a trial id (letters, digits, ``_``, ``-``, ``.``).

    Example:
        >>> weights_path("/runs/blobs", "3f2a9c").as_posix()
        '/runs/blobs/weights/3f2a9c.npz'
    """
    if isinstance(trial, dict):  # a store record (trial_id) or a cohort row (id)
        tid = trial.get("trial_id", trial.get("id"))
    else:
        tid = getattr(trial, "id", trial)
    if not isinstance(tid, str) or not _ID.match(tid) or tid.strip(".") == "":
        raise ValueError(f"weights: trial must be a trial id such as '3f2a9c', got {trial!r}")
    return weights_dir(store) / f"{tid}.npz"


def _layers(model: MLP, params: np.ndarray) -> dict[str, np.ndarray]:
    """The flat vector cut into the MLP's slots (``W1, b1, ...``)."""
    flat = np.asarray(params).reshape(-1)
    if flat.size != model.n_params:
        raise ValueError(
            f"weights: the model {model.layer_sizes} has {model.n_params} parameters, "
            f"got {flat.size}"
        )
    return {
        name: flat[off : off + math.prod(shape)].reshape(shape)
        for name, off, shape in model.slots()
    }


def save_weights(
    path: str | os.PathLike[str],
    model: MLP,
    params: np.ndarray,
    *,
    trial: str | None = None,
    keep: str = "final",
    epoch: int = -1,
    monitor: str | None = None,
    value: float | None = None,
) -> Path:
    """Write one member's weights to ``path`` atomically (see the module docstring).

    Args:
        path: The ``.npz`` file (its folder is created).
        model: The :class:`~lrlab.lab.models.MLP`.
        params: Its flat parameter vector ``[P]``, saved in its own dtype.
        trial, keep, epoch, monitor, value: Stored in ``meta``.

    Returns:
        The path written.

    Raises:
        ValueError: ``params`` is not the model's size or not finite.
        OSError: the file cannot be written (nothing is left behind; an old file is kept).
    """
    arrays = _layers(model, params)
    if not all(np.isfinite(a).all() for a in arrays.values()):
        raise ValueError("weights: refusing to save weights that are not all finite")
    meta = {
        "format": FORMAT,
        "trial": trial,
        "keep": keep,
        "epoch": int(epoch),
        "monitor": monitor,
        "value": None if value is None or not math.isfinite(value) else float(value),
        "model": model.to_dict(),
        "dtype": str(np.asarray(params).dtype),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


@dataclasses.dataclass(frozen=True)
class TrialWeights:
    """One trial's saved weights (:func:`load_weights`).

    Attributes:
        model: The :class:`~lrlab.lab.models.MLP` they belong to.
        params: The flat parameter vector ``[P]`` (the lab's layout, in the saved dtype).
        trial: The trial id (``None`` if not recorded).
        keep: ``"best"`` or ``"final"``.
        epoch: 0-based epoch at whose end they were taken.
        monitor: The metric that chose the best epoch (``None`` if not recorded).
        value: Its value at ``epoch`` (``None`` if not recorded or not finite).
        path: The file they came from.
    """

    model: MLP
    params: np.ndarray
    trial: str | None = None
    keep: str = "final"
    epoch: int = -1
    monitor: str | None = None
    value: float | None = None
    path: Path | None = None

    def __repr__(self) -> str:
        m = self.model
        sizes = "-".join(str(n) for n in (m.n_inputs, *m.hidden, m.n_outputs))
        value = "" if self.value is None else f" = {self.value:.4g}"
        monitor = "" if self.monitor is None else f", {self.monitor}{value}"
        return (
            f"TrialWeights(trial={self.trial!r}, keep={self.keep!r}, epoch={self.epoch}"
            f"{monitor}, MLP {sizes} {m.activation}/{m.output}, {self.params.size} "
            f"{self.params.dtype} parameters)"
        )

    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(W, b)`` of each Dense layer: ``W [fan_out, fan_in]`` (torch's layout), ``b``."""
        arrays = _layers(self.model, self.params)
        return [(arrays[f"W{k}"], arrays[f"b{k}"]) for k in range(1, len(arrays) // 2 + 1)]

    def logits(self, x: Any) -> np.ndarray:
        """The MLP's outputs before the output activation, ``[N, n_outputs]``, in float64:
        the NumPy engine's forward pass, for one member."""
        from .engine import NumpyMLPKernel

        a = np.asarray(x, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.model.n_inputs:
            raise ValueError(
                f"TrialWeights.logits: x must be [N, {self.model.n_inputs}], got shape {a.shape}"
            )
        theta = np.ascontiguousarray(self.params.reshape(1, -1), dtype=np.float64)
        z = NumpyMLPKernel(self.model).forward(theta, NumpyMLPKernel.inputs(a))[-1]
        return np.ascontiguousarray(z[0].T)  # [K, N] scratch of the kernel -> a copy [N, K]

    def predict(self, x: Any) -> np.ndarray:
        """The MLP's predictions ``[N, n_outputs]`` (after softmax, sigmoid or nothing), as
        ``model.predict`` of the Keras model of :meth:`to_keras` gives them (in float64)."""
        return _activate(self.logits(x), self.model.output)

    def evaluate(self, x: Any, y: Any) -> tuple[float, float | None]:
        """Mean loss and accuracy on ``(x, y)`` computed as the lab computes ``val_loss`` and
        ``val_accuracy`` (the NumPy engine's kernel, in the weights' dtype); accuracy ``None``
        for a regression (``mse``) model."""
        from .engine import NumpyMLPKernel, split

        dt = np.dtype(self.params.dtype if self.params.dtype.kind == "f" else np.float64)
        data = split(x, y, self.model, dt)
        kernel = NumpyMLPKernel(self.model)
        theta = np.ascontiguousarray(self.params.reshape(1, -1).astype(dt))
        yt = np.ascontiguousarray(data.y.T)
        loss, acc = kernel.evaluate(theta, NumpyMLPKernel.inputs(data.x), yt)
        return float(loss[0]), None if self.model.loss == "mse" else float(acc[0])

    def to_torch(self, module: Any = None) -> Any:
        """These weights in a torch module (needs torch).

        Args:
            module: A module whose ``nn.Linear`` layers, in order, have the MLP's shapes (an
                ``nn.Sequential(Linear, ReLU, Linear)`` for ``2 -> 50 -> 3``, say); its
                parameters are overwritten in place, in their own dtype and device. ``None``:
                a new ``nn.Sequential`` of ``Linear`` layers and the hidden activation, in
                float32, returning logits.

        Returns:
            The module.

        Raises:
            ValueError: the module's ``Linear`` layers are not the MLP's (count or shapes).
        """
        import torch

        layers = self.layers()
        if module is None:
            parts: list[Any] = []
            for k, (w, _) in enumerate(layers):
                parts.append(torch.nn.Linear(w.shape[1], w.shape[0]))
                act = _TORCH_ACTIVATIONS.get(self.model.activation)
                if k < len(layers) - 1 and act is not None:
                    parts.append(getattr(torch.nn, act)())
            module = torch.nn.Sequential(*parts)
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        _check_shapes(
            "torch", [tuple(m.weight.shape) for m in linears], [w.shape for w, _ in layers]
        )
        with torch.no_grad():
            for m, (w, b) in zip(linears, layers, strict=True):
                if m.bias is None:
                    raise ValueError(f"weights: torch layer {m} has no bias; the MLP's have")
                m.weight.copy_(torch.as_tensor(np.asarray(w, dtype=np.float64)))
                m.bias.copy_(torch.as_tensor(np.asarray(b, dtype=np.float64)))
        return module

    def to_keras(self, model: Any = None) -> Any:
        """These weights in a Keras 3 model (needs keras).

        Args:
            model: A model whose ``Dense`` layers, in order, have the MLP's shapes (kernels
                ``[fan_in, fan_out]``, with biases); their weights are set with
                ``set_weights``. ``None``: a new ``keras.Sequential`` of ``Input`` and
                ``Dense`` layers with the hidden activation and the output activation.

        Returns:
            The model.

        Raises:
            ValueError: the model's ``Dense`` layers are not the MLP's (count or shapes).
        """
        import keras

        layers = self.layers()
        if model is None:
            acts = [self.model.activation] * (len(layers) - 1) + [self.model.output]
            model = keras.Sequential(
                [keras.Input((self.model.n_inputs,))]
                + [
                    keras.layers.Dense(w.shape[0], activation=act)
                    for (w, _), act in zip(layers, acts, strict=True)
                ]
            )
        dense = [la for la in model.layers if isinstance(la, keras.layers.Dense)]
        _check_shapes(
            "Keras",
            [tuple(la.kernel.shape)[::-1] for la in dense],
            [w.shape for w, _ in layers],
        )
        for la, (w, b) in zip(dense, layers, strict=True):
            if not la.use_bias:
                raise ValueError(f"weights: Keras layer {la.name} has no bias; the MLP's have")
            dt = la.kernel.dtype
            la.set_weights([np.asarray(w.T, dtype=dt), np.asarray(b, dtype=dt)])
        return model


def _activate(a: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(a, 0)
    if name == "tanh":
        return np.tanh(a)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-a))
    if name == "softmax":
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return a


def _check_shapes(where: str, got: list[tuple[int, ...]], want: list[tuple[int, ...]]) -> None:
    """Refuse a module whose layers (``[fan_out, fan_in]`` each) are not the MLP's."""
    if [tuple(g) for g in got] != [tuple(w) for w in want]:

        def show(shapes: list[tuple[int, ...]]) -> str:
            return " -> ".join([str(shapes[0][1]), *(str(s[0]) for s in shapes)]) if shapes else ""

        raise ValueError(
            f"weights: the {where} model's dense layers are {show(got) or 'none'}, "
            f"the saved MLP's {show(want)}"
        )


def load_weights(source: Any, trial: Any = None) -> TrialWeights:
    """Read one trial's saved weights.

    Args:
        source: The ``.npz`` file; or, with ``trial``, the store (a
            :class:`~lrlab.lab.store.Store`, its file or its folder, ``--out DIR``) whose
            ``weights/`` folder holds it.
        trial: The trial id (or a :class:`~lrlab.lab.spec.Trial` or a store record), when
            ``source`` is a store.

    Returns:
        A :class:`TrialWeights`.

    Raises:
        FileNotFoundError: no such file (the trial kept no weights: ``train.keep = "none"``,
            not run yet, or diverged with nothing to keep).
        ValueError: the file is not lrlab weights, or a format this version does not read.
    """
    if trial is None and not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"weights: source must be a .npz file, or a store and a trial, got {source!r}"
        )
    path = Path(source) if trial is None else weights_path(source, trial)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights: no file {path} (weights are saved only by a study with train.keep = "
            '"best" or "final", for trials that ran with it and had weights to keep)'
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"][()]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"weights: {path} is not an lrlab weights file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise ValueError(f"weights: {path} has format {got!r}; this lrlab reads {FORMAT}")
    try:
        model = MLP.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"weights: {path} names no lrlab MLP ({type(exc).__name__}: {exc})"
        ) from None
    for name, _, shape in model.slots():
        if name not in arrays:
            raise ValueError(f"weights: {path} lacks the layer {name!r}")
        if arrays[name].shape != shape:
            raise ValueError(
                f"weights: {path}: layer {name!r} has shape {arrays[name].shape}, the model "
                f"{model} needs {shape}"
            )
    params = np.concatenate([arrays[name].reshape(-1) for name, _, _ in model.slots()])
    return TrialWeights(
        model=model,
        params=params,
        trial=meta.get("trial"),
        keep=meta.get("keep", "final"),
        epoch=int(meta.get("epoch", -1)),
        monitor=meta.get("monitor"),
        value=meta.get("value"),
        path=path,
    )


def load_torch(source: Any, module: Any = None, *, trial: Any = None) -> Any:
    """:func:`load_weights` then :meth:`TrialWeights.to_torch`: saved weights in a torch module.

    Example:
        >>> import pathlib, tempfile, torch
        >>> from lrlab.lab.models import MLP
        >>> net = MLP(2, (4,), 3)
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = save_weights(weights_path(out, "t1"), net, net.init_member(1), trial="t1")
        >>> module = load_torch(out, trial="t1")
        >>> module
        Sequential(
          (0): Linear(in_features=2, out_features=4, bias=True)
          (1): ReLU()
          (2): Linear(in_features=4, out_features=3, bias=True)
        )
        >>> x = torch.ones(1, 2)
        >>> w = load_weights(out, "t1")
        >>> bool(torch.allclose(module(x).double(), torch.as_tensor(w.logits(x.numpy()))))
        True
    """
    return load_weights(source, trial).to_torch(module)


def load_keras(source: Any, model: Any = None, *, trial: Any = None) -> Any:
    """:func:`load_weights` then :meth:`TrialWeights.to_keras`: saved weights in a Keras model.

    Example:
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> from lrlab.lab.models import MLP
        >>> net = MLP(2, (4,), 3)
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = save_weights(weights_path(out, "t1"), net, net.init_member(1), trial="t1")
        >>> model = load_keras(out, trial="t1")
        >>> [layer.kernel.shape for layer in model.layers]
        [(2, 4), (4, 3)]
        >>> x = np.ones((1, 2), dtype="float32")
        >>> np.allclose(model.predict(x, verbose=0), load_weights(out, "t1").predict(x), atol=1e-6)
        True
    """
    return load_weights(source, trial).to_keras(model)


# -- the study side: what a trial keeps, and writing it ------------------------------------------
def keep_monitor(shared: Mapping[str, Any], has_test: bool = True) -> str:
    """The metric whose best epoch ``train.keep = "best"`` saves: the early-stopping monitor
    if ``[early_stopping]`` is set, else ``val_loss`` (``loss`` for data without a test
    split).

    Example:
        >>> keep_monitor({"early_stopping": None}), keep_monitor({"early_stopping": None}, False)
        ('val_loss', 'loss')
    """
    if shared.get("early_stopping") is not None:
        return str(shared["early_stopping"]["monitor"])
    return "val_loss" if has_test else "loss"


def kept_weights(
    result: Any, i: int, keep: str, shared: Mapping[str, Any], dtype: str
) -> dict[str, Any] | None:
    """Member ``i``'s weights to save for ``train.keep`` (``"best"`` or ``"final"``), from a
    :class:`~lrlab.lab.population.PopulationResult` of the cohort whose shared config is
    ``shared``, as plain data for :func:`save_kept`; or ``None`` when it has none: a
    ``"best"`` member with no best epoch (diverged at its first), a ``"final"`` member that
    diverged and was not restored to its best (its last weights are not finite)."""
    if keep == "best":
        epoch = int(result.best_epoch[i])
        if epoch < 0:
            return None
        params = result.best_params[i]
    else:
        restored = result.restored is not None and bool(result.restored[i])
        if bool(result.diverged[i]) and not restored:
            return None
        epoch = int(result.best_epoch[i]) if restored else int(result.epochs_run[i]) - 1
        params = result.params[i]
    monitor = keep_monitor(shared, "val_loss" in result.history)
    value = float(result.history[monitor][i, epoch])
    return {
        "params": params.astype(dtype),
        "epoch": epoch,
        "monitor": monitor,
        "value": value if math.isfinite(value) else None,
        "keep": keep,
    }


def save_kept(store: Any, rows: list[dict[str, Any]]) -> int:
    """Write the weights that :func:`lrlab.lab.study.train_cohort` kept (``train.keep``) beside
    ``store`` (a :class:`~lrlab.lab.store.Store`), one
    :func:`~lrlab.lab.weights.save_weights` file per trial, and take them out of ``rows``.

    Called before the rows are stored, so a trial marked done has its file; a run killed in
    between leaves a whole file of a trial that the next run trains again and rewrites.

    Returns:
        The number of files written.

    Raises:
        StoreError: a file cannot be written (disk full, no permission).
    """
    from .store import StoreError

    written = 0
    for r in rows:
        kept = r.pop("weights", None)
        if kept is None:
            continue
        model = MLP.from_dict(r["config"]["model"])
        path = weights_path(store, r["id"])
        try:
            save_weights(
                path,
                model,
                kept["params"],
                trial=r["id"],
                keep=kept["keep"],
                epoch=kept["epoch"],
                monitor=kept["monitor"],
                value=kept["value"],
            )
        except OSError as exc:
            raise StoreError(f"{path}: cannot write the trial's weights: {exc}") from None
        written += 1
    return written
