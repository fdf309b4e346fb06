"""The CPU operator library: tensor-expression operators with default schedules, run by LLVM.

Every operator is a function of the input *shapes*, the attributes and the dtype that returns
a ``CpuOp`` (``base.py``); it is cheap to create (compilation happens on first use) and
memoized, so asking for the same operator twice returns the same object::

    from compiler.ops import cpu

    op = cpu.conv2d((1, 64, 56, 56), (64, 64, 3, 3), stride=1, padding=1, dilation=1,
                    groups=1, dtype="float32", bias=False)
    y = op(x, w)                 # == op.run(x, w); numpy in, numpy out (out= to reuse)
    op.out_shape, op.out_dtype   # (1, 64, 56, 56), "float32"
    op.inputs, op.output         # te placeholders / te output tensor
    print(op.schedule)           # stages, loop order, primitive history (op.records)
    op.config                    # the schedule parameters used, e.g. {"schedule":
                                 #   "blocked", "oc_block": 32, "ow_block": 8, "pad_rows": 2}
    op.func                      # the lowered loop-IR PrimFunc; op.compiled: LLVM function

``config=`` (conv2d, matmul/dense) overrides schedule parameters; unknown names are errors.
Constant weights can leave the hot path: ``conv2d(..., packed_weights=True)`` /
``matmul(..., packed_b=True)`` / ``dense(..., packed_weights=True)`` take the weights in the
kernel's blocked layout, made once by ``op.pack_weights(w)`` (numpy)::

    op = cpu.conv2d(x_shape, w_shape, padding=1, packed_weights=True)
    wp = op.pack_weights(w)      # once, e.g. when a model is loaded
    y = op(x, wp)

Shapes are tuples of positive ints; dtypes ``float32`` everywhere, integers (``int8``,
``uint8``, ``int16``, ``int32``) where natural. Integer conv2d / matmul accumulate in int32
and return int32 (exact). The kernel may see the inputs with merged dimensions (e.g. a flat
vector for an elementwise op); ``run`` reshapes C-contiguous arrays for it (free) and copies
non-contiguous ones.

Operators (module, ONNX counterpart):

=============================================  ===========================================
``conv2d(x, w, stride, padding, dilation,``    conv.py — Conv (NCHW; groups incl.
``groups, dtype, bias)``                        depthwise; padding ``(t, l, b, r)``)
``matmul(a, b, dtype, trans_a, trans_b,``      gemm.py — MatMul / Gemm (batch rows of A)
``bias)``, ``dense(x, w, dtype, bias)``
``max_pool2d``, ``avg_pool2d``,                pool.py — MaxPool, AveragePool (ceil_mode,
``global_avg_pool2d``, ``global_max_pool2d``   count_include_pad), GlobalAverage/MaxPool
``add sub mul div minimum maximum``            elementwise.py — numpy broadcasting
``relu clip leaky_relu sigmoid tanh exp``      elementwise.py — unary maps on any shape
``sqrt abs neg cast``
``softmax``, ``log_softmax``, ``batch_norm``,  norm.py — Softmax (max-subtracted),
``lrn``                                        BatchNormalization (inference), LRN
``concat reshape flatten transpose pad``       transform.py — Concat, Reshape, Flatten,
                                               Transpose, Pad (constant/edge/reflect)
=============================================  ===========================================

Errors (``errors.py``): ``OpAttributeError`` (bad or unsupported attribute), ``OpShapeError``
(shapes that do not fit), ``OpDtypeError`` (unsupported dtype), ``OpArgumentError`` (``run``
got wrong arrays); all are ``OpError`` and ``compiler.errors.CompilerError``, and every
message names the operator and the offending attribute.

Threads: parallel loops use ``compiler.codegen.llvm.set_num_threads`` (default: all cores);
operators too small to gain from threads run serially (``base.PARALLEL_MIN_WORK``). Each
operator makes at most one parallel launch per call where it can (the matmul packs B panel
by panel inside its parallel loop, the convolution pads its input per block of rows),
because a launch has to wake the pool's sleeping workers (see BENCHMARKS.md).
"""

from .base import CpuOp, vector_lanes
from .conv import conv2d, conv_out_size, pack_conv_weights
from .elementwise import (
    abs,
    add,
    cast,
    clip,
    div,
    exp,
    leaky_relu,
    maximum,
    minimum,
    mul,
    neg,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
)
from .errors import OpArgumentError, OpAttributeError, OpDtypeError, OpError, OpShapeError
from .gemm import dense, matmul, pack_b_panels
from .norm import batch_norm, log_softmax, lrn, softmax
from .pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d, pool_out_size
from .transform import concat, flatten, pad, reshape, transpose

__all__ = [
    "CpuOp", "OpArgumentError", "OpAttributeError", "OpDtypeError", "OpError", "OpShapeError",
    "abs", "add", "avg_pool2d", "batch_norm", "cast", "clip", "concat", "conv2d",
    "conv_out_size", "dense", "div", "exp", "flatten", "global_avg_pool2d",
    "global_max_pool2d", "leaky_relu", "log_softmax", "lrn", "matmul", "max_pool2d", "maximum",
    "minimum", "mul", "neg", "pack_b_panels", "pack_conv_weights", "pad", "pool_out_size",
    "relu", "reshape", "sigmoid", "softmax", "sqrt", "sub", "tanh", "transpose",
    "vector_lanes",
]
