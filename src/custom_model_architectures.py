"""The seed's reference models, re-exported from :mod:`weight_initialization_system.models`."""

from weight_initialization_system.models import *  # noqa: F403
from weight_initialization_system.models import __all__ as __all__
