"""conv2d of the CPU operator library against an independent numpy reference.

The reference pads explicitly, takes sliding windows (``sliding_window_view`` over the dilated
kernel extent, then strided), and contracts each group with ``einsum`` in float64 / int64.
Floats agree within tolerance, integers exactly.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from compiler import te
from compiler.ops import cpu
from compiler.tir import lower, print_ir


def conv_ref(x, w, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1, bias=None):
    wide = np.float64 if x.dtype.kind == "f" else np.int64
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(wide), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    k, cg, kh, kw = w.shape
    (dh, dw), (sh, sw) = dilation, stride
    win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]                 # n, c, oh, ow, kh, kw
    kg = k // groups
    out = np.concatenate([
        np.einsum("nchwij,kcij->nkhw", win[:, g * cg:(g + 1) * cg],
                  w[g * kg:(g + 1) * kg].astype(wide)) for g in range(groups)], axis=1)
    if bias is not None:
        out = out + bias.astype(wide)[None, :, None, None]
    return out


def _data(shape, dtype, rng):
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(dtype)
    lo, hi = (info.min, info.max) if info.bits <= 8 else (-300, 300)
    return rng.integers(lo, hi, shape, endpoint=True).astype(dtype)


def _check(x_shape, w_shape, dtype="float32", bias=False, config=None, **attrs):
    rng = np.random.default_rng(sum(x_shape) * 31 + sum(w_shape))
    op = cpu.conv2d(x_shape, w_shape, dtype=dtype, bias=bias, config=config, **attrs)
    x, w = _data(x_shape, dtype, rng), _data(w_shape, dtype, rng)
    args = [x, w]
    b = None
    if bias:
        b = (rng.standard_normal(w_shape[0]).astype(np.float32) if dtype == "float32"
             else rng.integers(-1000, 1000, w_shape[0]).astype(np.int32))
        args.append(b)
    got = op(*args)
    want = conv_ref(x, w, op.attrs["stride"], op.attrs["padding"], op.attrs["dilation"],
                    op.attrs["groups"], b)
    assert got.shape == want.shape == op.out_shape
    if dtype == "float32":
        assert got.dtype == np.float32
        scale = np.sqrt(w_shape[1] * w_shape[2] * w_shape[3])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
    else:
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want.astype(np.int32))
    return op


CASES = [
    # x shape, w shape, attrs, expected schedule
    ((1, 3, 7, 7), (5, 3, 3, 3), dict(padding=1), "spatial"),                 # few filters
    ((1, 8, 7, 7), (16, 8, 3, 3), dict(padding=1), "blocked"),
    ((1, 6, 9, 9), (40, 6, 3, 3), dict(padding=1), "blocked"),                # 32-wide, K % 32
    ((1, 8, 6, 6), (64, 4, 3, 3), dict(padding=1, groups=2), "blocked"),      # 32 per group
    ((2, 5, 9, 11), (20, 5, 3, 3), dict(padding=(1, 2, 0, 1), stride=2), "blocked"),
    ((1, 4, 12, 12), (16, 4, 3, 3), dict(padding=2, dilation=2), "blocked"),
    ((1, 4, 13, 10), (24, 4, 3, 2), dict(padding=(0, 1), stride=(2, 1), dilation=(1, 2)),
     "blocked"),
    ((1, 16, 7, 7), (24, 16, 1, 1), dict(), "blocked"),                        # 1x1, K % 16
    ((1, 32, 14, 14), (64, 32, 1, 1), dict(stride=2), "blocked"),
    ((1, 3, 23, 23), (16, 3, 7, 7), dict(padding=3, stride=2), "blocked"),    # stem-like
    ((1, 8, 10, 10), (8, 1, 3, 3), dict(padding=1, groups=8), "spatial"),      # depthwise
    ((1, 8, 9, 9), (16, 1, 3, 3), dict(padding=1, stride=2, groups=8), "spatial"),
    ((2, 6, 7, 7), (6, 1, 5, 5), dict(padding=2, dilation=1, groups=6), "spatial"),
    ((1, 8, 10, 10), (6, 4, 3, 3), dict(padding=2, dilation=2, groups=2), "spatial"),
    ((1, 8, 10, 13), (6, 4, 3, 3), dict(padding=(1, 2, 0, 1), stride=(1, 2), dilation=2,
                                        groups=2), "spatial"),
    ((1, 4, 11, 17), (4, 1, 2, 3), dict(stride=3, groups=4), "spatial"),     # no padding
    ((1, 8, 7, 7), (32, 4, 3, 3), dict(padding=1, groups=2), "blocked"),       # 16 per group
    ((1, 32, 5, 40), (32, 16, 1, 1), dict(groups=2), "blocked"),
    ((1, 2, 3, 3), (1, 2, 3, 3), dict(), "spatial"),                           # 1x1 output
    ((1, 1, 1, 1), (3, 1, 1, 1), dict(padding=(1, 0, 0, 2)), "spatial"),
]


@pytest.mark.parametrize("x_shape,w_shape,attrs,schedule", CASES)
def test_conv2d_float32(x_shape, w_shape, attrs, schedule):
    op = _check(x_shape, w_shape, **attrs)
    assert op.config["schedule"] == schedule


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32"])
@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 5, 7, 7), (16, 5, 3, 3), dict(padding=1)),
    ((1, 3, 9, 10), (48, 3, 3, 3), dict(padding=(0, 1), stride=2)),
    ((1, 4, 9, 9), (4, 1, 3, 3), dict(padding=1, stride=2, groups=4)),
])
def test_conv2d_integers_exact(dtype, x_shape, w_shape, attrs):
    _check(x_shape, w_shape, dtype=dtype, **attrs)


def test_conv2d_int8_extremes_accumulate_in_int32():
    x = np.full((1, 64, 3, 3), -128, np.int8)
    w = np.full((16, 64, 3, 3), -128, np.int8)
    op = cpu.conv2d(x.shape, w.shape, dtype="int8")
    assert op(x, w)[0, 0, 0, 0] == 64 * 9 * 128 * 128


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_conv2d_bias(dtype):
    _check((1, 6, 8, 8), (20, 6, 3, 3), dtype=dtype, bias=True, padding=1)
    _check((1, 6, 8, 8), (6, 1, 3, 3), dtype=dtype, bias=True, padding=1, groups=6)


@pytest.mark.parametrize("config", [{"ow_block": 4}, {"oc_block": 32, "ow_block": 7},
                                    {"oc_block": 8, "ow_block": 3}, {"pad_rows": 0},
                                    {"pad_rows": 1}, {"pad_rows": 4, "oc_block": 16}])
def test_conv2d_config_overrides(config):
    op = _check((1, 8, 9, 13), (40, 8, 3, 3), padding=1, config=config)
    assert all(op.config[k] == v for k, v in config.items())


@pytest.mark.parametrize("pad_rows", [0, 1, 2, 3])
def test_conv2d_padding_per_row_block(pad_rows):
    """The padded input computed per block of output rows inside the parallel loop (or
    whole, first): strides, dilation, a batch and a row count that pad_rows does not
    divide."""
    op = _check((2, 6, 17, 11), (32, 6, 3, 3), padding=(2, 1, 1, 0), stride=(2, 1),
                dilation=(2, 1), config={"pad_rows": pad_rows})
    assert op.config["pad_rows"] == pad_rows
    assert cpu.conv2d((1, 64, 16, 16), (64, 64, 3, 3), padding=1).config["pad_rows"] == 2
    assert cpu.conv2d((1, 64, 7, 7), (64, 64, 3, 3), padding=1).config["pad_rows"] == 0


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 8, 7, 7), (40, 8, 3, 3), dict(padding=1)),                      # blocked, K % 16
    ((1, 8, 7, 7), (32, 4, 3, 3), dict(padding=1, groups=2)),            # blocked, groups
    ((1, 8, 7, 7), (8, 1, 3, 3), dict(padding=1, groups=8)),             # spatial
])
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_conv2d_prepacked_weights(x_shape, w_shape, attrs, dtype):
    rng = np.random.default_rng(9)
    x, w = _data(x_shape, dtype, rng), _data(w_shape, dtype, rng)
    b = np.arange(w_shape[0]).astype(np.float32 if dtype == "float32" else np.int32)
    op = cpu.conv2d(x_shape, w_shape, dtype=dtype, bias=True, packed_weights=True, **attrs)
    wp = op.pack_weights(w)
    assert wp.shape == op.in_shapes[1]
    if op.config["schedule"] == "blocked":
        assert wp.shape[-1] == op.config["oc_block"] and wp.ndim == 5
    got = op(x, wp, b)
    want = conv_ref(x, w, op.attrs["stride"], op.attrs["padding"], op.attrs["dilation"],
                    op.attrs["groups"], b)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert cpu.conv2d(x_shape, w_shape, dtype=dtype, bias=True, **attrs).pack_weights is None


def test_conv2d_resnet_layer_schedule_and_result():
    op = _check((1, 64, 56, 56), (64, 64, 3, 3), padding=1)
    assert op.config == {"schedule": "blocked", "oc_block": 32, "ow_block": 8, "pad_rows": 2}
    assert op.compiled.num_parallel_loops >= 1
    text = print_ir(op.func)
    assert "allocate Acc: float32[1, 1, 1, 8, 32]" in text        # the register tile


def test_conv2d_schedule_records_replay_to_the_same_ir():
    op = cpu.conv2d((1, 8, 9, 9), (16, 8, 3, 3), padding=1)
    s = te.create_schedule(op.output)
    s.replay(op.records)
    f = lower(s, [*op.inputs, op.output], name=op.name)
    assert print_ir(f) == print_ir(op.func)


def test_conv2d_is_memoized():
    a = cpu.conv2d((1, 4, 5, 5), (8, 4, 3, 3), padding=1)
    assert cpu.conv2d((1, 4, 5, 5), (8, 4, 3, 3), padding=1) is a
    assert cpu.conv2d((1, 4, 5, 5), (8, 4, 3, 3), padding=0) is not a


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(x_shape=(1, 6, 5, 5), w_shape=(4, 2, 3, 3), groups=4), cpu.OpAttributeError,
     ["conv2d", "groups=4"]),
    (dict(x_shape=(1, 6, 5, 5), w_shape=(4, 4, 3, 3), groups=2), cpu.OpShapeError,
     ["conv2d", "weight shape"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 7, 7)), cpu.OpShapeError,
     ["conv2d", "larger than the padded input"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), stride=0), cpu.OpAttributeError,
     ["conv2d", "stride"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), padding=-1), cpu.OpAttributeError,
     ["conv2d", "padding"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), padding=(1, 2, 3)),
     cpu.OpAttributeError, ["conv2d", "padding"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), dilation=(1, 0)), cpu.OpAttributeError,
     ["conv2d", "dilation"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), dtype="float64"), cpu.OpDtypeError,
     ["conv2d", "float64"]),
    (dict(x_shape=(3, 5, 5), w_shape=(4, 3, 3, 3)), cpu.OpShapeError,
     ["conv2d", "input shape"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), config={"tile": 4}),
     cpu.OpAttributeError, ["conv2d", "'tile'"]),
    (dict(x_shape=(1, 3, 5, 5), w_shape=(4, 3, 3, 3), config={"ow_block": 0}),
     cpu.OpAttributeError, ["conv2d", "ow_block"]),
])
def test_conv2d_errors_name_the_operator_and_attribute(kwargs, exc, words):
    with pytest.raises(exc) as info:
        cpu.conv2d(**kwargs)
    for w in words:
        assert w in str(info.value)


def test_conv2d_run_checks_arrays():
    op = cpu.conv2d((1, 2, 4, 4), (3, 2, 3, 3), padding=1)
    x, w = np.zeros((1, 2, 4, 4), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(cpu.OpArgumentError, match="expected 2 input"):
        op(x)
    with pytest.raises(cpu.OpArgumentError, match="input 1 .'W'. is float64"):
        op(x, w.astype(np.float64))
    with pytest.raises(cpu.OpArgumentError, match="out="):
        op(x, w, out=np.zeros((1, 3, 4, 5), np.float32))
    y = op(np.asfortranarray(x + 1), w + 1)        # non-contiguous input: copied
    np.testing.assert_allclose(y, conv_ref(x + 1, w + 1, pads=(1, 1, 1, 1)), rtol=1e-6)
