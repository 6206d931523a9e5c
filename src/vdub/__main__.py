"""``python -m vdub``: see :mod:`vdub.cli`."""

import sys

from .cli import main

sys.exit(main())
