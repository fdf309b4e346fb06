"""The accelerator path end to end: an int8 network (QConv with residual and MULSHR, QAdd,
Relu, MaxPool, QDense) partitioned for the VDLA, compiled into a module of program bundles,
run on the simulator (and one small region on the RTL), bit-exact against the graph
reference executor and an independent numpy integer reference (``test_vdla_reference``)."""

import json

import numpy as np
import pytest
from test_vdla_reference import conv2d_ref, dense_ref, max_pool_ref, sat8

import compiler.partition.support as support
from compiler.graph import GraphBuilder, reference
from runtime.cli import main
from runtime.module import compile_model, load_module


def i8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


def qnet(seed: int = 0):
    """The network and its parameters."""
    rng = np.random.default_rng(seed)
    p = {"w1": i8(rng, (16, 16, 3, 3)), "w2": i8(rng, (16, 16, 3, 3)),
         "w3": i8(rng, (32, 16, 3, 3)), "m3": rng.integers(1, 1 << 10, 32).astype(np.int32),
         "wd": i8(rng, (64, 32 * 6 * 6))}
    b = GraphBuilder("qnet")
    x = b.input("x", (1, 16, 12, 12), "int8")
    w = {k: b.constant(v, k) for k, v in p.items()}
    c1 = b.op("QConv", x, w["w1"], name="c1", pads=(1, 1, 1, 1), shift=10, relu=1)
    c2 = b.node("QConv", [c1, w["w2"], None, x], {"pads": (1, 1, 1, 1), "shift": 10,
                                                   "relu": 1}, name="c2")[0]
    s = b.op("QAdd", c2, c1, name="add", relu=1)
    pool = b.op("MaxPool", s, name="pool", kernel_shape=(2, 2), strides=(2, 2))
    c3 = b.op("QConv", pool, w["w3"], w["m3"], name="c3", pads=(1, 1, 1, 1), shift=18)
    r = b.op("Relu", c3, name="relu")
    f = b.op("Flatten", r, name="flat")
    d = b.op("QDense", f, w["wd"], name="fc", shift=12)
    sm = b.op("Softmax", b.op("Cast", d, name="to_float", to="float32"), name="softmax",
              axis=1)
    return b.build([d, sm]), p


def numpy_reference(x, p):
    c1 = conv2d_ref(x, p["w1"], (1, 1), (1,) * 4, shift=10, relu=True)
    c2 = conv2d_ref(c1, p["w2"], (1, 1), (1,) * 4, shift=10, residual=x, relu=True)
    s = sat8(np.maximum(c2.astype(np.int64) + c1, 0))
    pool = max_pool_ref(s, (2, 2), (2, 2), (0,) * 4)
    c3 = conv2d_ref(pool, p["w3"], (1, 1), (1,) * 4, shift=18, multiplier=p["m3"])
    r = np.maximum(c3, 0)
    return dense_ref(r.reshape(1, -1), p["wd"], shift=12)


@pytest.fixture(scope="module")
def compiled():
    graph, params = qnet()
    return graph, params, compile_model(graph, target="vdla")


def test_partition_of_the_int8_network(compiled):
    graph, _, mod = compiled
    rep = mod.report
    assert [r.nodes for r in rep.regions] == [["c1", "c2", "add", "pool", "c3", "relu"],
                                              ["fc"]]
    assert [n.op for n in mod.graph.nodes] == ["Region", "Flatten", "Region", "Cast",
                                               "Softmax"]
    assert rep.placement("to_float").category == "op"
    assert sorted(mod.programs) == ["add", "c1", "c2", "c3", "fc", "pool", "relu"]
    assert mod.programs["c1"].op == "conv2d" and mod.programs["fc"].op == "dense"


@pytest.mark.parametrize("backend", ["sim", "cpu"])
def test_int8_network_is_bit_exact(compiled, backend):
    graph, params, mod = compiled
    rng = np.random.default_rng(1)
    x = i8(rng, (1, 16, 12, 12))
    out, prof = mod.executor(backend).run_profiled({"x": x})
    want = numpy_reference(x, params)
    np.testing.assert_array_equal(out["fc"], want)
    ref = reference.run(graph, {"x": x})
    np.testing.assert_array_equal(out["fc"], ref["fc"])
    np.testing.assert_allclose(out["softmax"], ref["softmax"], rtol=1e-6, atol=1e-7)
    acc = [lp for lp in prof.layers if lp.device == "vdla"]
    if backend == "sim":
        assert len(acc) == 7 and all(lp.cycles > 0 for lp in acc)
        conv = next(lp for lp in acc if lp.node == "c1")
        assert conv.macs == 16 * 12 * 12 * 16 * 9 and 0 < conv.gemm_utilization <= 1
        regions = prof.to_dict()["regions"]
        assert set(regions) == {"0", "1"} and regions["0"]["layers"] == 6
        assert 0 < regions["0"]["gemm_utilization"] <= 1
        assert "region 0: 6 layers" in prof.format()
        assert prof.total_cycles == sum(lp.cycles for lp in acc)
        assert "cycles" in prof.format()
    else:
        assert not acc and prof.total_cycles is None
        assert {lp.region for lp in prof.layers} == {0, 1, None}


def test_stored_bundles_run_without_the_compiler(compiled, tmp_path, monkeypatch):
    graph, params, mod = compiled
    path = tmp_path / "qnet.vdla"
    mod.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qnet.vdla"]   # nothing left over

    def no_compiler(*a, **k):
        raise AssertionError("a loaded module must run its stored bundles")

    monkeypatch.setattr(support, "build_vdla_op", no_compiler)
    loaded = load_module(path)
    x = i8(np.random.default_rng(2), (1, 16, 12, 12))
    out = loaded.executor("sim").run({"x": x})
    np.testing.assert_array_equal(out["fc"], numpy_reference(x, params))
    assert loaded.programs["c3"].bundle.to_bytes() == mod.programs["c3"].bundle.to_bytes()


def test_first_layer_runs_im2col():
    """3 input channels (fewer than BLOCK_IN): the program reads im2col patches, which the
    activation recipe builds on the host."""
    rng = np.random.default_rng(3)
    w = i8(rng, (16, 3, 3, 3))
    b = GraphBuilder("first")
    x = b.input("x", (1, 3, 32, 32), "int8")
    y = b.op("QConv", x, b.constant(w, "w"), name="conv1", pads=(1, 1, 1, 1),
             strides=(2, 2), shift=8, relu=1)
    mod = compile_model(b.build([y]), target="vdla")
    (recipe,) = mod.programs["conv1"].inputs
    assert recipe.im2col == {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1, 1, 1]}
    xin = i8(rng, (1, 3, 32, 32))
    (got,) = load_module(mod.to_bytes()).executor("sim").run({"x": xin}).values()
    np.testing.assert_array_equal(got, conv2d_ref(xin, w, (2, 2), (1,) * 4, shift=8,
                                                  relu=True))


def test_rtl_backend_matches_the_simulator():
    rng = np.random.default_rng(4)
    w = i8(rng, (16, 16, 3, 3))
    b = GraphBuilder("small")
    x = b.input("x", (1, 16, 8, 8), "int8")
    y = b.op("QConv", x, b.constant(w, "w"), name="conv", pads=(1, 1, 1, 1), shift=9, relu=1)
    mod = compile_model(b.build([y]), target="vdla")
    xin = i8(rng, (1, 16, 8, 8))
    sim, sim_prof = mod.executor("sim").run_profiled({"x": xin})
    rtl, rtl_prof = mod.executor("rtl").run_profiled({"x": xin})
    np.testing.assert_array_equal(rtl["conv"], sim["conv"])
    np.testing.assert_array_equal(sim["conv"], conv2d_ref(xin, w, (1, 1), (1,) * 4, shift=9,
                                                          relu=True))
    assert rtl_prof.total_cycles == sim_prof.total_cycles > 0


def test_cli_runs_an_accelerator_module(compiled, tmp_path, capsys):
    graph, params, mod = compiled
    path = tmp_path / "qnet.vdla"
    mod.save(path)
    x = i8(np.random.default_rng(5), (1, 16, 12, 12))
    np.save(tmp_path / "x.npy", x)
    code = main(["run", str(path), "--input", f"x={tmp_path / 'x.npy'}", "--profile",
                 "--trace", str(tmp_path / "trace.json"), "--output", str(tmp_path / "y.npz"),
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["cycles"] > 0 and doc["backend"] == "sim" and doc["wall_seconds"] > 0
    assert set(doc["outputs"]) == {"fc", "softmax"}
    want = numpy_reference(x, params)
    assert doc["top1"] == int(np.argmax(want))
    with np.load(tmp_path / "y.npz") as y:
        np.testing.assert_array_equal(y["fc"], want)
    assert "GEMM" in out or "cycles" in out
    trace = json.loads((tmp_path / "trace.json").read_text())
    tracks = {e["tid"] for e in trace["traceEvents"] if e["ph"] == "X"}
    assert tracks == {1, 2}
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [len(r["programs"]) for r in info["regions"]] == [6, 1]
    assert info["target"] == "vdla"


@pytest.mark.parametrize("knobs", [{}, {"log_batch": 1, "log_block_in": 3, "log_block_out": 4,
                                        "name": "b2x8x16"}])
def test_batch_and_other_geometries_are_bit_exact(knobs):
    """Batch 3 (not a multiple of BATCH), 24 channels (not a multiple of the blocks), on the
    default 1x16x16 core and on a 2x8x16 one: packing pads and crops right."""
    from accel.isa.config import HardwareConfig

    rng = np.random.default_rng(6)
    b = GraphBuilder("batch")
    x = b.input("x", (3, 24, 10, 10), "int8")
    w1 = b.constant(i8(rng, (24, 24, 3, 3)), "w1")
    c1 = b.op("QConv", x, w1, name="c1", pads=(1, 1, 1, 1), shift=10, relu=1)
    s = b.op("QAdd", c1, x, name="s")
    pool = b.op("MaxPool", s, name="pool", kernel_shape=(3, 3), strides=(2, 2),
                pads=(1, 1, 1, 1))
    f = b.op("Flatten", pool, name="flat")
    d = b.op("QDense", f, b.constant(i8(rng, (40, 24 * 25)), "wd"), name="fc", shift=11,
             relu=1)
    graph = b.build([d])
    cfg = HardwareConfig(**knobs)
    mod = compile_model(graph, target="vdla", config=cfg, min_cycles=0)
    assert [r.nodes for r in mod.report.regions] == [["c1", "s", "pool"], ["fc"]]
    xin = i8(rng, (3, 24, 10, 10))
    got = load_module(mod.to_bytes()).executor("sim").run({"x": xin})["fc"]
    np.testing.assert_array_equal(got, reference.run(graph, {"x": xin})["fc"])
