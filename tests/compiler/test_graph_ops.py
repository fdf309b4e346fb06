"""Reference semantics of the window and indexing operators on random attributes
(hypothesis): convolutions (groups, strides, dilations, pads, auto_pad) and Pad against onnx's
ReferenceEvaluator; pooling (ceil_mode, count_include_pad, dilations), Slice and nearest
Resize against brute-force spec formulas written here, because the reference evaluator
departs from the spec (and from onnxruntime, which agrees with vdla) in corners of those:
pooling with ceil_mode or one-sided pads, a backward Slice ending before the first element,
align_corners / half_pixel_symmetric downsampling. The ONNX node tests cover
fixed cases; these explore the combinations."""

import itertools

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from onnx import helper

from compiler.frontend.onnx import from_onnx
from compiler.frontend.testing import assert_matches_onnx, make_model
from compiler.graph import optimize, reference
from compiler.graph.passes import PackedLayout

SETTINGS = settings(max_examples=30)


def model1(op, x_shape, attrs, inits=None, extra_inputs=(), opset=22):
    ins = ["x"] + list(extra_inputs)
    return make_model([helper.make_node(op, ins, ["y"], **attrs)],
                      [("x", "float32", x_shape)], [("y", "float32", None)], inits or {},
                      opset=opset)


@st.composite
def conv_case(draw):
    nsp = draw(st.sampled_from([1, 2]))
    g = draw(st.sampled_from([1, 2, 3]))
    c, o = g * draw(st.integers(1, 3)), g * draw(st.integers(1, 3))
    k = [draw(st.integers(1, 3)) for _ in range(nsp)]
    d = [draw(st.integers(1, 2)) for _ in range(nsp)]
    s = [draw(st.integers(1, 3)) for _ in range(nsp)]
    size = [draw(st.integers(max(1, (kk - 1) * dd + 1), 9)) for kk, dd in zip(k, d)]
    attrs = {"group": g, "strides": s, "dilations": d, "kernel_shape": k}
    auto = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, kk)) for kk in k] + \
                        [draw(st.integers(0, kk)) for kk in k]
    else:
        attrs["auto_pad"] = auto
    return (draw(st.integers(1, 2)), c, *size), o, attrs, draw(st.booleans())


@SETTINGS
@given(conv_case(), st.integers(0, 2**31 - 1))
def test_conv(case, seed):
    x_shape, o, attrs, bias = case
    rng = np.random.default_rng(seed)
    c, g = x_shape[1], attrs["group"]
    inits = {"w": rng.standard_normal((o, c // g, *attrs["kernel_shape"])).astype(np.float32)}
    if bias:
        inits["b"] = rng.standard_normal(o).astype(np.float32)
    m = model1("Conv", x_shape, attrs, inits, ["w"] + (["b"] if bias else []))
    layout = PackedLayout(1, 2) if len(x_shape) == 4 else None
    assert_matches_onnx(m, rtol=1e-4, atol=1e-5, layout=layout)


@SETTINGS
@given(conv_case(), st.integers(0, 2**31 - 1))
def test_conv_transpose(case, seed):
    x_shape, o, attrs, bias = case
    attrs["group"] = 1   # (the ONNX reference fails on groups; see test_onnx_import)
    if attrs.get("auto_pad") == "VALID":
        attrs.pop("auto_pad")
    rng = np.random.default_rng(seed)
    c = x_shape[1]
    s = attrs["strides"]
    attrs["output_padding"] = [int(rng.integers(0, st_)) for st_ in s]
    if "pads" in attrs:
        n = len(s)
        full = [s[i] * (x_shape[2 + i] - 1) + attrs["output_padding"][i]
                + (attrs["kernel_shape"][i] - 1) * attrs["dilations"][i] + 1 for i in range(n)]
        assume(all(full[i] - attrs["pads"][i] - attrs["pads"][n + i] >= 1 for i in range(n)))
    inits = {"w": rng.standard_normal((c, o, *attrs["kernel_shape"])).astype(np.float32)}
    m = model1("ConvTranspose", x_shape, attrs, inits, ["w"])
    assert_matches_onnx(m, rtol=1e-4, atol=1e-5)


@st.composite
def pool_case(draw):
    nsp = draw(st.sampled_from([1, 2, 3]))
    k = [draw(st.integers(1, 3)) for _ in range(nsp)]
    d = [draw(st.integers(1, 2)) for _ in range(nsp)]
    s = [draw(st.integers(1, 3)) for _ in range(nsp)]
    size = [draw(st.integers((kk - 1) * dd + 1, 7)) for kk, dd in zip(k, d)]
    pads = [draw(st.integers(0, kk - 1)) for kk in k] + [draw(st.integers(0, kk - 1))
                                                         for kk in k]
    attrs = {"kernel_shape": k, "strides": s, "dilations": d, "pads": pads,
             "ceil_mode": int(draw(st.booleans()))}
    return (1, 2, *size), attrs


def brute_force_pool(x, op, attrs):
    """One window at a time: positions o*s - pad_begin + k*d; the input counts, the explicit
    pads count for an average with count_include_pad, positions past the end pads (added by
    ceil_mode) never count (onnxruntime's and PyTorch's semantics)."""
    k, s, d, p = attrs["kernel_shape"], attrs["strides"], attrs["dilations"], attrs["pads"]
    n = len(k)
    out_sp = []
    for i in range(n):
        span = x.shape[2 + i] + p[i] + p[n + i] - d[i] * (k[i] - 1) - 1
        o = (-(-span // s[i]) if attrs["ceil_mode"] else span // s[i]) + 1
        if attrs["ceil_mode"] and (o - 1) * s[i] >= x.shape[2 + i] + p[i]:
            o -= 1
        out_sp.append(o)
    y = np.zeros(x.shape[:2] + tuple(out_sp), np.float64)
    for idx in itertools.product(*(range(o) for o in out_sp)):
        vals, count = [], 0
        for off in itertools.product(*(range(kk) for kk in k)):
            pos = [idx[i] * s[i] - p[i] + off[i] * d[i] for i in range(n)]
            inside = all(0 <= q < x.shape[2 + i] for i, q in enumerate(pos))
            in_pads = all(-p[i] <= q < x.shape[2 + i] + p[n + i] for i, q in enumerate(pos))
            if inside:
                vals.append(x[(slice(None), slice(None)) + tuple(pos)])
            count += inside or (in_pads and attrs.get("count_include_pad", 0))
        stack = np.stack(vals)
        y[(slice(None), slice(None)) + idx] = stack.max(0) if op == "MaxPool" else \
            stack.sum(0) / count
    return y.astype(x.dtype)


@SETTINGS
@given(pool_case(), st.sampled_from(["MaxPool", "AveragePool"]), st.booleans())
def test_pooling(case, op, include_pad):
    x_shape, attrs = case
    if op == "AveragePool":
        attrs["count_include_pad"] = int(include_pad)
    m = model1(op, x_shape, attrs)
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    g = from_onnx(m)
    graphs = [g, optimize(g, verify=True)]
    if len(x_shape) == 4:
        graphs.append(optimize(g, layout=PackedLayout(1, 2), verify=True))
    for graph in graphs:
        np.testing.assert_allclose(reference.run(graph, {"x": x})["y"],
                                   brute_force_pool(x, op, attrs), rtol=1e-5, atol=1e-6)


def spec_slice(x, starts, ends, axes, steps):
    """The Slice spec with Python ranges: negative starts/ends count from the end, then are
    clamped to [0, dim] (forward) or [0, dim-1] / [-1, dim-1] (backward), -1 meaning before
    the first element. (numpy slicing, which the ONNX reference evaluator uses, reads that
    -1 as the last element.)"""
    for s, e, a, t in zip(starts, ends, axes, steps):
        dim = x.shape[a]
        s, e = s + dim if s < 0 else s, e + dim if e < 0 else e
        if t > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        x = np.take(x, list(range(s, e, t)), axis=a)
    return x


@SETTINGS
@given(st.lists(st.tuples(st.integers(-8, 8), st.integers(-9, 9), st.sampled_from(
    [-3, -2, -1, 1, 2, 3])), min_size=1, max_size=3), st.permutations([0, 1, 2]))
def test_slice(spec, axes):
    x_shape = (5, 6, 7)
    starts, ends, steps = (np.array(v, np.int64) for v in zip(*spec))
    axes = np.array(axes[:len(spec)], np.int64)
    m = model1("Slice", x_shape, {}, {"s": starts, "e": ends, "a": axes, "t": steps},
               ["s", "e", "a", "t"], opset=13)
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    g = from_onnx(m)
    for graph in (g, optimize(g, verify=True)):
        np.testing.assert_array_equal(reference.run(graph, {"x": x})["y"],
                                      spec_slice(x, starts, ends, axes, steps))


@SETTINGS
@given(st.lists(st.integers(0, 3), min_size=6, max_size=6),
       st.sampled_from(["constant", "reflect", "edge", "wrap"]))
def test_pad(pads, mode):
    x_shape = (2, 4, 5)
    if mode == "reflect":
        pads = [min(p, d - 1) for p, d in zip(pads, x_shape * 2)]
    m = model1("Pad", x_shape, {"mode": mode}, {"p": np.array(pads, np.int64),
                                                "v": np.array(0.5, np.float32)},
               ["p", "v"], opset=19)
    assert_matches_onnx(m)


def spec_nearest(x, scales, coord, rounding):
    """Resize (nearest) element by element, from the spec's formulas: an output index i maps
    to x_original(i), rounded by nearest_mode and clamped to the input."""
    for ax, scale in enumerate(scales):
        n_in = x.shape[ax]
        n_out = int(np.floor(n_in * scale))
        idx = []
        for i in range(n_out):
            if coord == "half_pixel":
                xo = (i + 0.5) / scale - 0.5
            elif coord == "pytorch_half_pixel":
                xo = (i + 0.5) / scale - 0.5 if n_out > 1 else 0.0
            elif coord == "align_corners":
                xo = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            elif coord == "asymmetric":
                xo = i / scale
            else:   # half_pixel_symmetric
                adjustment = n_out / (n_in * scale)
                xo = n_in / 2 * (1 - adjustment) + (i + 0.5) / scale - 0.5
            lo, hi = np.floor(xo), np.ceil(xo)
            frac = xo - lo
            if rounding == "floor":
                j = lo
            elif rounding == "ceil":
                j = hi
            elif frac == 0.5:   # a tie: the mode says which way
                j = lo if rounding == "round_prefer_floor" else hi
            else:
                j = lo if frac < 0.5 else hi
            idx.append(int(min(max(j, 0), n_in - 1)))
        x = np.take(x, idx, axis=ax)
    return x


@SETTINGS
@given(st.lists(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 3.0]), min_size=2, max_size=2),
       st.sampled_from(["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                        "half_pixel_symmetric"]),
       st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]))
def test_resize_nearest(scales, coord, rounding):
    x_shape = (1, 2, 5, 7)
    assume(all(int(d * s) >= 1 for d, s in zip(x_shape[2:], scales)))
    sc = np.array([1, 1, *scales], np.float32)
    m = model1("Resize", x_shape, {"mode": "nearest", "coordinate_transformation_mode": coord,
                                   "nearest_mode": rounding},
               {"sc": sc}, ["", "sc"], opset=19)
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    g = from_onnx(m)
    for graph in (g, optimize(g, layout=PackedLayout(1, 2), verify=True)):
        np.testing.assert_array_equal(reference.run(graph, {"x": x})["y"],
                                      spec_nearest(x, [1, 1, *scales], coord, rounding))
