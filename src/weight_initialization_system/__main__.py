"""``python -m weight_initialization_system``: the ``weight-init`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
