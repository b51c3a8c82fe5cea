"""What lrlab shows of a study: figures (matplotlib, imported on use) and terminal text.

* :func:`learning_curves` — a per-epoch metric, one line per configuration;
* :func:`curve_grid` — one small panel per configuration, training and validation;
* :func:`sensitivity` — a final metric against a swept numeric variable such as ``lr``, one
  line per level of a second variable;
* :func:`lr_curves` and :func:`optimizer_comparison`;
* :func:`study_figures` — every figure that applies to a study, as PNG and SVG;
* :func:`write_report` — the study's HTML report (summary, figures, study file, trials);
* :func:`export_tensorboard`, :func:`export_csv`, :func:`export_json` — the trials for
  other tools (TensorBoard runs, one row per trial);
* :func:`summary_table` — the table ``lrlab run`` and ``lrlab results`` print;
* :func:`printable` — user text with its control characters escaped, for a terminal.
"""

from ._export import export_csv as export_csv
from ._export import export_json as export_json
from ._export import export_tensorboard as export_tensorboard
from ._figures import curve_grid as curve_grid
from ._figures import learning_curves as learning_curves
from ._figures import lr_curves as lr_curves
from ._figures import numeric_variables as numeric_variables
from ._figures import optimizer_comparison as optimizer_comparison
from ._figures import sensitivity as sensitivity
from ._figures import study_figures as study_figures
from ._html import render_report as render_report
from ._html import write_report as write_report
from ._table import format_value as format_value
from ._table import printable as printable
from ._table import progress_line as progress_line
from ._table import render_table as render_table
from ._table import summary_table as summary_table

__all__ = [
    "curve_grid",
    "export_csv",
    "export_json",
    "export_tensorboard",
    "format_value",
    "learning_curves",
    "lr_curves",
    "numeric_variables",
    "optimizer_comparison",
    "printable",
    "progress_line",
    "render_report",
    "render_table",
    "sensitivity",
    "study_figures",
    "summary_table",
    "write_report",
]
