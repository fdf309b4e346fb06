"""Exception classes for user-facing errors of the instruction-set layer and the simulator."""

from __future__ import annotations


class VdlaError(Exception):
    """Base class of every error vdla reports to a user."""


class ConfigError(VdlaError, ValueError):
    """An invalid hardware configuration (names the knob and the allowed range)."""


class EncodingError(VdlaError, ValueError):
    """A field value that does not fit its bit field (names the instruction and the field)."""


class IllegalInstructionError(VdlaError):
    """A program that SPEC.md section 7 calls illegal.

    Carries the instruction index, the field and the offending value so that tools can point
    at it.
    """

    def __init__(self, index: int | None, field: str | None, message: str) -> None:
        self.index = index
        self.field = field
        where = f"instruction {index}" if index is not None else "program"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {message}")


class DeadlockError(IllegalInstructionError):
    """No module can make progress and the program has not finished (SPEC.md section 7)."""

    def __init__(self, message: str, blocked: dict[str, str], cycle: int) -> None:
        self.blocked = blocked
        self.cycle = cycle
        lines = "\n".join(f"  {m}: {why}" for m, why in blocked.items())
        super().__init__(None, None, f"deadlock at cycle {cycle}: {message}\n{lines}")


class AsmError(VdlaError, ValueError):
    """A syntax or semantic error in assembly text (names the line)."""

    def __init__(self, line: int, message: str, source: str = "<asm>") -> None:
        self.line = line
        super().__init__(f"{source}:{line}: {message}")


class BundleError(VdlaError, ValueError):
    """A truncated, corrupted or otherwise malformed program bundle."""
