"""The numbers of the scheme: symmetric int8 scales and the integer requantization step.

Weights: one scale per output channel, ``s_w[o] = max|w[o]| / 127``. Activations: one scale
per tensor, ``s = max|x| / 127`` from calibration. A convolution's int32 accumulator holds
``x * w`` at scale ``s_x * s_w[o]``; bringing it to the output scale means multiplying by
``M[o] = s_x * s_w[o] / s_out``, carried out as ``(acc * m[o] + 2^(k-1)) >> k`` (MULSHR, see
``accel/isa/SPEC.md`` 5.6) with ``m[o] = round(M[o] * 2^k)``.
"""

from __future__ import annotations

import numpy as np

from .errors import QuantizeError

QMAX = 127
MULTIPLIER_BITS = 24      # m < 2^24: 2^-24 relative precision; acc * m stays far below 2^62
MAX_SHIFT = 62            # MULSHR's 2N-2 with the 32-bit accumulator


def tensor_scale(maxabs: float) -> float:
    """Per-tensor activation scale (1.0 for a tensor that was always zero)."""
    return float(maxabs) / QMAX if maxabs > 0 and np.isfinite(maxabs) else 1.0


def quantize_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float64 per-output-channel scales) of ``w`` (axis 0 = output channel)."""
    w = np.asarray(w, dtype=np.float64)
    m = np.max(np.abs(w.reshape(w.shape[0], -1)), axis=1)
    s = np.where(m > 0, m / QMAX, 1.0)
    q = np.clip(np.rint(w / s.reshape((-1,) + (1,) * (w.ndim - 1))), -QMAX, QMAX)
    return q.astype(np.int8), s


def requant_params(scale: np.ndarray) -> tuple[int, np.ndarray | None]:
    """(shift, int32 multipliers or None) realizing ``acc * scale`` per channel.

    A single power of two ``2^-k`` (k >= 1) for every channel needs no multiplier: RSHR by k.
    Otherwise the largest shift keeping every multiplier below ``2^MULTIPLIER_BITS``.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if np.all(scale == scale[0]) and scale[0] > 0:
        k = -np.log2(scale[0])
        if k >= 1 and k <= 32 and float(k).is_integer():
            return int(k), None
    top = float(np.max(scale))
    if top <= 0:
        return 0, np.zeros(scale.shape, np.int32)
    shift = int(np.floor(MULTIPLIER_BITS - 1 - np.log2(top)))
    shift = max(0, min(MAX_SHIFT, shift))
    while shift > 0 and np.max(np.rint(scale * 2.0 ** shift)) >= 2 ** MULTIPLIER_BITS:
        shift -= 1
    m = np.rint(scale * 2.0 ** shift)
    if np.max(m) >= 2 ** 31:
        raise QuantizeError(f"requantization scale {top} needs a multiplier beyond int32")
    return shift, m.astype(np.int32)


__all__ = ["MULTIPLIER_BITS", "QMAX", "quantize_weight", "requant_params", "tensor_scale"]
