"""Collection rules for the doctests in src/: modules that need a framework that is not
installed are skipped (their tests in tests/ skip themselves with ``pytest.importorskip``)."""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")
# transformers (the Hugging Face trainer tests) must not load its TensorFlow side just because
# TensorFlow is installed for the Keras tests: older releases then need the tf-keras package
os.environ.setdefault("USE_TF", "0")

_NEEDS = {
    "torch": [
        "src/lrlab/integrations/torch",
        "src/lrlab/torch.py",
        "src/lrlab/lab/engine/_torch.py",
        "src/lrlab/lab/engine/_torch_kernels.py",
    ],
    "keras": ["src/lrlab/integrations/keras", "src/lrlab/keras.py"],
    "optax": ["src/lrlab/integrations/optax.py", "src/lrlab/optax.py"],
    "tensorboardX": ["src/lrlab/report/_export.py"],
    "matplotlib": ["docs/report.md"],
}

collect_ignore = [
    path
    for module, paths in _NEEDS.items()
    if importlib.util.find_spec(module) is None
    for path in paths
]
