"""What lrlab shows of a study: figures (matplotlib, imported on use) and terminal text.

* :func:`learning_curves` — a per-epoch metric, one line per configuration;
* :func:`sensitivity` — a final metric against a swept numeric variable such as ``lr``;
* :func:`summary_table` — the table ``lrlab run`` and ``lrlab results`` print;
* :func:`printable` — user text with its control characters escaped, for a terminal.
"""

from ._figures import learning_curves as learning_curves
from ._figures import numeric_variables as numeric_variables
from ._figures import sensitivity as sensitivity
from ._table import format_value as format_value
from ._table import printable as printable
from ._table import progress_line as progress_line
from ._table import render_table as render_table
from ._table import summary_table as summary_table

__all__ = [
    "format_value",
    "learning_curves",
    "numeric_variables",
    "printable",
    "progress_line",
    "render_table",
    "sensitivity",
    "summary_table",
]
