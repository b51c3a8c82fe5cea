"""The :class:`Dataset` container: a train/test split with its task, names and provenance."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..._checks import either, float_dtype, integer

__all__ = ["TASKS", "Dataset", "Task"]

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


def _first_bad(x: NDArray[Any]) -> str:
    """Where the first non-finite value of ``x`` is, as ``row r`` / ``row r, column c``."""
    where = np.argwhere(~np.isfinite(x))[0]
    return "row " + ", column ".join(str(int(i)) for i in where[:2])


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A supervised dataset split into a training and a test part, with its provenance.

    Arrays are kept as given (not copied); :meth:`standardized` and :meth:`subset` return new
    datasets and never modify this one.

    Attributes:
        name: Short name (``"ionosphere"``, ``"blobs"`` ...).
        x_train: Training inputs, float32 or float64, shape ``[n_train, ...]``.
        y_train: Training targets: int64 class indices ``[n_train]`` for classification, floats
            ``[n_train]`` or ``[n_train, k]`` for regression.
        x_test: Test inputs, same dtype and trailing shape as ``x_train`` (may have 0 rows).
        y_test: Test targets, as ``y_train``.
        task: ``"binary"`` (exactly 2 classes), ``"multiclass"`` (3 or more) or ``"regression"``.
        n_classes: Number of classes (``None`` for regression). Class indices are
            ``0 .. n_classes - 1``; a class need not occur in every part.
        feature_names: Name of each input feature, when known.
        class_names: Name of each class index, when known.
        meta: Provenance: ``source``, ``citation``, ``license``, ``split`` (how train and test
            were formed) and any preprocessing applied.

    Example:
        >>> import numpy as np
        >>> ds = Dataset("toy", np.zeros((3, 2)), np.array([0, 1, 1]), np.ones((1, 2)),
        ...              np.array([0]), task="binary", n_classes=2)
        >>> ds
        Dataset(name='toy', task='binary', n_classes=2, n_features=2, train=3, test=1,
                dtype=float64)
        >>> ds.one_hot()[0]
        array([[1., 0.],
               [0., 1.],
               [0., 1.]])
    """

    name: str
    x_train: NDArray[Any]
    y_train: NDArray[Any]
    x_test: NDArray[Any]
    y_test: NDArray[Any]
    task: Task
    n_classes: int | None = None
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = "Dataset"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"{owner}: name must be a non-empty string, got {self.name!r}")
        either(owner, "task", self.task, TASKS)
        for part in ("x_train", "x_test"):
            x = getattr(self, part)
            if not isinstance(x, np.ndarray) or x.ndim < 2:
                raise ValueError(
                    f"{owner}: {part} must be a NumPy array of shape [n, features...], got "
                    f"{type(x).__name__} of shape {np.shape(x)}"
                )
            if x.dtype not in (np.float32, np.float64):
                raise ValueError(f"{owner}: {part} must be float32 or float64, got {x.dtype}")
            if x.size and not np.all(np.isfinite(x)):
                raise ValueError(f"{owner}: {part} has a NaN or infinite value at {_first_bad(x)}")
        if self.x_test.dtype != self.x_train.dtype:
            raise ValueError(
                f"{owner}: x_test has dtype {self.x_test.dtype} but x_train has "
                f"{self.x_train.dtype}; both must be the same"
            )
        if self.x_test.shape[1:] != self.x_train.shape[1:]:
            raise ValueError(
                f"{owner}: x_test rows have shape {self.x_test.shape[1:]} but x_train rows have "
                f"{self.x_train.shape[1:]}"
            )
        if len(self.x_train) == 0:
            raise ValueError(f"{owner}: x_train must have at least one row, got 0")
        if self.task == "regression":
            self._check_regression(owner)
        else:
            self._check_classification(owner)
        if self.feature_names is not None:
            names = self._names(owner, "feature_names", self.feature_names)
            if len(names) != self.n_features:
                raise ValueError(
                    f"{owner}: feature_names has {len(names)} names for {self.n_features} features"
                )
            object.__setattr__(self, "feature_names", names)
        if not isinstance(self.meta, Mapping):
            raise ValueError(f"{owner}: meta must be a mapping, got {type(self.meta).__name__}")
        object.__setattr__(self, "meta", dict(self.meta))

    @staticmethod
    def _names(owner: str, field: str, names: Sequence[str]) -> tuple[str, ...]:
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{owner}: {field} must be a sequence of strings, got {names!r}")
        return tuple(names)

    def _check_lengths(self, owner: str) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not isinstance(y, np.ndarray):
                raise ValueError(f"{owner}: y_{part} must be a NumPy array, got {type(y).__name__}")
            if len(y) != len(x):
                raise ValueError(
                    f"{owner}: y_{part} has {len(y)} rows but x_{part} has {len(x)}; they must "
                    "match"
                )

    def _check_classification(self, owner: str) -> None:
        self._check_lengths(owner)
        n = integer(owner, "n_classes", self.n_classes, lo=2)
        if (self.task == "binary") != (n == 2):
            want = "'binary'" if n == 2 else "'multiclass'"
            raise ValueError(
                f"{owner}: task {self.task!r} does not fit n_classes={n}; use task={want}"
            )
        for part in ("y_train", "y_test"):
            y = getattr(self, part)
            if y.ndim != 1 or y.dtype.kind not in "iu":
                raise ValueError(
                    f"{owner}: {part} must hold integer class indices of shape [n], got dtype "
                    f"{y.dtype} and shape {y.shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= n):
                bad = int(y.min()) if y.min() < 0 else int(y.max())
                raise ValueError(
                    f"{owner}: {part} has class index {bad}, outside 0..{n - 1} (n_classes={n})"
                )
            if y.dtype != np.int64:
                object.__setattr__(self, part, y.astype(np.int64))
        if self.class_names is not None:
            names = self._names(owner, "class_names", self.class_names)
            if len(names) != n:
                raise ValueError(f"{owner}: class_names has {len(names)} names for n_classes={n}")
            object.__setattr__(self, "class_names", names)

    def _check_regression(self, owner: str) -> None:
        self._check_lengths(owner)
        if self.n_classes is not None or self.class_names is not None:
            raise ValueError(
                f"{owner}: a regression dataset has no classes; got n_classes="
                f"{self.n_classes!r}, class_names={self.class_names!r}"
            )
        for part in ("y_train", "y_test"):
            y = getattr(self, part)
            if y.ndim not in (1, 2) or y.dtype not in (np.float32, np.float64):
                raise ValueError(
                    f"{owner}: {part} must be float32/float64 of shape [n] or [n, k] for "
                    f"regression, got dtype {y.dtype} and shape {y.shape}"
                )
            if y.size and not np.all(np.isfinite(y)):
                raise ValueError(f"{owner}: {part} has a NaN or infinite value at {_first_bad(y)}")

    # -- derived sizes ---------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Number of input values per example (the product of a row's shape)."""
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return len(self.x_train)

    @property
    def n_test(self) -> int:
        """Number of test examples."""
        return len(self.x_test)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, n_classes={self.n_classes}, "
            f"n_features={self.n_features}, train={self.n_train}, test={self.n_test}, "
            f"dtype={self.x_train.dtype})"
        )

    # -- transformations -------------------------------------------------------------------------
    def one_hot(self, dtype: DTypeLike | None = None) -> tuple[NDArray[Any], NDArray[Any]]:
        """The class targets as one-hot rows: ``(y_train_one_hot, y_test_one_hot)``.

        Args:
            dtype: Float dtype of the result; the dtype of ``x_train`` when ``None``.

        Returns:
            Two arrays of shape ``[n, n_classes]`` with a single 1 in each row.

        Raises:
            ValueError: For a regression dataset.
        """
        if self.n_classes is None:
            raise ValueError(f"Dataset.one_hot: {self.name!r} is a regression dataset")
        dt = self.x_train.dtype if dtype is None else float_dtype("Dataset.one_hot", dtype)
        eye = np.eye(self.n_classes, dtype=dt)
        return eye[self.y_train], eye[self.y_test]

    def standardized(self, fit_on: str = "train") -> Dataset:
        """A copy with every input feature shifted to mean 0 and scaled to standard deviation 1.

        ``x' = (x - mean) / std`` with the population standard deviation (``ddof=0``, as
        scikit-learn's ``StandardScaler``), computed in float64 and cast back. A feature that is
        constant on the fitted rows is only shifted (divided by 1), so it becomes exactly 0 there
        instead of a division by zero.

        Args:
            fit_on: ``"train"`` (the default: statistics of the training part only, so nothing
                about the test part leaks into training) or ``"all"`` (train and test together,
                as some tutorials do before splitting).

        Returns:
            A new :class:`Dataset`; ``meta["standardization"]`` holds ``fit_on``, ``mean`` and
            ``scale`` (the divisor, 1 for constant features) to apply to new inputs.

        Example:
            >>> import numpy as np
            >>> x = np.array([[1.0, 5.0], [3.0, 5.0]])
            >>> ds = Dataset("toy", x, np.array([0, 1]), x[:1], np.array([0]),
            ...              task="binary", n_classes=2)
            >>> ds.standardized().x_train
            array([[-1.,  0.],
                   [ 1.,  0.]])
        """
        either("Dataset.standardized", "fit_on", fit_on, ("train", "all"))
        fit = self.x_train if fit_on == "train" else np.concatenate([self.x_train, self.x_test])
        fit = fit.astype(np.float64)
        constant = np.all(fit == fit[:1], axis=0)
        mean = np.where(constant, fit[0], fit.mean(axis=0))
        scale = np.where(constant, 1.0, fit.std(axis=0))
        dt = self.x_train.dtype

        def apply(x: NDArray[Any]) -> NDArray[Any]:
            return ((x.astype(np.float64) - mean) / scale).astype(dt)

        meta = dict(self.meta)
        meta["standardization"] = {"fit_on": fit_on, "mean": mean, "scale": scale}
        return dataclasses.replace(
            self, x_train=apply(self.x_train), x_test=apply(self.x_test), meta=meta
        )

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and first ``n_test`` test examples (for quick runs).

        Args:
            n_train: Training examples to keep, ``1 .. self.n_train``; all when ``None``.
            n_test: Test examples to keep, ``0 .. self.n_test``; all when ``None``.

        Returns:
            A new :class:`Dataset` (views of this one's arrays); ``meta["subset"]`` records the
            sizes.
        """
        owner = "Dataset.subset"
        kt = self.n_train if n_train is None else integer(owner, "n_train", n_train, lo=1)
        ke = self.n_test if n_test is None else integer(owner, "n_test", n_test, lo=0)
        if kt > self.n_train:
            raise ValueError(
                f"{owner}: n_train must be at most {self.n_train} (the training size), got {kt}"
            )
        if ke > self.n_test:
            raise ValueError(
                f"{owner}: n_test must be at most {self.n_test} (the test size), got {ke}"
            )
        meta = dict(self.meta)
        meta["subset"] = {"n_train": kt, "n_test": ke}
        return dataclasses.replace(
            self,
            x_train=self.x_train[:kt],
            y_train=self.y_train[:kt],
            x_test=self.x_test[:ke],
            y_test=self.y_test[:ke],
            meta=meta,
        )
