"""The partitioner: support predicates and their reasons, convex region merging (a graph where
naive merging would make a cycle; random DAGs), cutting into Region nodes that compute what
the graph computed, and the report (text and JSON)."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accel.isa.config import HardwareConfig
from compiler.graph import GraphBuilder, reference, verify
from compiler.graph.testing import random_inputs
from compiler.partition import (
    PartitionError,
    PartitionReport,
    cut,
    is_convex,
    merge_regions,
    partition,
    vdla_support,
)

SHAPE = (1, 16, 8, 8)


def i8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


def qconv(b, x, rng, name, residual=None, k=3, o=16, **attrs):
    w = b.constant(i8(rng, (o, x.shape[1], k, k)), f"{name}_w")
    attrs = {"pads": (k // 2,) * 4, "shift": 10, "relu": 1, **attrs}
    return b.node("QConv", [x, w, None, residual] if residual is not None else [x, w], attrs,
                  name=name)[0]


def int8_inputs(graph, seed=0):
    rng = np.random.default_rng(seed)
    return {v.name: i8(rng, v.shape) if v.dtype == "int8" else
            rng.uniform(-1, 1, v.shape).astype(v.dtype) for v in graph.inputs}


def assert_same(graph, parted, seed=0):
    feeds = int8_inputs(graph, seed)
    want, got = reference.run(graph, feeds), reference.run(parted, feeds)
    assert list(want) == list(got)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


# ---------------------------------------------------------------------- convexity
def test_naive_merging_would_make_a_cycle():
    """a -> b -> c and a -> c with a, c supported and b not: {a, c} is not convex, so a and
    c become two regions and the partitioned graph stays acyclic."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("cycle")
    x = b.input("x", SHAPE, "int8")
    a = qconv(b, x, rng, "a")
    mid = qconv(b, a, rng, "b", dilations=(2, 2), pads=(2, 2, 2, 2))   # unsupported
    c = qconv(b, mid, rng, "c", residual=a)
    g = b.build([c])
    p = partition(g, "vdla", min_cycles=0)
    assert [[n.name for n in r] for r in p.regions] == [["a"], ["c"]]
    assert p.report.placement("b").category == "attribute"
    assert "dilations=[2, 2]" in p.report.placement("b").reason
    assert not is_convex(g, [g.nodes[0], g.nodes[2]])
    assert [n.op for n in p.graph.nodes] == ["Region", "QConv", "Region"]
    verify(p.graph)
    assert_same(g, p.graph)


def test_diamond_keeps_the_region_convex():
    rng = np.random.default_rng(1)
    b = GraphBuilder("diamond")
    x = b.input("x", SHAPE, "int8")
    a = qconv(b, x, rng, "a")
    left = qconv(b, a, rng, "left")
    right = b.op("Transpose", a, name="right", perm=(0, 1, 3, 2))           # CPU
    d = b.op("QAdd", left, right, name="d", relu=1)
    g = b.build([d])
    regions = merge_regions(g, [n for n in g.nodes if n.name != "right"])
    assert [[n.name for n in r] for r in regions] == [["a", "left"], ["d"]]
    assert all(is_convex(g, r) for r in regions)
    parted, infos = cut(g, regions)
    verify(parted)
    assert [i.nodes for i in infos] == [["a", "left"], ["d"]]
    assert infos[0].outputs == ["a", "left"]          # both used outside the region
    assert_same(g, parted)


def test_a_chain_becomes_one_maximal_region():
    rng = np.random.default_rng(2)
    b = GraphBuilder("chain")
    x = b.input("x", SHAPE, "int8")
    c1 = qconv(b, x, rng, "c1")
    c2 = qconv(b, c1, rng, "c2", residual=x)
    s = b.op("QAdd", c2, c1, name="s", relu=1)
    r = b.op("Relu", s, name="r")
    p = b.op("MaxPool", r, name="pool", kernel_shape=(2, 2), strides=(2, 2))
    t = b.op("Transpose", p, name="t", perm=(0, 1, 3, 2))                # CPU
    c3 = qconv(b, t, rng, "c3", k=1)
    g = b.build([c3])
    part = partition(g, "vdla", min_cycles=0)
    assert [[n.name for n in r] for r in part.regions] == [["c1", "c2", "s", "r", "pool"],
                                                            ["c3"]]
    body = part.graph.nodes[0].attrs["body"]
    assert [v.name for v in body.inputs] == ["x"] and set(body.constants) == {"c1_w", "c2_w"}
    assert all(n.target == "vdla" for n in body.nodes)
    assert "c1_w" not in part.graph.constants       # constants move into the bodies
    assert_same(g, part.graph)


def _random_dag(seed: int, n: int):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"dag{seed}")
    vals = [b.input("x", (1, 16, 2, 2), "int8")]
    supported = set()
    for i in range(n):
        a, c = (vals[int(j)] for j in rng.integers(0, len(vals), 2))
        if rng.random() < 0.65:
            v = b.op("QAdd", a, c, name=f"n{i}")
            supported.add(f"n{i}")
        else:
            v = b.op("Transpose", a, name=f"n{i}", perm=(0, 1, 3, 2))
        vals.append(v)
    return b.build(vals[-3:]), supported


@given(seed=st.integers(0, 10_000), n=st.integers(2, 24))
def test_random_dags_give_convex_maximal_regions(seed, n):
    g, names = _random_dag(seed, n)
    supported = [m for m in g.nodes if m.name in names]
    regions = merge_regions(g, supported)
    assert sorted(m.name for r in regions for m in r) == sorted(names)
    assert all(is_convex(g, r) for r in regions)
    parted, _ = cut(g, regions)          # verifies: defined before use, i.e. acyclic
    verify(parted)
    # maximal along edges: merging two regions joined by an edge would make a cycle
    where = {m: k for k, r in enumerate(regions) for m in r}
    for m in supported:
        for v in m.inputs:
            p = g.producers.get(v.name)
            if p in where and where[p] != where[m]:
                a, b = where[p], where[m]
                merged = [r for k, r in enumerate(regions) if k not in (a, b)]
                merged.append(sorted(regions[a] + regions[b], key=list(g.nodes).index))
                with pytest.raises(PartitionError):
                    cut(g, merged)


def test_two_convex_regions_can_still_form_a_cycle():
    """{a1, a2} and {b1, b2} are each convex, but a1 -> b1 and b2 -> t -> a2 make the two
    region nodes a cycle; the merge decides on the contracted graph."""
    b = GraphBuilder("pair")
    x = b.input("x", SHAPE, "int8")
    a1 = b.op("QAdd", x, x, name="a1")
    b2 = b.op("QAdd", x, x, name="b2")
    b1 = b.op("QAdd", a1, b2, name="b1")
    t = b.op("Transpose", b2, name="t", perm=(0, 1, 3, 2))
    a2 = b.op("QAdd", a1, t, name="a2")
    g = b.build([b1, a2])
    n = {m.name: m for m in g.nodes}
    pair = [[n["a1"], n["a2"]], [n["b2"], n["b1"]]]
    assert all(is_convex(g, r) for r in pair)
    with pytest.raises(PartitionError, match="cycle"):
        cut(g, pair)
    regions = merge_regions(g, [n[k] for k in ("a1", "b2", "b1", "a2")])
    assert [[m.name for m in r] for r in regions] == [["a1", "b2", "b1"], ["a2"]]
    parted, _ = cut(g, regions)
    verify(parted)
    assert_same(g, parted)


# ---------------------------------------------------------------------- reasons
def test_report_reasons_for_every_category():
    rng = np.random.default_rng(3)
    b = GraphBuilder("reasons")
    x = b.input("x", SHAPE, "int8")
    wx = b.input("w_runtime", (16, 16, 3, 3), "int8")
    big = qconv(b, x, rng, "big")
    wg = b.constant(i8(rng, (16, 8, 3, 3)), "wg")
    grouped = b.op("QConv", big, wg, name="grouped", pads=(1, 1, 1, 1), group=2, shift=9)
    runtime_w = b.op("QConv", grouped, wx, name="runtime_w", pads=(1, 1, 1, 1), shift=9)
    flat = b.op("Flatten", runtime_w, name="flat")
    relu2d = b.op("Relu", flat, name="relu2d")
    tiny_in = b.op("Reshape", relu2d, name="tiny_in", shape=(1, 16, 8, 8))
    wt = b.constant(i8(rng, (16, 16, 1, 1)), "wt")
    pool = b.op("MaxPool", tiny_in, name="pool4", kernel_shape=(4, 4), strides=(4, 4))
    tiny = b.op("QConv", pool, wt, name="tiny", shift=7)
    f = b.op("Cast", tiny, name="to_float", to="float32")
    wf = b.constant(rng.standard_normal((8, 16, 1, 1)).astype(np.float32), "wf")
    conv_f = b.op("Conv", f, wf, name="conv_float")
    sm = b.op("Softmax", b.op("Flatten", conv_f, name="flat2"), name="softmax")
    g = b.build([sm])
    rep = partition(g, "vdla").report
    cat = {p.node: (p.category, p.reason) for p in rep.nodes}
    assert cat["big"] == ("offloaded", "") and rep.placement("big").region == 0
    assert cat["grouped"][0] == "attribute" and "group=2" in cat["grouped"][1]
    assert cat["runtime_w"][0] == "constant" and "w_runtime" in cat["runtime_w"][1]
    assert cat["relu2d"][0] == "shape" and "NCHW" in cat["relu2d"][1]
    assert cat["flat"][0] == "op" and "Flatten" in cat["flat"][1]
    assert cat["conv_float"] == ("dtype", "dtype float32 not supported by the accelerator "
                                          "(int8 only; quantize first)")
    assert cat["softmax"][0] == "op"
    # pool4 + tiny: 1x16x2x2 outputs x 16 inputs = 1,024 MACs = 4 GEMM cycles < 256
    for name in ("pool4", "tiny"):
        assert cat[name][0] == "small", cat[name]
    assert "1,024 MACs = 4 GEMM cycles" in cat["tiny"][1]
    text = rep.format()
    assert "dtype float32 not supported by the accelerator (int8 only; quantize first)" in text
    doc = json.loads(json.dumps(rep.to_dict()))
    assert PartitionReport.from_dict(doc).to_dict() == rep.to_dict()
    assert doc["summary"]["vdla_nodes"] == 1 and doc["summary"]["regions"] == 1


def test_support_depends_on_the_config():
    rng = np.random.default_rng(4)
    b = GraphBuilder("cfg")
    x = b.input("x", SHAPE, "int8")
    g = b.build([qconv(b, x, rng, "c")])
    node = g.nodes[0]
    assert vdla_support(g, node, HardwareConfig()).ok
    wide = vdla_support(g, node, HardwareConfig(log_inp_width=4, name="wide"))
    assert (wide.category, "16-bit inputs" in wide.detail) == ("dtype", True)
    acc16 = vdla_support(g, node, HardwareConfig(log_acc_width=4, log_acc_buff_size=16,
                                                 name="acc16"))
    assert acc16.category == "attribute" and "LOG_ACC_WIDTH=5" in acc16.detail
    # the operator library's trial build decides what fits: 1 KiB of weights holds 4 of the
    # 9 weight tiles of a 3x3 kernel
    s = vdla_support(g, node, HardwareConfig(log_wgt_buff_size=10, name="small"))
    assert s.category == "shape" and "no tiling" in s.detail and "small" in s.detail


def test_target_cpu_puts_everything_on_the_cpu():
    rng = np.random.default_rng(5)
    b = GraphBuilder("cpu")
    x = b.input("x", SHAPE, "int8")
    g = b.build([qconv(b, x, rng, "c")])
    p = partition(g, "cpu")
    assert [n.target for n in p.graph.nodes] == ["cpu"] and not p.regions
    assert p.report.placement("c").category == "target"
    with pytest.raises(PartitionError, match="unknown target"):
        partition(g, "gpu")


def test_float_graphs_stay_on_the_cpu_with_a_reason():
    b = GraphBuilder("float")
    x = b.input("x", (1, 3, 8, 8), "float32")
    w = b.constant(np.ones((4, 3, 3, 3), np.float32), "w")
    y = b.op("Relu", b.op("Conv", x, w, name="conv"), name="relu")
    g = b.build([y])
    p = partition(g, "vdla")
    assert not p.regions
    assert {n.category for n in p.report.nodes} == {"dtype"}
    assert_same(g, p.graph)
    feeds = random_inputs(g)
    np.testing.assert_array_equal(reference.run(p.graph, feeds)["relu"],
                                  reference.run(g, feeds)["relu"])
