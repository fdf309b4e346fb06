"""The loop IR (``ir.py``, the contract with the code generators), its printer, verifier,
arithmetic simplifier, passes, the schedule lowering ``lower`` and the reference
interpreter ``interp``.

``lower``, ``print_ir``, ``verify_ir`` (``verify.verify``) and ``run_pipeline`` are
re-exported lazily, so that importing ``compiler.tir.ir`` alone stays light and free of
import cycles. (``compiler.tir.verify`` is the verifier *module*.)
"""

_LAZY = {"lower": (".pipeline", "lower"), "run_pipeline": (".pipeline", "run_pipeline"),
         "print_ir": (".printer", "print_ir"), "verify_ir": (".verify", "verify")}

__all__ = ["lower", "print_ir", "run_pipeline", "verify_ir"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
