"""Packaging contracts: numpy is the only hard dependency; version from metadata; typed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import lrlab

BLOCK_FRAMEWORKS = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in {'torch', 'jax', 'jaxlib', 'keras', 'optax', 'matplotlib',
                                      'tensorflow', 'pandas', 'scipy'}:
                raise ImportError(f'blocked: {name}')
    sys.meta_path.insert(0, Block())
    """
)


def test_core_imports_with_numpy_only():
    code = BLOCK_FRAMEWORKS + textwrap.dedent(
        """
        import lrlab, lrlab.schedules, lrlab.control, lrlab.cli
        from lrlab.schedules import warmup, cosine, parse, lint
        s = parse('warmup(cosine(init=0.1, decay_steps=90), steps=10)')
        assert abs(s(10) - 0.1) < 1e-12
        assert not [m for m in sys.modules if m.split('.')[0] in {'torch', 'jax', 'keras'}]
        print('ok')
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_version_comes_from_metadata():
    assert lrlab.__version__ == version("lrlab")


def test_package_is_typed():
    assert (Path(lrlab.__file__).parent / "py.typed").exists()


def test_lab_names_resolve_lazily():
    code = textwrap.dedent(
        """
        import sys
        import lrlab.lab as lab
        assert 'torch' not in sys.modules, 'import lrlab.lab pulled in torch'
        for name in lab.__all__:
            getattr(lab, name)
        print('ok')
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
