"""The native kernel's library: ``_native.c`` compiled on first use with the machine's C
compiler, cached on disk, loaded with :mod:`ctypes`, and checked before it is trusted.

The kernel is C with GCC/Clang vector extensions, so it compiles for whatever CPU runs it
(``-march=native``: 16 members per vector with AVX-512, 8 with AVX2, 4 otherwise;
``$LRLAB_NATIVE_ARCH`` names another instruction set); it needs a C compiler and nothing
else: ``$CC``, Python's own, ``cc``, ``gcc`` or ``clang``, else Zig's clang from the
``ziglang`` package on PyPI (``pip install "lrlab[native]"``: a compiler on machines without
one, such as slim container images). It is compiled once per machine and source into the
cache (``$LRLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/lrlab``, else ``~/.cache/lrlab``). Where
there is no compiler, or the library fails its check, :func:`native_status` says why and
``engine="auto"`` uses the other engines. ``LRLAB_NO_NATIVE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

SOURCE = "_native.c"
#: the flags every build uses: IEEE arithmetic (no fast-math: NaN and inf behave as in NumPy,
#: so diverging members are seen), multiply-adds fused where the CPU has them
FLAGS = ["-O3", "-std=gnu11", "-fPIC", "-shared", "-ffp-contract=fast", "-fno-math-errno"]
#: the instruction set: ``-march=native`` (the CPU that compiles it), or ``$LRLAB_NATIVE_ARCH``
#: (e.g. ``x86-64-v3`` for AVX2 machines sharing one cache); dropped where the compiler
#: refuses it
ARCH_ENV = "LRLAB_NATIVE_ARCH"


def arch_flags(cc: Sequence[str] = ("cc",)) -> list[str]:
    """``["-march=<$LRLAB_NATIVE_ARCH or native>"]`` for the compiler command ``cc`` (Zig
    spells the instruction sets with ``_``: ``x86_64_v3`` for ``x86-64-v3``)."""
    arch = os.environ.get(ARCH_ENV) or "native"
    return [f"-march={arch.replace('-', '_') if _is_zig(cc) else arch}"]


def _is_zig(cc: Sequence[str]) -> bool:
    """Whether the command ``cc`` is Zig's C compiler (``zig cc``, also behind a wrapper such
    as ``ccache zig cc``, or the ``ziglang`` package's ``python -m ziglang cc``)."""
    names = [Path(w).name for w in cc]
    return any(n == "ziglang" or n == "zig" or n.startswith("zig-") for n in names)


_STATE: dict[str, object] = {}
_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$LRLAB_CACHE_DIR``, ``$XDG_CACHE_HOME/lrlab`` or
    ``~/.cache/lrlab``, then ``native/``."""
    root = os.environ.get("LRLAB_CACHE_DIR")
    if root:
        return Path(root) / "native"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "lrlab" / "native"


def compiler() -> list[str] | None:
    """The C compiler's command: ``$CC`` (words, as in ``CC="zig cc"``), else Python's own
    (``sysconfig``), else ``cc``, ``gcc`` or ``clang``, else the ``ziglang`` package's
    ``python -m ziglang cc``; ``None`` where there is none.

    Example:
        >>> from lrlab.lab.engine._native_lib import compiler
        >>> cc = compiler()
        >>> cc is None or isinstance(cc[0], str)
        True
    """
    for candidate in (
        os.environ.get("CC"),
        (sysconfig.get_config_var("CC") or "").split(" ")[0],
        "cc",
        "gcc",
        "clang",
    ):
        try:
            words = shlex.split(candidate) if candidate else []
        except ValueError:  # (an unbalanced quote: not a command, as before shlex)
            continue
        if words and shutil.which(words[0]):
            return words
    if importlib.util.find_spec("ziglang") is not None:
        return [sys.executable, "-m", "ziglang", "cc"]
    return None


def _cpu_id() -> str:
    """What the compiled code depends on besides the source and the flags: the machine, and
    on Linux the CPU's feature flags (a cache shared by different CPUs must not hand one a
    library built for another's instructions)."""
    parts = [platform.machine(), platform.system()]
    try:
        with open("/proc/cpuinfo", "rb") as f:
            for line in f:
                if line.startswith((b"flags", b"Features")):
                    parts.append(line.decode(errors="replace"))
                    break
    except OSError:
        parts.append(platform.processor())
    return "|".join(parts)


def _build(
    cc: Sequence[str], source: bytes, out: Path, defines: tuple[str, ...] = ()
) -> str | None:
    """Compile ``source`` into ``out`` (with ``defines``, ``-D`` flags); ``None``, or the
    compiler's complaint. Raises ``OSError`` where ``out``'s directory cannot be written."""
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / SOURCE
        src.write_bytes(source)
        built = Path(tmp) / f"kernel{suffix}"
        error = ""
        name = shlex.join(cc)
        for extra in (arch_flags(cc), []):
            cmd = [*cc, *FLAGS, *defines, *extra, str(src), "-o", str(built), "-lm"]
            try:
                # (Zig's first build of the C library's stubs for this machine takes a minute)
                run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"{name} failed: {exc}"
            if run.returncode == 0:
                out.parent.mkdir(parents=True, exist_ok=True)
                part = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}.part")
                shutil.copyfile(built, part)
                os.replace(part, out)  # atomic: a concurrent process sees all of it or none
                return None
            error = (run.stderr or run.stdout).strip().splitlines()[-1:] or [""]
            error = f"{name} failed: {error[0]}"
        return error


def _open(path: Path) -> ctypes.CDLL | str:
    """The library at ``path``, declared and checked, or why not."""
    try:
        lib = ctypes.CDLL(str(path))
        _declare(lib)
    except (OSError, AttributeError) as exc:
        return f"the compiled kernel would not load: {exc}"
    problem = _self_check(lib)
    return lib if problem is None else problem


def _load(defines: tuple[str, ...] = ()) -> ctypes.CDLL | str:
    """The checked library (built with ``defines``), or why there is none."""
    if os.environ.get("LRLAB_NO_NATIVE"):
        return "turned off by LRLAB_NO_NATIVE"
    cc = compiler()
    if cc is None:
        return (
            "no C compiler found (set CC, install gcc or clang, or "
            'pip install "lrlab[native]" for Zig\'s)'
        )
    try:
        source = resources.files(__package__).joinpath(SOURCE).read_bytes()
    except OSError:
        return f"the kernel's source {SOURCE} is missing from this installation of lrlab"
    key = hashlib.sha256(
        b"\0".join(
            [
                source,
                shlex.join(cc).encode(),
                " ".join([*FLAGS, *defines, *arch_flags(cc)]).encode(),
                _cpu_id().encode(),
            ]
        )
    ).hexdigest()[:20]
    name = f"lrlab_native_{key}{'.dylib' if sys.platform == 'darwin' else '.so'}"
    path = cache_dir() / name
    if path.exists():
        lib = _open(path)
        if isinstance(lib, ctypes.CDLL):
            return lib
        with contextlib.suppress(OSError):  # a damaged file: build it again
            path.unlink()
    try:
        problem = _build(cc, source, path, defines)
    except OSError:  # the cache cannot be written: build, load and delete a copy of our own
        with tempfile.TemporaryDirectory(prefix="lrlab-native-") as tmp:
            problem = _build(cc, source, Path(tmp) / name, defines)
            # (a loaded library stays mapped after its file is deleted)
            return problem if problem is not None else _open(Path(tmp) / name)
    return problem if problem is not None else _open(path)


def _declare(lib: ctypes.CDLL) -> None:
    i64, i32, ptr = ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p
    lib.lrlab_run.restype = ctypes.c_int
    lib.lrlab_run.argtypes = [ptr, ptr, ptr, ptr, ptr, i32, i64, i64, ptr, i64, i32, i32]
    lib.lrlab_run.argtypes += [ptr, ptr, ptr, i64, i64, i32, i64, i64, ptr, ptr, ptr]
    lib.lrlab_work_floats.restype = i64
    lib.lrlab_work_floats.argtypes = [i64, ptr, i64]
    lib.lrlab_math.restype = None
    lib.lrlab_math.argtypes = [i32, ptr, ptr, i64]
    lib.lrlab_lanes.restype = ctypes.c_int
    lib.lrlab_orders.restype = None
    lib.lrlab_orders.argtypes = [ptr, ptr, ptr, i64, i64, i64]
    lib.lrlab_seed.restype = None
    lib.lrlab_seed.argtypes = [ptr, ptr, ptr, i64]


def _self_check(lib: ctypes.CDLL) -> str | None:
    """Whether the library's exp and log agree with NumPy's to a few float32 ulps, and one
    training step of a small cohort (two groups, one of them partial; a batch not a multiple
    of the samples the kernel takes at once) with a NumPy float64 reference, then each
    optimizer update the kernel applies, bit for bit, and two epochs of batch orders: a
    compiler that miscompiles the vector code is refused here, not trusted with a study."""
    x = np.linspace(-80.0, 80.0, 1001, dtype=np.float32)
    got = np.empty_like(x)
    lib.lrlab_math(0, x.ctypes.data, got.ctypes.data, x.size)
    want = np.exp(x.astype(np.float64))
    if not np.allclose(got, want, rtol=4e-7, atol=0):
        return "the compiled kernel's exp disagrees with NumPy's; not used"
    pos = np.exp(x / 8)
    lib.lrlab_math(1, pos.ctypes.data, got.ctypes.data, pos.size)
    if not np.allclose(got, np.log(pos.astype(np.float64)), rtol=4e-7, atol=1.2e-7):
        return "the compiled kernel's log disagrees with NumPy's; not used"
    return _check_step(lib) or _check_orders(lib)


def _check_orders(lib: ctypes.CDLL) -> str | None:
    """Two epochs' orders of 7 rows for three seeds against NumPy's draws."""
    from ._order import numpy_orders

    seeds = [0, 1, 2**32 - 1]
    state, pos = np.empty((3, 624), dtype=np.uint32), np.empty(3, dtype=np.int32)
    lib.lrlab_seed(state.ctypes.data, pos.ctypes.data, np.array(seeds, np.uint32).ctypes.data, 3)
    each = [numpy_orders(7, seed) for seed in seeds]
    for _ in range(2):
        out = np.empty((3, 7), dtype=np.int64)
        lib.lrlab_orders(state.ctypes.data, pos.ctypes.data, out.ctypes.data, 7, 0, 3)
        if not np.array_equal(out, np.stack([next(o) for o in each])):
            return "the compiled kernel's batch orders disagree with NumPy's; not used"
    return None


def _check_step(lib: ctypes.CDLL) -> str | None:
    """One step of a 3-4-3 relu/softmax cohort, one batch per member, against the NumPy
    engine's kernel (:class:`~lrlab.lab.engine.NumpyMLPKernel`) in float64; then
    :func:`_check_updates`."""
    from ..models import MLP
    from ._numpy_kernels import NumpyMLPKernel

    model, N, B = MLP(3, (4,), 3), 11, 7
    C, P = int(lib.lrlab_lanes()) + 1, model.n_params
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(C, P)).astype(np.float32)
    X = rng.normal(size=(N, 3)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, N)]
    rows = np.stack([rng.permutation(N)[:B] for _ in range(C)]).astype(np.int64)
    grad, loss, correct = np.zeros_like(theta), np.zeros(C), np.zeros(C)
    widths = np.array([3, 4, 3], dtype=np.int32)
    net = (widths.ctypes.data, 2, 0, 0)  # relu, categorical cross-entropy
    batch = (X.ctypes.data, Y.ctypes.data, rows.ctypes.data, B, B, 1)
    if lib.lrlab_run(
        theta.ctypes.data,
        grad.ctypes.data,
        *(None, None, None, 0),  # write the gradient, no update
        C,
        P,
        *net,
        *batch,
        0,
        2,
        loss.ctypes.data,
        correct.ctypes.data,
        None,  # the kernel's own work memory
    ):
        return "the compiled kernel could not allocate its working memory"
    xa = NumpyMLPKernel.inputs(X.astype(np.float64))  # [D + 1, N]
    xb = np.ascontiguousarray(xa[:, rows].transpose(1, 0, 2))  # [C, D + 1, B]
    yb = np.ascontiguousarray(Y.T.astype(np.float64)[:, rows].transpose(1, 0, 2))
    want = np.zeros((C, P))
    result = NumpyMLPKernel(model).step(theta.astype(np.float64), want, xb, yb)
    assert result is not None
    if not np.allclose(grad, want, rtol=1e-4, atol=1e-5) or not np.allclose(
        loss / B, result[0], rtol=1e-5
    ):
        return "the compiled kernel's training step disagrees with NumPy's; not used"
    return _check_updates(lib, rng, theta, grad, (C, P, *net, *batch, 0, 2))


def _check_updates(
    lib: ctypes.CDLL, rng: np.random.Generator, theta: np.ndarray, grad: np.ndarray, call: tuple
) -> str | None:
    """The same step (``grad`` is its gradient) with each update the kernel applies
    (:class:`~lrlab.lab.optim.KernelUpdate`), against the optimizer's own NumPy update from
    the same state, bit for bit: weights and buffers."""
    from ..optim import SGD, Adam, AdamW

    C = theta.shape[0]

    def each(lo: float, hi: float) -> list[float]:
        return [float(v) for v in rng.uniform(lo, hi, C)]

    optimizers = [
        SGD(),
        SGD(momentum=each(0.0, 1.0)),
        SGD(momentum=0.9, form="keras"),
        SGD(momentum=0.9, nesterov=True, weight_decay=each(0.0, 0.1)),
        SGD(momentum=each(0.0, 1.0), nesterov=True, weight_decay=0.05, form="keras"),
        Adam(betas=(each(0.3, 0.99), each(0.9, 0.999))),  # lerp's two branches, beta2 columns
        Adam(betas=(0.3, 0.99), eps=1e-3),
        AdamW(weight_decay=each(0.0, 0.1), form="keras"),
    ]
    lr = rng.uniform(0.0, 0.5, size=(C, 1))
    out = np.zeros(C), np.zeros(C)
    for opt in optimizers:
        state = opt.init(theta)
        for name, buf in state.items():
            if name != "step":  # (positive: exp_avg_sq's square root)
                buf[...] = rng.uniform(0.0, 1.0, size=buf.shape)
        state["step"] += 3
        want = theta.copy()
        want_state = {n: b.copy() for n, b in state.items()}
        opt.stepper(want, grad, want_state)(lr)
        moved = theta.copy()
        kernel = opt.stepper(moved, np.empty_like(grad), state).kernel
        if kernel is None:
            return f"the kernel has no update for {opt!r}"
        coef = kernel.coefficients(lr)
        bufs = [b.ctypes.data for b in kernel.buffers] + [None, None]
        update = (coef.ctypes.data, bufs[0], bufs[1], kernel.code)
        scratch = np.empty_like(grad)  # (the kernel writes the gradient again)
        args = (moved.ctypes.data, scratch.ctypes.data, *update, *call)
        if lib.lrlab_run(*args, out[0].ctypes.data, out[1].ctypes.data, None):
            return "the compiled kernel could not allocate its working memory"
        same = np.array_equal(moved, want) and all(
            np.array_equal(state[n], want_state[n]) for n in state if n != "step"
        )
        if not same:
            return f"the compiled kernel's {kernel.rule} update disagrees with NumPy's; not used"
    return None


def library(lanes: int | None = None) -> ctypes.CDLL | None:
    """The native kernel's library, compiled and checked on first use in this process;
    ``None`` where it is not available (:func:`native_status` says why). ``lanes``: a build
    with that many members per vector, fewer than the CPU's vectors hold (8 on an AVX-512
    CPU, for a cohort of at most 8 members), ``None`` for the CPU's width."""
    key = "lib" if lanes is None else f"lib{lanes}"
    with _LOCK:  # one build per process, whichever thread asks first
        if key not in _STATE:
            _STATE[key] = _load(() if lanes is None else (f"-DLRLAB_LANES={int(lanes)}",))
    lib = _STATE[key]
    return lib if isinstance(lib, ctypes.CDLL) else None


def native_status() -> str:
    """``"available"``, or why the native engine is not.

    Example:
        >>> from lrlab.lab.engine import native_status
        >>> isinstance(native_status(), str)
        True
    """
    library()
    lib = _STATE["lib"]
    return "available" if isinstance(lib, ctypes.CDLL) else str(lib)


def reset() -> None:
    """Forget the loaded library (the next :func:`library` call loads it again)."""
    _STATE.clear()
