"""Framework integrations: lrlab schedules and control in each framework's own idiom.

Each integration lives in its own module and is imported only when you ask for it, so
``import lrlab`` never pulls in a framework:

* ``torch/``, public as :mod:`lrlab.torch`: a ``torch.optim.lr_scheduler`` scheduler that runs
  an lrlab schedule, optionally composed with a plateau, and the range test on a torch model;
* the Keras 3 and Optax integrations sit beside it as ``keras`` and ``optax``.

This package itself imports no framework (and must not: add no imports here).
"""

__all__: list[str] = []
