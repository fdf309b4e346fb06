"""Exception classes of the compiled-module runtime (``runtime.module``, ``runtime.executor``).

Hierarchy::

    VdlaError (accel.isa.errors)
      ModuleError                 base of the runtime's own errors
        ModuleFormatError         not a vdla module, truncated or corrupted, an entry missing
                                  (names the file and the entry)
        ModuleVersionError        written by another module format or vdla version
        InputError                run-time inputs that do not fit the module: a missing or
                                  unknown input, the wrong shape or dtype (names the input,
                                  what was expected and what was given)
        BackendError              an unknown backend, or one that cannot run this module
"""

from __future__ import annotations

from accel.isa.errors import VdlaError


class ModuleError(VdlaError):
    """Base class of the compiled-module runtime's errors."""


class ModuleFormatError(ModuleError, ValueError):
    """The file is not a readable vdla module."""


class ModuleVersionError(ModuleError):
    """The module was written by an incompatible vdla."""


class InputError(ModuleError, ValueError):
    """Inputs that do not match what the module was compiled for."""


class BackendError(ModuleError, ValueError):
    """An unknown backend, or one that cannot run the module."""


__all__ = ["BackendError", "InputError", "ModuleError", "ModuleFormatError",
           "ModuleVersionError"]
