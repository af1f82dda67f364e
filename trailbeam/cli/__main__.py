"""``python -m trailbeam.cli``: the same as the ``trailbeam`` command."""

import sys

from trailbeam.cli import main

sys.exit(main())
