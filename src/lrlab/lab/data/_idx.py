"""The IDX file format of MNIST and Fashion-MNIST: parse and write.

An IDX file (LeCun et al., http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT") is a
4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian unsigned 32-bit
dimension sizes, then the values in C order, big-endian. Type codes (as in torchvision's
``read_sn3_pascalvincent_tensor``): ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C``
int32, ``0x0D`` float32, ``0x0E`` float64.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["parse_idx", "to_idx"]

_CODES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_BY_DTYPE: dict[np.dtype[Any], int] = {np.dtype(v).newbyteorder("="): k for k, v in _CODES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(data: bytes) -> NDArray[Any]:
    """Decode the bytes of an IDX file (gzip-compressed or not) into a NumPy array.

    Args:
        data: The file's bytes. Input starting with the gzip magic ``1f 8b`` is decompressed
            first, so the ``.gz`` files as published can be passed directly.

    Returns:
        A writable array in native byte order with the file's shape and dtype.

    Raises:
        ValueError: When the bytes are not a well-formed IDX file: bad gzip stream, magic number
            not starting with two zero bytes, unknown type code, zero dimensions, truncated
            header, or a payload whose length does not match the dimensions. The message says
            which.

    Example:
        >>> raw = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
        >>> parse_idx(raw)
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"parse_idx: data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            msg = f"parse_idx: data starts like gzip but does not decompress: {exc}"
            raise ValueError(msg) from exc
    if len(data) < 4:
        raise ValueError(f"parse_idx: {len(data)} bytes is too short for the 4-byte IDX magic")
    magic = data[:4].hex()
    if data[:2] != b"\x00\x00":
        raise ValueError(
            f"parse_idx: not an IDX file: magic number 0x{magic} must start with two zero bytes"
        )
    code, ndim = data[2], data[3]
    if code not in _CODES:
        known = ", ".join(f"0x{k:02X}" for k in _CODES)
        raise ValueError(f"parse_idx: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"parse_idx: magic number 0x{magic} declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"parse_idx: truncated header: {ndim} dimensions need {header} bytes, got {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_CODES[code])
    want = math.prod(shape) * dtype.itemsize  # Python ints: no int64 wrap-around
    have = len(data) - header
    if have != want:
        raise ValueError(
            f"parse_idx: payload has {have} bytes but shape {shape} of {dtype.newbyteorder('=')} "
            f"needs {want}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def to_idx(array: ArrayLike) -> bytes:
    """Encode an array as the (uncompressed) bytes of an IDX file; the inverse of :func:`parse_idx`.

    Args:
        array: An array of at least one dimension with dtype uint8, int8, int16, int32, float32
            or float64.

    Returns:
        The IDX bytes (wrap with ``gzip.compress`` for a ``.gz`` file).

    Example:
        >>> import numpy as np
        >>> a = np.arange(6, dtype=np.int32).reshape(3, 2)
        >>> np.array_equal(parse_idx(to_idx(a)), a)
        True
    """
    arr = np.asarray(array)
    code = _BY_DTYPE.get(arr.dtype.newbyteorder("="))
    if code is None or arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(
            "to_idx: array must have 1 to 255 dimensions and dtype uint8, int8, int16, int32, "
            f"float32 or float64, got dtype {arr.dtype} and shape {arr.shape}"
        )
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.dtype(_CODES[code])).tobytes()
