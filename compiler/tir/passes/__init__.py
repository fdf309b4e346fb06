"""Loop-IR passes, one per module; ``compiler.tir.pipeline.run_pipeline`` runs them in order."""

from .legalize_parallel import legalize_parallel
from .remove_no_op import remove_no_op
from .remove_unit_loops import remove_unit_loops
from .safe_select_loads import safe_select_loads
from .simplify import simplify_func
from .storage_flatten import flat_index, storage_flatten

__all__ = ["flat_index", "legalize_parallel", "remove_no_op", "remove_unit_loops",
           "safe_select_loads", "simplify_func", "storage_flatten"]
