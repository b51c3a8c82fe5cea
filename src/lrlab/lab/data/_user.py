"""Datasets from the user's own arrays or CSV files, with the task and classes inferred."""

from __future__ import annotations

import csv
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ..._checks import either, float_dtype, fraction, integer
from ._dataset import Dataset
from ._split import n_test_rows, split_indices

__all__ = ["MAX_INFERRED_CLASSES", "from_arrays", "from_csv"]

#: integer-valued targets with at most this many distinct values are inferred to be classes
MAX_INFERRED_CLASSES = 20
DEFAULT_TEST_FRACTION = 0.2
_TASKS = ("binary", "multiclass", "classification", "regression")


def _as_x(owner: str, name: str, x: ArrayLike, dtype: np.dtype[Any]) -> NDArray[Any]:
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be an array of numbers") from None
    if arr.ndim < 2:
        raise ValueError(
            f"{owner}: {name} must have shape [n, features...], got shape {arr.shape} "
            "(use x.reshape(-1, 1) for a single feature)"
        )
    return arr


def _integer_valued(y: NDArray[Any]) -> bool:
    if y.dtype.kind in "iub":
        return True
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


def _infer_classification(y: NDArray[Any]) -> bool:
    """Strings and booleans are classes; integer values are classes if there are few of them."""
    if y.ndim != 1:
        return False
    if y.dtype.kind in "OUSb":
        return True
    return _integer_valued(y) and len(np.unique(y)) <= MAX_INFERRED_CLASSES


def _encode(
    owner: str, y: NDArray[Any], class_names: Sequence[str] | None
) -> tuple[NDArray[np.int64], int, tuple[str, ...] | None]:
    """Class indices, ``n_classes`` and class names for the labels ``y`` (train and test joined).

    Non-negative integers are used as indices unchanged. Other labels (strings, negative
    integers) are mapped to indices in sorted order, or in the order of ``class_names``.
    """
    if y.ndim != 1:
        raise ValueError(
            f"{owner}: class labels must have shape [n], got {y.shape} (for one-hot rows pass "
            "y.argmax(axis=1))"
        )
    if y.dtype.kind not in "OUSb" and not _integer_valued(y):
        raise ValueError(
            f"{owner}: class labels must be integers or strings, got non-integer values such as "
            f"{y[np.flatnonzero(y != np.round(y))[0]]!r} (pass task='regression' for real targets)"
        )
    if y.dtype.kind == "f":
        y = y.astype(np.int64)
    elif y.dtype.kind == "O":
        y = y.astype(str)
    if y.dtype.kind in "iu" and (y.size == 0 or y.min() >= 0):
        n = int(y.max()) + 1 if y.size else 0
        if class_names is not None:
            if len(class_names) < n:
                raise ValueError(
                    f"{owner}: class_names has {len(class_names)} names but the labels go up "
                    f"to {n - 1}"
                )
            n = len(class_names)
        return y.astype(np.int64), n, None if class_names is None else tuple(class_names)
    if class_names is None:
        uniq, idx = np.unique(y, return_inverse=True)
        return idx.astype(np.int64), len(uniq), tuple(str(u) for u in uniq)
    names = tuple(class_names)
    lookup = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(v) for v in y} - lookup.keys())
    if unknown:
        raise ValueError(f"{owner}: labels {unknown[:5]} are not in class_names {list(names)}")
    return np.array([lookup[str(v)] for v in y], dtype=np.int64), len(names), names


def from_arrays(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    *,
    test_fraction: float | None = None,
    seed: int = 0,
    task: str | None = None,
    stratify: bool | None = None,
    name: str = "arrays",
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    dtype: DTypeLike = np.float64,
    meta: Mapping[str, Any] | None = None,
) -> Dataset:
    """A :class:`Dataset` from your own arrays, split for you unless a test part is given.

    The task is inferred unless ``task`` is given: string or boolean labels, and
    integer-valued labels with at most :data:`MAX_INFERRED_CLASSES` (20) distinct values, are
    classes (2 classes: ``"binary"``, more: ``"multiclass"``); anything else is
    ``"regression"``. Non-negative integer labels are class indices as they are; string (or
    negative) labels are mapped to indices in sorted order and their names kept in
    ``class_names``.

    Args:
        x_train: Inputs ``[n, features...]`` (all data when ``x_test`` is not given).
        y_train: Targets ``[n]`` (or ``[n, k]`` for regression).
        x_test: Test inputs; when ``None``, a seeded ``test_fraction`` of the rows is held out.
        y_test: Test targets, required with ``x_test``.
        test_fraction: Fraction held out when ``x_test`` is ``None``, in ``[0, 1)``; default 0.2,
            rounded up (``ceil``) as scikit-learn's ``train_test_split``. Not allowed together
            with ``x_test``.
        seed: Seed of the split (``numpy.random.default_rng``).
        task: ``"binary"``, ``"multiclass"``, ``"regression"``, ``"classification"`` (binary or
            multiclass by the number of classes), or ``None`` to infer.
        stratify: Keep class proportions equal in both parts of the split; default ``True`` for
            classification. Not allowed for regression.
        name: The dataset's name.
        feature_names: One name per feature.
        class_names: Class names; for string labels also the order of the class indices.
        dtype: float64 (default) or float32 for the inputs (and regression targets).
        meta: Extra provenance to keep in ``Dataset.meta``.

    Returns:
        A :class:`Dataset`.

    Example:
        >>> ds = from_arrays([[0.0], [1.0], [2.0], [3.0]], ["no", "yes", "no", "yes"],
        ...                  test_fraction=0.5, seed=1)
        >>> ds.task, ds.class_names, ds.n_train, ds.n_test
        ('binary', ('no', 'yes'), 2, 2)
        >>> from_arrays([[0.0], [1.0], [2.0]], [0.5, 1.5, 2.5], test_fraction=0).task
        'regression'
    """
    owner = "from_arrays"
    dt = float_dtype(owner, dtype)
    seed = integer(owner, "seed", seed, lo=0)
    if task is not None:
        either(owner, "task", task, _TASKS)
    if stratify is not None and not isinstance(stratify, bool):
        raise ValueError(f"{owner}: stratify must be True, False or None, got {stratify!r}")
    xa = _as_x(owner, "x_train", x_train, dt)
    ya = np.asarray(y_train)
    if len(ya) != len(xa):
        raise ValueError(f"{owner}: y_train has {len(ya)} rows but x_train has {len(xa)}")
    if (x_test is None) != (y_test is None):
        raise ValueError(f"{owner}: x_test and y_test must be given together")
    if x_test is not None:
        if test_fraction is not None:
            raise ValueError(
                f"{owner}: test_fraction={test_fraction!r} cannot be used with x_test/y_test "
                "(the test part is already given)"
            )
        xb = _as_x(owner, "x_test", x_test, dt)
        yb = np.asarray(y_test)
        if len(yb) != len(xb):
            raise ValueError(f"{owner}: y_test has {len(yb)} rows but x_test has {len(xb)}")
        if yb.shape[1:] != ya.shape[1:]:
            raise ValueError(
                f"{owner}: y_test rows have shape {yb.shape[1:]} but y_train rows have "
                f"{ya.shape[1:]}"
            )
        y_all = np.concatenate([ya, yb]) if yb.size else ya
    else:
        y_all = ya
    classify = _infer_classification(y_all) if task is None else task != "regression"
    if classify:
        y_idx, n_classes, names = _encode(owner, y_all, class_names)
        if n_classes < 2:
            raise ValueError(
                f"{owner}: classification needs at least 2 classes, the labels have "
                f"{n_classes}; pass class_names=[...] to name the others, or task='regression'"
            )
    else:
        if stratify:
            raise ValueError(f"{owner}: stratify=True needs classes, but the task is regression")
        if class_names is not None:
            raise ValueError(f"{owner}: class_names given, but the task is regression")
        try:
            y_idx = y_all.astype(dt)
        except (TypeError, ValueError):
            raise ValueError(
                f"{owner}: regression targets must be numbers, got dtype {y_all.dtype}"
            ) from None
        n_classes, names = None, None
    if x_test is not None:
        y_train_out, y_test_out = y_idx[: len(xa)], y_idx[len(xa) :]
        x_train_out, x_test_out = xa, xb
        split = f"given: {len(xa)} train, {len(xb)} test"
    else:
        frac = fraction(
            owner,
            "test_fraction",
            DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction,
            allow_zero=True,
        )
        n_test = n_test_rows(owner, len(xa), frac)
        strat = classify if stratify is None else stratify
        train, test = split_indices(len(xa), n_test, seed, stratify=y_idx if strat else None)
        x_train_out, x_test_out = xa[train], xa[test]
        y_train_out, y_test_out = y_idx[train], y_idx[test]
        kind = "stratified" if strat else "shuffled"
        split = (
            f"{kind} split, numpy.random.default_rng({seed}), test_fraction={frac}: "
            f"{len(train)} train, {len(test)} test"
        )
    if task in (None, "classification"):
        task = "regression" if not classify else ("binary" if n_classes == 2 else "multiclass")
    return Dataset(
        name=name,
        x_train=x_train_out,
        y_train=y_train_out,
        x_test=x_test_out,
        y_test=y_test_out,
        task=task,  # type: ignore[arg-type]
        n_classes=n_classes,
        feature_names=None if feature_names is None else tuple(feature_names),
        class_names=names,
        meta={"source": "user arrays", **(meta or {}), "split": split},
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def from_csv(
    path: str | os.PathLike[str],
    target: int | str = -1,
    header: bool | None = None,
    *,
    delimiter: str = ",",
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    task: str | None = None,
    stratify: bool | None = None,
    class_names: Sequence[str] | None = None,
    dtype: DTypeLike = np.float64,
    name: str | None = None,
) -> Dataset:
    """A :class:`Dataset` from a CSV file: one column is the target, the others numeric inputs.

    Blank lines are skipped. The split, task inference and label handling are those of
    :func:`from_arrays`.

    Args:
        path: The CSV file.
        target: The target column: an index (negative counts from the end; default the last)
            or a header name.
        header: Whether the first row holds column names; ``None`` guesses: it is a header when
            one of its input cells is not a number (always when ``target`` is a name).
        delimiter: The field separator.
        test_fraction: Fraction held out for testing, in ``[0, 1)`` (default 0.2).
        seed: Seed of the split.
        task: As in :func:`from_arrays`; ``None`` to infer.
        stratify: As in :func:`from_arrays`.
        class_names: As in :func:`from_arrays`.
        dtype: float64 (default) or float32 for the inputs.
        name: The dataset's name; the file name without extension by default.

    Returns:
        A :class:`Dataset`; ``feature_names`` come from the header when there is one.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.csv"
        >>> _ = p.write_text("height,weight,kind\\n1.0,2.0,cat\\n3.0,4.0,dog\\n5.0,6.0,cat\\n")
        >>> ds = from_csv(p, target="kind", test_fraction=0)
        >>> ds.feature_names, ds.class_names, sorted(ds.y_train.tolist())
        (('height', 'weight'), ('cat', 'dog'), [0, 0, 1])
    """
    owner = "from_csv"
    # the arguments from_arrays checks again, here before the file is read
    fraction(owner, "test_fraction", test_fraction, allow_zero=True)
    integer(owner, "seed", seed, lo=0)
    float_dtype(owner, dtype)
    if task is not None:
        either(owner, "task", task, _TASKS)
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{owner}: path {str(path)!r} is not a file")
    if header is not None and not isinstance(header, bool):
        raise ValueError(f"{owner}: header must be True, False or None, got {header!r}")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"{owner}: delimiter must be one character, got {delimiter!r}")
    with file.open(newline="", encoding="utf-8-sig") as fh:
        numbered = [
            (i, [c.strip() for c in row])
            for i, row in enumerate(csv.reader(fh, delimiter=delimiter), start=1)
            if any(c.strip() for c in row)
        ]
    if not numbered:
        raise ValueError(f"{owner}: {file} has no rows")
    width = len(numbered[0][1])
    if width < 2:
        raise ValueError(f"{owner}: {file} needs at least 2 columns (inputs and target)")
    for line, row in numbered:
        if len(row) != width:
            raise ValueError(
                f"{owner}: {file}, line {line} has {len(row)} fields, expected {width}"
            )
    first = numbered[0][1]
    if isinstance(target, str):
        if header is False:
            raise ValueError(f"{owner}: target={target!r} is a column name, but header=False")
        header = True
        if target not in first:
            close = difflib.get_close_matches(target, first, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{owner}: target {target!r} is not a column of {first}{hint}")
        col = first.index(target)
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -width <= target < width:
            raise ValueError(
                f"{owner}: target must be a column index in [{-width}, {width - 1}], got {target}"
            )
        col = int(target) % width
    else:
        raise ValueError(f"{owner}: target must be a column index or name, got {target!r}")
    inputs = [j for j in range(width) if j != col]
    if header is None:
        header = not all(_is_number(first[j]) for j in inputs)
    body = numbered[1:] if header else numbered
    if not body:
        raise ValueError(f"{owner}: {file} has a header but no data rows")
    x = np.empty((len(body), len(inputs)), dtype=np.float64)
    for r, (line, row) in enumerate(body):
        for k, j in enumerate(inputs):
            try:
                x[r, k] = float(row[j])
            except ValueError:
                what = f"column {j}" + (f" ({first[j]!r})" if header else "")
                cell = "an empty cell" if not row[j] else f"{row[j]!r}, not a number"
                raise ValueError(f"{owner}: {file}, line {line}, {what}: {cell}") from None
    labels = [row[col] for _, row in body]
    missing = [line for line, row in body if not row[col]]
    if missing:
        raise ValueError(f"{owner}: {file}, line {missing[0]}: the target cell is empty")
    y: NDArray[Any] = (
        np.array([float(v) for v in labels])
        if all(_is_number(v) for v in labels)
        else np.array(labels)
    )
    return from_arrays(
        x,
        y,
        test_fraction=test_fraction,
        seed=seed,
        task=task,
        stratify=stratify,
        name=file.stem if name is None else name,
        feature_names=[first[j] for j in inputs] if header else None,
        class_names=class_names,
        dtype=dtype,
        meta={"source": str(file)},
    )
