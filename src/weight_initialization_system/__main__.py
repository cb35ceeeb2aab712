"""``python -m weight_initialization_system``: the ``weight-init`` command line."""

import sys

from .cli import main

sys.exit(main())
