"""`python -m nightshift.control.cli ...`: the same as the `nightshift` command."""

import sys

from nightshift.control.cli import main

sys.exit(main())
