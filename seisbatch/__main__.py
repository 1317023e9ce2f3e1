"""``python -m seisbatch``: the same command line as the ``seisbatch`` script."""

import sys

from .cli import main

sys.exit(main())
