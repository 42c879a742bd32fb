"""orbsim: an in-memory, rule-faithful simulator of Orb's usage-billing API.

Public names only: the simulator, its settings, the clocks and the error taxonomy.
"""

from orbsim.clock import Clock, ManualClock, SystemClock
from orbsim.errors import (
    ConstraintViolation,
    DuplicateResourceCreation,
    OrbAuthenticationError,
    OrbError,
    OrbInternalServerError,
    RequestTooLarge,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
    TooManyRequests,
    URLNotFound,
)
from orbsim.settings import Settings
from orbsim.sim import OrbSim

__all__ = [
    "Clock",
    "ConstraintViolation",
    "DuplicateResourceCreation",
    "ManualClock",
    "OrbAuthenticationError",
    "OrbError",
    "OrbInternalServerError",
    "OrbSim",
    "RequestTooLarge",
    "RequestValidationError",
    "ResourceConflict",
    "ResourceNotFound",
    "Settings",
    "SystemClock",
    "TooManyRequests",
    "URLNotFound",
]

__version__ = "0.1.0"
