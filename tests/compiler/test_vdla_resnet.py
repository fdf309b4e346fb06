"""Every convolution of ResNet-18 (224x224, batch 1; C1..C12 of the TVM paper's table) on the
accelerator, with and without virtual threads, bit-exact against numpy.

All 24 runs take about 10 seconds (the simulator executes whole instructions), so every one is
in the fast tier.
"""

import numpy as np
import pytest
from test_vdla_reference import conv2d_ref

from compiler.ops import vdla

# name: (H=W, C, O, K, stride, padding)
RESNET18 = {
    "C1": (224, 3, 64, 7, 2, 3),
    "C2": (56, 64, 64, 3, 1, 1),
    "C3": (56, 64, 64, 1, 1, 0),
    "C4": (56, 64, 128, 3, 2, 1),
    "C5": (56, 64, 128, 1, 2, 0),
    "C6": (28, 128, 128, 3, 1, 1),
    "C7": (28, 128, 256, 3, 2, 1),
    "C8": (28, 128, 256, 1, 2, 0),
    "C9": (14, 256, 256, 3, 1, 1),
    "C10": (14, 256, 512, 3, 2, 1),
    "C11": (14, 256, 512, 1, 2, 0),
    "C12": (7, 512, 512, 3, 1, 1),
}


@pytest.mark.parametrize("vthreads", [2, 1], ids=["vt2", "serial"])
@pytest.mark.parametrize("name", list(RESNET18))
def test_resnet18_layer(name, vthreads):
    hw, c, o, k, s, p = RESNET18[name]
    rng = np.random.default_rng(int(name[1:]))
    x = rng.integers(-128, 128, (1, c, hw, hw)).astype(np.int8)
    w = rng.integers(-128, 128, (o, c, k, k)).astype(np.int8)
    shift = 10
    op = vdla.conv2d(x.shape, w.shape, s, p, shift=shift, relu=True, vthreads=vthreads)
    got, report = op(x, w)
    np.testing.assert_array_equal(got, conv2d_ref(x, w, (s, s), (p,) * 4, shift=shift,
                                                  relu=True))
    assert report.macs >= o * c * k * k * got.shape[2] * got.shape[3]
