"""`python -m snowbot ...`: the same as the `snowbot` console script."""

import sys

from snowbot.cli import main

sys.exit(main())
