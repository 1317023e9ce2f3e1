"""``python -m seisbatch.cli``: the same command line as the ``seisbatch`` script."""

import sys

from . import main

sys.exit(main())
