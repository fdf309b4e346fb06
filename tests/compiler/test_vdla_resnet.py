"""Every convolution of ResNet-18 (224x224, batch 1; C1..C12 of the TVM paper's table) on the
accelerator, with and without virtual threads, bit-exact against numpy.

All 24 runs take about 10 seconds (the simulator executes whole instructions), so every one is
in the fast tier.
"""

import numpy as np
import pytest
from test_vdla_reference import conv2d_ref

from compiler.ops import vdla
from compiler.ops.vdla.resnet import RESNET18_CONV_LAYERS

RESNET18 = RESNET18_CONV_LAYERS  # name: (H=W, C, O, K, stride, padding)


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
