"""ResNet end to end on the accelerator (examples/resnet18.py).

A small ResNet (two stages of one basic block each: an identity shortcut, then a strided
projection shortcut) quantized to int8: the accelerator's outputs equal the quantized graph's
numpy reference bit for bit, every node but the float Quantize/Dequantize boundary runs on the
accelerator (global average pooling and the classifier included), the RTL gives the same outputs
and the same cycles per layer as the simulator, and the int8 logits stay close to the float
model's. The example script's ``main`` runs on small configurations; the full 224x224
ResNet-18 (cycles within 1.15x of the roofline, cosine >= 0.99) is in the slow tier.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.models import resnet
from compiler.frontend.onnx import from_onnx
from compiler.graph import optimize, reference
from compiler.quantize import quantize
from runtime.module import compile_model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resnet18.py"
SMALL = {"blocks": (1, 1), "width": 16, "image": 32, "classes": 10}


def _load_example():
    spec = importlib.util.spec_from_file_location("vdla_examples_resnet18", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()


def _compile(kwargs: dict, seed: int = 0):
    model = resnet(seed=seed, **kwargs)
    image = kwargs["image"]
    calib = example.random_inputs(4, (3, image, image), seed, 1)
    float_graph = from_onnx(model)
    q = quantize(optimize(from_onnx(model), fuse=False), calib)
    mod = compile_model(q, min_cycles=0)
    xs = example.random_inputs(3, (1, 3, image, image), seed, 2)
    return {"float": float_graph, "q": q, "mod": mod, "xs": xs}


@pytest.fixture(scope="module")
def small():
    return _compile(SMALL)


def test_small_resnet_has_both_shortcuts(small):
    """The fused residual convolutions: a 3x3 one adding the block input (identity) and the
    1x1 stride-2 projection adding the main branch."""
    q = small["q"]
    producer = {v.name: n for n in q.nodes for v in n.outputs}
    residual = {n.attrs["kernel_shape"]: producer[n.inputs[3].name].op
                for n in q.nodes if n.op == "QConv" and n.inputs[3] is not None}
    assert residual == {(3, 3): "MaxPool", (1, 1): "QConv"}, residual


def test_simulator_equals_quantized_reference_bit_exact(small):
    for x in small["xs"]:
        # y = Dequantize(QDense(...)): equal floats mean equal int8 results
        ref = reference.run(small["q"], [x])
        sim = small["mod"].run([x], backend="sim")
        np.testing.assert_array_equal(sim["y"], ref["y"])


def test_everything_but_the_boundary_on_the_accelerator(small):
    mod, q = small["mod"], small["q"]
    placed = mod.report.nodes
    assert sorted(p.op for p in placed if p.target != "vdla") == ["Dequantize", "Quantize"]
    on_vdla = {p.op for p in placed if p.target == "vdla"}
    assert on_vdla == {"QConv", "MaxPool", "QGlobalAveragePool", "QDense"}, on_vdla
    assert mod.report.summary()["regions"] == 1
    # the classifier's bias is an int32 vector in the accelerator's program, not a CPU add
    fc = next(n for n in q.nodes if n.op == "QDense")
    assert q.const(fc.inputs[3]).dtype == np.int32 and q.const(fc.inputs[3]).shape == (10,)
    assert {p.op for p in mod.programs.values()} >= {"global_avg_pool2d", "dense"}


def _same_on_rtl(net):
    mod = net["mod"]
    sim_ex, rtl_ex = mod.executor("sim"), mod.executor("rtl")
    for x in net["xs"][:2]:
        sim, sim_prof = sim_ex.run_profiled([x])
        rtl, rtl_prof = rtl_ex.run_profiled([x])
        np.testing.assert_array_equal(rtl["y"], sim["y"])
        cycles = [(lp.node, lp.cycles) for lp in sim_prof.layers]
        assert [(lp.node, lp.cycles) for lp in rtl_prof.layers] == cycles
        assert sum(c for _, c in cycles if c is not None) == sim_prof.total_cycles > 0


def test_rtl_equals_simulator_outputs_and_cycles(small):
    _same_on_rtl(small)


@pytest.mark.slow
def test_rtl_equals_simulator_four_stages():
    _same_on_rtl(_compile({"blocks": (1, 1, 1, 1), "width": 32, "image": 64,
                           "classes": 100}))


def test_int8_close_to_float(small):
    for x in small["xs"]:
        f = reference.run(small["float"], [x])["y"]
        q = small["mod"].run([x], backend="sim")["y"]
        assert example.cosine(q, f) >= 0.99


def _main_json(capsys, argv):
    code = example.main(argv + ["--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), out, err


def test_main_small_network_misses_the_roofline_goal(capsys):
    """A tiny network is dominated by DMA latency and pipeline fill: it misses the 1.15 goal,
    meets the others, and the exit status says so."""
    code, s, out, err = _main_json(capsys, ["--image", "32", "--width", "16", "--blocks", "1,1",
                                            "--classes", "10", "--inputs", "2"])
    assert code == 1 and s["failed_goals"] == ["roofline_ratio"], s["goals"]
    assert s["roofline_ratio"] > example.RATIO_GOAL and s["cosine_min"] >= 0.99
    assert len(s["cosines"]) == s["images"] == 2 and 0 <= s["top1_agreement"] <= 1
    assert s["cpu_nodes"] == ["x_quantize", "y_dequantize"] and s["goals"]["offload"]["met"]
    assert [r["node"] for r in s["layers"]] == s["vdla_nodes"]
    for r in s["layers"]:
        assert r["cycles"] >= r["bound"] > 0 and r["limit"] in ("compute", "memory")
        assert r["dram_bytes_read"] + r["dram_bytes_written"] >= r["operand_bytes"] * 0.9
    assert s["total_cycles"] == sum(r["cycles"] for r in s["layers"])
    assert s["roofline_cycles"] == pytest.approx(sum(r["bound"] for r in s["layers"]))
    assert s["macs"] == s["partition"]["total_macs"]
    assert "compiler.frontend.models.resnet" in s["model"]
    assert "cycles / roofline" in out and "goals NOT met: roofline_ratio" in out
    assert "input 2/2" in err


def test_main_resnet18_at_32x32_meets_the_goals(capsys):
    code, s, out, _ = _main_json(capsys, ["--image", "32", "--inputs", "1", "--calib", "2",
                                          "--builder", "onnx"])
    assert code == 0 and s["goals_met"] and not s["failed_goals"], s["goals"]
    assert s["blocks"] == [2, 2, 2, 2] and s["width"] == 64 and len(s["layers"]) == 23
    assert "all goals met" in out


def test_main_torchvision_builder_needs_torchvision(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)   # `import torchvision` fails
    with pytest.raises(SystemExit) as e:
        example.main(["--builder", "torchvision", "--image", "32"])
    assert e.value.code == 2
    assert "needs torch and torchvision" in capsys.readouterr().err
    _, how = example.build_model(image=32, width=16, blocks=(1, 1), classes=10)
    assert "not a standard ResNet-18" in how


@pytest.mark.slow
def test_resnet18_224_meets_the_goals_and_rtl_agrees():
    """The issue's goal: ResNet-18 at 224x224 within 1.15x of the roofline, cosine >= 0.99;
    and the RTL runs the whole network with the simulator's outputs and cycles per layer."""
    res = example.run(inputs=2)
    s = res["summary"]
    assert s["roofline_ratio"] <= example.RATIO_GOAL, s["roofline_ratio"]
    assert s["cosine_min"] >= example.COSINE_GOAL, s["cosines"]
    assert s["cpu_nodes"] == ["x_quantize", "y_dequantize"]
    assert s["goals_met"]
    _same_on_rtl({"mod": res["module"],
                  "xs": example.random_inputs(1, (1, 3, 224, 224), 0, 2)})
