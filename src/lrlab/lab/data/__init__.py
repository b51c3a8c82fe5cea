"""Datasets for learning-rate experiments, as one :class:`Dataset` type with train/test parts.

Every loader returns a :class:`Dataset` (inputs as float arrays, targets as int64 class indices
or floats, the task, names and provenance in ``meta``), and :func:`load` finds a loader by name
so study files can say ``dataset = "ionosphere"``. NumPy is the only requirement: scikit-learn
is needed only for :func:`digits`, and nothing is downloaded except by :func:`mnist` and
:func:`fashion_mnist`.

* :func:`blobs` — scikit-learn's ``make_blobs``, re-implemented draw for draw (no sklearn);
  at most :data:`MAX_ELEMENTS` (``2**26``) input values, checked before allocating.
* :func:`ionosphere` — the UCI Ionosphere data shipped in the package, with Keras'
  ``validation_split``, a shuffled or the paper's split.
* :func:`digits` — scikit-learn's 8x8 digits.
* :func:`mnist`, :func:`fashion_mnist` — downloaded from the official sources into a cache
  (``$LRLAB_DATA`` or ``~/.cache/lrlab``), checksums verified on every load; :func:`parse_idx`
  and :func:`to_idx` read and write the IDX format.
* :func:`from_arrays`, :func:`from_csv` — your own data, task and classes inferred.

Example:
    >>> from lrlab.lab.data import load
    >>> ds = load("ionosphere").standardized()
    >>> ds.task, ds.n_train, ds.n_test, float(abs(ds.x_train.mean(axis=0)).max()) < 1e-12
    ('binary', 235, 116, True)
"""

from ._blobs import MAX_BLOB_CENTERS as MAX_BLOB_CENTERS
from ._blobs import blobs as blobs
from ._builtin import IONOSPHERE_SHA256 as IONOSPHERE_SHA256
from ._builtin import digits as digits
from ._builtin import ionosphere as ionosphere
from ._dataset import Dataset as Dataset
from ._download import MAX_DOWNLOAD_BYTES as MAX_DOWNLOAD_BYTES
from ._download import ChecksumError as ChecksumError
from ._download import DownloadError as DownloadError
from ._download import cache_dir as cache_dir
from ._download import fetch as fetch
from ._idx import parse_idx as parse_idx
from ._idx import to_idx as to_idx
from ._limits import MAX_ELEMENTS as MAX_ELEMENTS
from ._mnist import FASHION_MNIST as FASHION_MNIST
from ._mnist import MNIST as MNIST
from ._mnist import IdxSource as IdxSource
from ._mnist import fashion_mnist as fashion_mnist
from ._mnist import mnist as mnist
from ._registry import available as available
from ._registry import load as load
from ._user import MAX_INFERRED_CLASSES as MAX_INFERRED_CLASSES
from ._user import from_arrays as from_arrays
from ._user import from_csv as from_csv

__all__ = [
    "FASHION_MNIST",
    "IONOSPHERE_SHA256",
    "MAX_BLOB_CENTERS",
    "MAX_DOWNLOAD_BYTES",
    "MAX_ELEMENTS",
    "MAX_INFERRED_CLASSES",
    "MNIST",
    "ChecksumError",
    "Dataset",
    "DownloadError",
    "IdxSource",
    "available",
    "blobs",
    "cache_dir",
    "digits",
    "fashion_mnist",
    "fetch",
    "from_arrays",
    "from_csv",
    "ionosphere",
    "load",
    "mnist",
    "parse_idx",
    "to_idx",
]
