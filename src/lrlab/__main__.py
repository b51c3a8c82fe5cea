"""``python -m lrlab``: the same as the ``lrlab`` command."""

import sys

from .cli import main

sys.exit(main())
