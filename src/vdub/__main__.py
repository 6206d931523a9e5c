"""``python -m vdub``: see :mod:`vdub.cli.main`."""

import sys

from vdub.cli.main import main

sys.exit(main())
