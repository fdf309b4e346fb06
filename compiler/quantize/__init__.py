"""Post-training int8 quantization: calibrate a float graph on user samples, then rewrite its
convolutions, dense layers, residual additions, ReLUs and max-pooling into the accelerator's
int8 operators (``compiler.graph.ops.quantized``), which the partitioner offloads.

Example::

    from compiler.quantize import quantize
    qgraph = quantize(optimize(graph, fuse=False), samples)   # samples: (K, C, H, W) float32

The scheme, and why:

* Weights: symmetric int8, one scale per output channel (``max|w[o]| / 127``). Per-channel
  scales keep small-magnitude filters precise (folded batch norms give filters very different
  ranges); they cost nothing on the accelerator because requantization is per channel anyway.
* Activations: symmetric int8, one scale per tensor, ``max|x| / 127`` over the calibration
  samples (max-abs: no clipping of the outliers a ReLU network's few large activations are;
  zero point 0, since the accelerator has no zero-point arithmetic). Tensors joined by QAdd,
  Relu, MaxPool or a reshape share a scale, because those operators do not rescale.
* Requantization: the per-channel real factor ``M[o] = s_x * s_w[o] / s_out`` becomes MULSHR,
  ``(acc * m[o] + 2^(k-1)) >> k`` with an int32 multiplier ``m[o] < 2^24`` and one shift ``k``
  per layer (``accel/isa/SPEC.md`` 5.6: the product is exact, the shift rounds half up, STORE
  saturates to int8, 5.4). It is exact integer arithmetic, so the numpy reference
  (``compiler.graph.reference`` on the quantized graph) equals the accelerator bit for bit, and
  it has 24 bits of precision where power-of-two scales (RSHR) would lose up to a factor of
  two of activation range per layer. RSHR is used when every ``M[o]`` is one power of two.
* Boundaries: ``Quantize`` on the float input (round half to even, saturate) and
  ``Dequantize`` where a float consumer (or a graph output) needs a value.

The graph rules (what becomes which operator, the convolution bias as a constant residual,
the dense bias as a float add on the CPU) are in ``quantize_graph``.
"""

from __future__ import annotations

from ..graph.ir import Graph
from ..graph.passes import eliminate_dead_code
from .calibrate import calibrate
from .errors import QuantizeError
from .quantize_graph import quantize_graph
from .scheme import quantize_weight, requant_params, tensor_scale


def quantize(graph: Graph, samples) -> Graph:
    """Calibrate ``graph`` (plain layout, best unfused: ``optimize(g, fuse=False)``) on
    ``samples`` and return its int8 version (float inputs and outputs)."""
    return eliminate_dead_code(quantize_graph(graph, calibrate(graph, samples)))


__all__ = ["QuantizeError", "calibrate", "quantize", "quantize_graph", "quantize_weight",
           "requant_params", "tensor_scale"]
