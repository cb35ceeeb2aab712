"""The seed's advanced examples, re-exported from :mod:`weight_initialization_system.examples`."""

from weight_initialization_system.examples import *  # noqa: F403
from weight_initialization_system.examples import __all__ as __all__
