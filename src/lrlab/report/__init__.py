"""Figures of stored studies (matplotlib, imported on use).

* :func:`learning_curves` — a per-epoch metric, one line per configuration;
* :func:`sensitivity` — a final metric against a swept numeric variable such as ``lr``.
"""

from ._figures import learning_curves, numeric_variables, sensitivity

__all__ = ["learning_curves", "numeric_variables", "sensitivity"]
