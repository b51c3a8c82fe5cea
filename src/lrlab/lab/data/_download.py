"""Fetching dataset files into a local cache: checksums, atomic writes, clear offline errors.

A file is downloaded into a temporary file next to its final place, its checksum is computed
while it streams in, and only a verified file is renamed into place (``os.replace`` is atomic),
so an interrupted or corrupted download never leaves a half-written or wrong file in the cache
and two processes fetching at once cannot see each other's partial files. Every load verifies
the checksum again, so a file that was damaged or replaced later is caught too.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ChecksumError", "DownloadError", "cache_dir", "fetch"]

log = logging.getLogger("lrlab.data")

ENV_VAR = "LRLAB_DATA"
_CHUNK = 1 << 20
_SCHEMES = ("http", "https", "file")


class DownloadError(OSError):
    """A dataset file is not in the cache and could not be fetched (offline, HTTP error ...).

    The message names every URL tried with its error and the path where the file can be placed
    by hand.
    """


class ChecksumError(DownloadError):
    """A dataset file's content does not match its known checksum; the file was not used."""


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The directory where downloaded datasets are kept.

    Args:
        path: An explicit directory; when ``None``, ``$LRLAB_DATA`` if set, else
            ``~/.cache/lrlab``.

    Returns:
        The directory as an absolute :class:`~pathlib.Path` (not created here).

    Example:
        >>> cache_dir("/tmp/lrlab-data")
        PosixPath('/tmp/lrlab-data')
    """
    if path is None:
        env = os.environ.get(ENV_VAR)
        path = env if env else Path.home() / ".cache" / "lrlab"
    return Path(path).expanduser().resolve()


def _parse_checksum(checksum: str) -> tuple[str, str]:
    """``"sha256:<hex>"``, ``"md5:<hex>"`` or bare hex (32 digits md5, 64 sha256) -> (algo, hex)."""
    algo, _, digest = checksum.rpartition(":")
    digest = digest.strip().lower()
    if not algo:
        algo = {32: "md5", 64: "sha256"}.get(len(digest), "")
    size = {"md5": 32, "sha256": 64}.get(algo.lower())
    if size is None or len(digest) != size or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(
            "checksum must be 'sha256:<64 hex>', 'md5:<32 hex>' or bare hex of either length, "
            f"got {checksum!r}"
        )
    return algo.lower(), digest


def _hasher(algo: str) -> Any:
    # md5 is used for integrity against the published checksums, not for security.
    return hashlib.new(algo, usedforsecurity=False) if algo == "md5" else hashlib.new(algo)


def verify(path: Path, checksum: str) -> bytes:
    """Read ``path`` and return its bytes if they match ``checksum``; else raise ChecksumError."""
    algo, want = _parse_checksum(checksum)
    data = path.read_bytes()
    h = _hasher(algo)
    h.update(data)
    if h.hexdigest() != want:
        raise ChecksumError(
            f"{path} has {algo} {h.hexdigest()}, expected {want}: the file is damaged or not the "
            "published one. Delete it to download it again."
        )
    return data


def _download(url: str, dest: Path, checksum: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` atomically, verifying ``checksum``; nothing is left on error."""
    algo, want = _parse_checksum(checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = _hasher(algo)
        request = urllib.request.Request(url, headers={"User-Agent": "lrlab"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != want:
            raise ChecksumError(
                f"{url} gave a file with {algo} {h.hexdigest()}, expected {want}; the file was "
                "rejected and not cached"
            )
        os.replace(tmp, dest)
    except ChecksumError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # urllib.error.URLError and TimeoutError are OSErrors; ValueError: a malformed URL
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"{url}: {type(exc).__name__}: {reason}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    dest: Path,
    urls: Sequence[str],
    checksum: str,
    *,
    download: bool = True,
    timeout: float = 60.0,
) -> bytes:
    """The verified bytes of a dataset file, from the cache or else from the first URL that works.

    Args:
        dest: Where the file is cached.
        urls: Where to download it from, tried in order (mirrors); ``http``, ``https`` or
            ``file`` URLs.
        checksum: ``"sha256:<hex>"`` / ``"md5:<hex>"`` / bare hex of the file's bytes.
        download: When ``False``, only the cache is used (an error if the file is not there).
        timeout: Seconds to wait on each network operation.

    Returns:
        The file's bytes, checked against ``checksum``.

    Raises:
        ChecksumError: The cached file (with ``download=False``) or every downloaded copy has
            the wrong checksum.
        DownloadError: The file is not cached and could not be downloaded.
    """
    _parse_checksum(checksum)  # a bad checksum string is a ValueError before any network use
    if isinstance(urls, str) or not urls:
        raise ValueError(f"urls must be a non-empty sequence of URLs, got {urls!r}")
    for url in urls:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise ValueError(f"url must start with http://, https:// or file://, got {url!r}")
    manual = f"To install it by hand, place the file at {dest}"
    if dest.exists():
        try:
            return verify(dest, checksum)
        except ChecksumError:
            if not download:
                raise
            log.warning("%s does not match its checksum; downloading it again", dest)
    if not download:
        raise DownloadError(f"{dest.name} is not in the cache and download=False. {manual}.")
    errors: list[DownloadError] = []
    for url in urls:
        log.info("downloading %s to %s", url, dest)
        try:
            _download(url, dest, checksum, timeout)
            return verify(dest, checksum)
        except DownloadError as exc:
            errors.append(exc)
    tried = "\n  ".join(str(e) for e in errors)
    kind = ChecksumError if all(isinstance(e, ChecksumError) for e in errors) else DownloadError
    raise kind(
        f"could not download {dest.name} (offline, or the server failed). Tried:\n  {tried}\n"
        f"{manual} (from any of: {', '.join(urls)}), or set ${ENV_VAR} / cache_dir= to a "
        "directory that has it."
    ) from errors[-1]
