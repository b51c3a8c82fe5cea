"""Fetching dataset files into a local cache: checksums, atomic writes, clear offline errors.

A file is downloaded into a temporary file next to its final place, its checksum is computed
while it streams in, and only a verified file is renamed into place (``os.replace`` is atomic),
so an interrupted or corrupted download never leaves a half-written or wrong file in the cache
and two processes fetching at once cannot see each other's partial files. Every load verifies
the checksum again, so a file that was damaged or replaced later is caught too.

Three rules keep the cache tidy and bounded:

* A killed process cannot delete its part file (``.NAME.XXXXXXXX.part``), so each download
  first removes the part files of the same target that are stale: not written for
  :data:`STALE_PART_SECONDS` **and** not held by a live process. The writer holds an exclusive
  ``flock`` on its part file for as long as it writes (the kernel drops it when the process
  dies), and the cleaner deletes a file only if it can take that lock itself; the age guard
  covers the instant between a file's creation and its lock, and the moment between closing it
  and renaming it into place. Without ``fcntl`` (Windows) the delete itself fails on a file
  another process has open, which is the same test.
* A response is cut off at the expected size when the caller knows it (``size=``), otherwise at
  :data:`MAX_DOWNLOAD_BYTES`: an endless or oversized response fails with a
  :class:`DownloadError` naming the URL and the limit, before it fills the disk.
* Part files are created with mode ``0o666`` minus the process umask (``0o644`` under the usual
  ``022``), like any file a program writes, and keep that mode when renamed into the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted, which is the test we need
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "STALE_PART_SECONDS",
    "ChecksumError",
    "DownloadError",
    "cache_dir",
    "fetch",
]

log = logging.getLogger("lrlab.data")

ENV_VAR = "LRLAB_DATA"
_CHUNK = 1 << 20
_SCHEMES = ("http", "https", "file")

#: Cap on a download whose size the caller does not know (``fetch(size=None)``): 1 GiB, far above
#: any dataset lrlab downloads (Fashion-MNIST's largest file is about 26 MB).
MAX_DOWNLOAD_BYTES = 1 << 30
#: A part file nobody has written to for this long (and that no live process holds) is stale.
STALE_PART_SECONDS = 600.0


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


def _part_file(dest: Path) -> tuple[int, Path]:
    """Create ``.NAME.XXXXXXXX.part`` next to ``dest``: mode 0o666 minus the umask, locked.

    ``os.open`` with ``O_EXCL`` and mode ``0o666`` lets the kernel apply the umask, as for any
    new file (``tempfile.mkstemp`` would make it ``0o600``).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is not None:  # a file system without flock: the age guard still protects it
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, tmp
    raise FileExistsError(f"could not create a part file for {dest}")  # pragma: no cover


def _remove_stale_parts(dest: Path) -> None:
    """Delete the part files of ``dest`` left by killed downloads (see the module docstring)."""
    pattern = re.compile(re.escape(f".{dest.name}.") + r"[A-Za-z0-9_]{8}\.part")
    now = time.time()
    for p in dest.parent.iterdir():
        if not pattern.fullmatch(p.name):
            continue
        try:
            if now - p.stat().st_mtime < STALE_PART_SECONDS:
                continue  # possibly a download that has just started
            if fcntl is None:
                p.unlink()  # fails (PermissionError) while another process has it open
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a live writer
                p.unlink()
            finally:
                os.close(fd)
        except OSError:
            continue  # held, already gone, or not ours to delete: leave it
        log.info("removed %s, left by an interrupted download", p)


def _limit_text(limit: int, expected: bool) -> str:
    if expected:
        return f"{limit} bytes, the expected size (size=)"
    return (
        f"{limit} bytes, lrlab's maximum download size (max_bytes=, by default "
        f"MAX_DOWNLOAD_BYTES = {MAX_DOWNLOAD_BYTES})"
    )


def _copy_capped(url: str, resp: Any, out: Any, h: Any, limit: int, expected: bool) -> None:
    """Stream ``resp`` into ``out`` and ``h``; a DownloadError past ``limit`` bytes."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DownloadError(
            f"{url}: the server declares {declared} bytes, more than "
            f"{_limit_text(limit, expected)}; nothing was downloaded or cached"
        )
    total = 0
    while chunk := resp.read(min(_CHUNK, limit - total + 1)):
        total += len(chunk)
        if total > limit:
            raise DownloadError(
                f"{url}: the response has more than {_limit_text(limit, expected)}; the "
                "download was stopped and nothing was cached"
            )
        h.update(chunk)
        out.write(chunk)


def _download(
    url: str, dest: Path, checksum: str, timeout: float, limit: int, expected: bool
) -> None:
    """Download ``url`` to ``dest`` atomically, verifying ``checksum``; nothing is left on error."""
    algo, want = _parse_checksum(checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(dest)
    fd, tmp = _part_file(dest)
    try:
        h = _hasher(algo)
        request = urllib.request.Request(url, headers={"User-Agent": "lrlab"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            _copy_capped(url, resp, out, h, limit, expected)
        if h.hexdigest() != want:
            raise ChecksumError(
                f"{url} gave a file with {algo} {h.hexdigest()}, expected {want}; the file was "
                "rejected and not cached"
            )
        os.replace(tmp, dest)
    except DownloadError:
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
    size: int | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """The verified bytes of a dataset file, from the cache or else from the first URL that works.

    Args:
        dest: Where the file is cached.
        urls: Where to download it from, tried in order (mirrors); ``http``, ``https`` or
            ``file`` URLs.
        checksum: ``"sha256:<hex>"`` / ``"md5:<hex>"`` / bare hex of the file's bytes.
        download: When ``False``, only the cache is used (an error if the file is not there).
        timeout: Seconds to wait on each network operation.
        size: The file's size in bytes when known: a response that declares or sends more is
            stopped there with a :class:`DownloadError`.
        max_bytes: The cap when ``size`` is ``None``; ``None`` means
            :data:`MAX_DOWNLOAD_BYTES` (read when called).

    Returns:
        The file's bytes, checked against ``checksum``.

    Raises:
        ChecksumError: The cached file (with ``download=False``) or every downloaded copy has
            the wrong checksum.
        DownloadError: The file is not cached and could not be downloaded, or a response was
            larger than the cap (the message names the URL and the limit).

    Example:
        >>> import hashlib, pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "src.bin").write_bytes(b"0123456789")
        >>> digest = "sha256:" + hashlib.sha256(b"0123456789").hexdigest()
        >>> fetch(folder / "cache" / "f.bin", [(folder / "src.bin").as_uri()], digest, size=10)
        b'0123456789'
    """
    _parse_checksum(checksum)  # a bad checksum string is a ValueError before any network use
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError(f"fetch: size must be None or an integer >= 0, got {size!r}")
    if max_bytes is None:
        max_bytes = MAX_DOWNLOAD_BYTES
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"fetch: max_bytes must be an integer >= 1, got {max_bytes!r}")
    limit = max_bytes if size is None else size
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
            _download(url, dest, checksum, timeout, limit, expected=size is not None)
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
