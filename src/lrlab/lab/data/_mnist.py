"""MNIST and Fashion-MNIST: downloaded from the official sources, cached, verified, parsed."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ..._checks import float_dtype
from ._dataset import Dataset
from ._download import DownloadError, fetch
from ._download import cache_dir as resolve_cache_dir
from ._idx import parse_idx

__all__ = ["FASHION_MNIST", "MNIST", "IdxSource", "fashion_mnist", "mnist"]

_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@dataclasses.dataclass(frozen=True)
class IdxSource:
    """Where an MNIST-format dataset comes from: mirrors, the four files and their checksums.

    Attributes:
        name: Dataset name, also the cache subdirectory.
        base_urls: Mirrors, tried in order; a file's URL is ``base_url + filename``.
        checksums: ``filename -> checksum`` of each ``.gz`` file as published.
        class_names: The 10 class names.
        meta: Source, citation and licence.
    """

    name: str
    base_urls: tuple[str, ...]
    checksums: Mapping[str, str]
    class_names: tuple[str, ...]
    meta: Mapping[str, str]


#: MNIST from the S3 mirror that torchvision uses (yann.lecun.com now often refuses downloads);
#: md5 checksums of the ``.gz`` files from torchvision ``torchvision/datasets/mnist.py``
#: (``MNIST.resources``).
MNIST = IdxSource(
    name="mnist",
    base_urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    checksums={
        "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    },
    class_names=tuple(str(i) for i in range(10)),
    meta={
        "source": "http://yann.lecun.com/exdb/mnist/ (mirror: "
        "https://ossci-datasets.s3.amazonaws.com/mnist/)",
        "citation": "LeCun, Y., Cortes, C., & Burges, C. J. C. The MNIST database of handwritten "
        "digits.",
        "license": "CC BY-SA 3.0 (as stated by Yann LeCun and Corinna Cortes)",
    },
)

#: Fashion-MNIST from Zalando Research's official bucket; md5 checksums of the ``.gz`` files
#: from torchvision ``torchvision/datasets/mnist.py`` (``FashionMNIST.resources``).
FASHION_MNIST = IdxSource(
    name="fashion_mnist",
    base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    checksums={
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    meta={
        "source": "https://github.com/zalandoresearch/fashion-mnist",
        "citation": "Xiao, H., Rasul, K., & Vollgraf, R. (2017). Fashion-MNIST: a Novel Image "
        "Dataset for Benchmarking Machine Learning Algorithms. arXiv:1708.07747.",
        "license": "MIT (Zalando SE)",
    },
)


def _urls_for(
    owner: str,
    source: IdxSource,
    base_url: str | Sequence[str] | None,
    urls: Mapping[str, str | Sequence[str]] | None,
) -> dict[str, list[str]]:
    """``filename -> [url, ...]`` from the defaults, ``base_url`` and per-file ``urls``."""
    bases: Sequence[str] = (
        source.base_urls
        if base_url is None
        else ([base_url] if isinstance(base_url, str) else list(base_url))
    )
    if not bases or not all(isinstance(b, str) and b for b in bases):
        raise ValueError(f"{owner}: base_url must be a URL or a list of URLs, got {base_url!r}")
    out = {f: [b.rstrip("/") + "/" + f for b in bases] for f in _FILES}
    for f, u in _check_keys(owner, "urls", urls).items():
        out[f] = [u] if isinstance(u, str) else list(u)
    return out


def _check_keys(owner: str, name: str, mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{owner}: {name} must map file names to values, got {mapping!r}")
    unknown = [k for k in mapping if k not in _FILES]
    if unknown:
        raise ValueError(
            f"{owner}: {name} has unknown file name(s) {unknown}; the files are {list(_FILES)}"
        )
    return mapping


def _load(
    source: IdxSource,
    cache_dir: str | os.PathLike[str] | None,
    download: bool,
    base_url: str | Sequence[str] | None,
    urls: Mapping[str, str | Sequence[str]] | None,
    checksums: Mapping[str, str] | None,
    dtype: DTypeLike,
    flatten: bool,
    timeout: float,
) -> Dataset:
    owner = source.name
    dt = float_dtype(owner, dtype)
    for flag, value in (("download", download), ("flatten", flatten)):
        if not isinstance(value, bool):
            raise ValueError(f"{owner}: {flag} must be True or False, got {value!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"{owner}: timeout must be a number of seconds > 0, got {timeout!r}")
    where = _urls_for(owner, source, base_url, urls)
    sums = {**source.checksums, **_check_keys(owner, "checksums", checksums)}
    folder = resolve_cache_dir(cache_dir) / source.name
    arrays = {}
    for f in _FILES:
        try:
            data = fetch(folder / f, where[f], sums[f], download=download, timeout=timeout)
        except DownloadError as exc:
            raise type(exc)(
                f"{owner}: {exc}\n{owner} needs all four files in {folder}: {', '.join(_FILES)}"
            ) from exc
        try:
            arrays[f] = parse_idx(data)
        except ValueError as exc:
            raise ValueError(f"{owner}: {folder / f}: {exc}") from exc
    parts = {}
    for part in ("train", "t10k"):
        images = arrays[f"{part}-images-idx3-ubyte.gz"]
        labels = arrays[f"{part}-labels-idx1-ubyte.gz"]
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(
                f"{owner}: {part}-images must be uint8 of shape [n, rows, cols], got "
                f"{images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{owner}: {part}-labels must be uint8 of shape [{len(images)}] to match the "
                f"images, got {labels.dtype} {labels.shape}"
            )
        x = images.astype(dt)
        x /= 255  # in place: one float copy of the images, not two
        parts[part] = (x.reshape(len(x), -1) if flatten else x, labels.astype(np.int64))
    (x_train, y_train), (x_test, y_test) = parts["train"], parts["t10k"]
    return Dataset(
        name=source.name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        task="multiclass",
        n_classes=len(source.class_names),
        class_names=source.class_names,
        meta={
            **source.meta,
            "split": f"official: {len(x_train)} train (train-*), {len(x_test)} test (t10k-*)",
            "preprocessing": "pixels 0..255 divided by 255" + (", flattened" if flatten else ""),
            "files": {f: str(folder / f) for f in _FILES},
        },
    )


_ARGS_DOC = """
    Args:
        cache_dir: Cache directory; ``$LRLAB_DATA`` or ``~/.cache/lrlab`` when ``None``. Files
            live in its ``{name}/`` subdirectory under their published names
            (``train-images-idx3-ubyte.gz`` ...), where they can also be placed by hand.
        download: Download missing files (default); ``False`` uses the cache only.
        base_url: A mirror (or list of mirrors tried in order) holding the four files.
        urls: ``filename -> url`` (or list of URLs) overriding single files; ``file://`` URLs
            work.
        checksums: ``filename -> "md5:<hex>"`` / ``"sha256:<hex>"`` overriding the published
            checksums (for a mirror that recompressed the files, or for tests).
        dtype: float32 (default) or float64 for the pixels, scaled to [0, 1].
        flatten: Rows of 784 values (default) rather than 28x28 images.
        timeout: Seconds to wait on each network operation.

    Returns:
        A 10-class :class:`Dataset`: the official 60000 train / 10000 test split.

    Raises:
        DownloadError: A file is not cached and cannot be downloaded (offline ...); the message
            names each URL tried and where to put the file by hand.
        ChecksumError: A file does not match its checksum (a downloaded one is discarded).
        ValueError: A verified file is not a valid IDX file of images/labels.
"""


def mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    base_url: str | Sequence[str] | None = None,
    urls: Mapping[str, str | Sequence[str]] | None = None,
    checksums: Mapping[str, str] | None = None,
    dtype: DTypeLike = np.float32,
    flatten: bool = True,
    timeout: float = 60.0,
) -> Dataset:
    return _load(MNIST, cache_dir, download, base_url, urls, checksums, dtype, flatten, timeout)


def fashion_mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    base_url: str | Sequence[str] | None = None,
    urls: Mapping[str, str | Sequence[str]] | None = None,
    checksums: Mapping[str, str] | None = None,
    dtype: DTypeLike = np.float32,
    flatten: bool = True,
    timeout: float = 60.0,
) -> Dataset:
    return _load(
        FASHION_MNIST, cache_dir, download, base_url, urls, checksums, dtype, flatten, timeout
    )


mnist.__doc__ = (
    """The MNIST handwritten digits (LeCun et al.): downloaded once, cached, verified each load.

    Downloads from the S3 mirror torchvision uses; every file's md5 is checked against the
    published value (taken from torchvision's ``torchvision/datasets/mnist.py``) on download
    and on every load.
"""
    + _ARGS_DOC.format(name="mnist")
    + """
    Example:
        >>> ds = mnist()  # doctest: +SKIP
        >>> ds.x_train.shape, ds.class_names[:3]  # doctest: +SKIP
        ((60000, 784), ('0', '1', '2'))
"""
)

fashion_mnist.__doc__ = (
    """Zalando's Fashion-MNIST (10 clothing classes): downloaded once, cached, verified each load.

    Downloads from the official zalandoresearch bucket; every file's md5 is checked against the
    published value (as listed in torchvision's ``torchvision/datasets/mnist.py``) on download
    and on every load.
"""
    + _ARGS_DOC.format(name="fashion_mnist")
    + """
    Example:
        >>> ds = fashion_mnist()  # doctest: +SKIP
        >>> ds.class_names[0], ds.n_train, ds.n_test  # doctest: +SKIP
        ('T-shirt/top', 60000, 10000)
"""
)
