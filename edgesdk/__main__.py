"""`python -m edgesdk`: the `edgesdk` command, for environments without the console script on PATH."""

import sys

from edgesdk.cli import main

sys.exit(main())
