"""``python3 -m encoders``: the trainer's command line."""

import sys

from encoders.cli import main

sys.exit(main())
