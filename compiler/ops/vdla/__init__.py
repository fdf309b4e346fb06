"""The accelerator operator library: int8 operators with default schedules for the VDLA.

Each constructor takes logical NCHW shapes and attributes and returns a ``VdlaOp`` (built once,
memoized) that is called on numpy arrays and returns ``(result, cycle report)``::

    from compiler.ops import vdla

    op = vdla.conv2d((1, 64, 56, 56), (64, 64, 3, 3), stride=1, padding=1, shift=8, relu=True)
    y, report = op(x, w)                  # backend="sim" (default) or "rtl"
    print(report.cycles, report.gemm_utilization)

Operators (``api.py``): ``conv2d``, ``dense``, ``requantize``, ``relu``, ``add``,
``max_pool2d``, ``global_avg_pool2d``. Underneath, per operator family, the tensor-expression
computation in the packed layout and its schedule (``conv2d.py``, ``dense.py``,
``elementwise.py``, ``pool.py``), the default tilings (``tiling.py``) and the layout
conversions (``layout.py``). Errors are ``VdlaOpError`` (``errors.py``).
"""

from .api import (
    VdlaOp,
    add,
    conv2d,
    dense,
    global_avg_pool2d,
    max_pool2d,
    relu,
    requantize,
)
from .conv2d import Conv2dTiling
from .dense import DenseTiling
from .elementwise import EwiseTiling
from .errors import VdlaOpError

__all__ = ["Conv2dTiling", "DenseTiling", "EwiseTiling", "VdlaOp", "VdlaOpError", "add",
           "conv2d", "dense", "global_avg_pool2d", "max_pool2d", "relu", "requantize"]
