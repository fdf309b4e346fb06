"""``vdla compile`` / ``vdla run`` / ``vdla info`` called in-process through ``main``: the
happy path with its JSON, and a clear ``vdla: error: ...`` with exit status 2 for each
malformed input (truncated ONNX, unknown operators, a dynamic input dimension, a wrong input
shape, a corrupted or truncated module, a module of another version)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend.testing import make_model, onnx_reference
from runtime.cli import main

X_SHAPE = (1, 3, 8, 8)


def cnn(batch=1) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1)]
    inits = {"w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
             "b": rng.standard_normal(8).astype(np.float32),
             "fc_w": rng.standard_normal((5, 8)).astype(np.float32),
             "fc_b": rng.standard_normal(5).astype(np.float32)}
    return make_model(nodes, [("x", "float32", (batch, 3, 8, 8))],
                      [("y", "float32", (batch, 5))], inits)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def compiled(tmp_path, capsys):
    src = tmp_path / "cnn.onnx"
    onnx.save(cnn(), src)
    x = np.random.default_rng(1).uniform(-1, 1, X_SHAPE).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run(capsys, "compile", src, "--target", "cpu", "--json")
    assert code == 0, err
    return tmp_path, src, tmp_path / "cnn.vdla", x, out, err


# ---------------------------------------------------------------------- happy path
def test_compile_run_info(compiled, capsys):
    tmp, src, mod, x, out, err = compiled
    assert mod.exists()                                  # default output: MODEL.vdla
    assert "vdla compile: [1/4] Conv_0 (FusedConv): cpu llvm:conv2d\n" in err
    assert "partition for target cpu" in out and "wrote" in out
    doc = last_json(out)
    assert doc["output"] == str(mod) and doc["target"] == "cpu"
    assert doc["summary"]["cpu_nodes"] == 4          # conv+relu fused
    code, out, err = run(capsys, "run", mod, "--input", tmp / "x.npy", "--json",
                         "--output", tmp / "y.npy", "--profile", "--repeat", "2")
    assert code == 0, err
    doc = last_json(out)
    y = np.load(tmp / "y.npy")
    want = onnx_reference(cnn(), {"x": x})["y"]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert doc["output"] == str(tmp / "y.npy") and doc["top1"] == int(np.argmax(want))
    assert doc["cycles"] is None and doc["wall_seconds"] > 0 and doc["runs"] == 2
    assert doc["profile"]["layers"][0]["kernel"] == "llvm:conv2d"
    assert "top-5" in out and "llvm:conv2d" in out
    code, out, _ = run(capsys, "info", mod)
    assert code == 0
    assert "target        cpu" in out and "'x': float32[1, 3, 8, 8]" in out
    code, out, _ = run(capsys, "info", mod, "--json")
    info = last_json(out)
    assert info["inputs"] == [{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32"}]
    assert info["cpu_kernel_kinds"]["llvm"] >= 3


def test_compile_for_vdla_reports_why_float_stays_on_the_cpu(compiled, capsys):
    tmp, src, _, x, _, _ = compiled
    out_path = tmp / "v.vdla"
    report = tmp / "report.json"
    code, out, err = run(capsys, "compile", src, "-o", out_path, "--report", report, "-q")
    assert code == 0 and err == ""
    assert "dtype float32 not supported by the accelerator (int8 only; quantize first)" in out
    doc = json.loads(report.read_text())
    why = {n["op"]: n["category"] for n in doc["nodes"]}
    assert why == {"FusedConv": "dtype", "GlobalAveragePool": "dtype", "Flatten": "op",
                   "Gemm": "dtype"}
    code, out, _ = run(capsys, "run", out_path, "--input", f"x={tmp / 'x.npy'}", "--backend",
                       "rtl", "--json")
    assert code == 0 and last_json(out)["cycles"] is None   # nothing ran on the accelerator


def test_npz_and_named_inputs(tmp_path, capsys):
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    m = make_model(nodes, [("a", "float32", (2, 3)), ("b", "float32", (2, 3))],
                   [("y", "float32", (2, 3))])
    onnx.save(m, tmp_path / "add.onnx")
    assert run(capsys, "compile", tmp_path / "add.onnx", "-o", tmp_path / "add.vdla",
               "-q")[0] == 0
    a = np.arange(6, dtype=np.float32).reshape(2, 3) - 3
    b = np.ones((2, 3), np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    np.savez(tmp_path / "ab.npz", a=a, b=b)
    for args in (["--input", f"a={tmp_path / 'a.npy'}", "--input", f"b={tmp_path / 'b.npy'}"],
                 ["--input", tmp_path / "ab.npz"]):
        code, out, err = run(capsys, "run", tmp_path / "add.vdla", *args, "--output",
                             tmp_path / "y.npy")
        assert code == 0, err
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.maximum(a + b, 0))
    code, _, err = run(capsys, "run", tmp_path / "add.vdla", "--input", tmp_path / "a.npy")
    assert code == 2 and "the module has 2 inputs (a, b)" in err


# ---------------------------------------------------------------------- malformed inputs
def test_truncated_onnx(tmp_path, capsys):
    data = cnn().SerializeToString()
    (tmp_path / "t.onnx").write_bytes(data[:len(data) // 2])
    code, out, err = run(capsys, "compile", tmp_path / "t.onnx")
    assert code == 2 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("vdla: error: cannot parse") and "truncated or corrupted" in last
    assert "Traceback" not in err
    assert not (tmp_path / "t.vdla").exists()


def test_unknown_operators_are_listed_together(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Celu2", ["r"], ["c"], name="first_bad"),
             helper.make_node("Frobnicate", ["c"], ["y"], name="second_bad")]
    m = make_model(nodes, [("x", "float32", (1, 4))], [("y", "float32", (1, 4))])
    onnx.save(m, tmp_path / "u.onnx")
    code, _, err = run(capsys, "compile", tmp_path / "u.onnx")
    assert code == 2
    assert "2 unsupported feature(s)" in err
    assert "Celu2 'first_bad' (opset 13): operator not supported" in err
    assert "Frobnicate 'second_bad' (opset 13)" in err


def test_dynamic_input_dimension(tmp_path, capsys):
    m = cnn()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(m, tmp_path / "d.onnx")
    code, _, err = run(capsys, "compile", tmp_path / "d.onnx", "--target", "cpu")
    assert code == 2
    assert "'x': shape ('N', 3, 8, 8), dimension(s) 0 ('N') not fixed" in err
    assert "--input-shape x:1,3,8,8" in err
    code, _, err = run(capsys, "compile", tmp_path / "d.onnx", "--target", "cpu", "-q",
                       "--input-shape", "x:2,3,8,8")
    assert code == 0, err
    code, _, err = run(capsys, "compile", tmp_path / "d.onnx", "--input-shape", "x=2x3")
    assert code == 2 and "expected NAME:D1,D2,..." in err


def test_wrong_input_shape_at_run_time(compiled, capsys):
    tmp, _, mod, _, _, _ = compiled
    np.save(tmp / "big.npy", np.zeros((1, 3, 16, 16), np.float32))
    code, out, err = run(capsys, "run", mod, "--input", tmp / "big.npy")
    assert code == 2 and out == ""
    assert ("vdla: error: input 'x' has shape (1, 3, 16, 16), but the module was compiled "
            "for (1, 3, 8, 8)") in err
    np.save(tmp / "f64.npy", np.zeros(X_SHAPE))
    code, _, err = run(capsys, "run", mod, "--input", tmp / "f64.npy")
    assert code == 2 and "input 'x' has dtype float64, expected float32" in err
    code, _, err = run(capsys, "run", mod)
    assert code == 2 and "--input" in err
    code, _, err = run(capsys, "run", mod, "--input", tmp / "missing.npy")
    assert code == 2 and "does not exist" in err
    (tmp / "junk.npy").write_bytes(b"not numpy")
    code, _, err = run(capsys, "run", mod, "--input", tmp / "junk.npy")
    assert code == 2 and "cannot read" in err


def test_broken_module_files(compiled, capsys):
    tmp, _, mod, _, _, _ = compiled
    data = mod.read_bytes()
    (tmp / "trunc.vdla").write_bytes(data[:len(data) // 3])
    code, _, err = run(capsys, "run", tmp / "trunc.vdla", "--input", tmp / "x.npy")
    assert code == 2 and "truncated or corrupted" in err and "vdla compile" in err
    code, _, err = run(capsys, "info", tmp / "trunc.vdla")
    assert code == 2 and "truncated or corrupted" in err
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = next(i for i in zf.infolist() if i.filename.startswith("constants/"))
    bad = bytearray(data)
    bad[info.header_offset + 30 + len(info.filename) + len(info.extra) + 90] ^= 0x55
    (tmp / "bad.vdla").write_bytes(bytes(bad))
    code, _, err = run(capsys, "run", tmp / "bad.vdla", "--input", tmp / "x.npy")
    assert code == 2 and "is corrupted" in err
    code, _, err = run(capsys, "info", tmp / "nothing.vdla")
    assert code == 2 and "does not exist" in err


def test_module_of_another_version(compiled, capsys):
    tmp, _, mod, _, _, _ = compiled
    src = zipfile.ZipFile(mod)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "manifest.json":
                doc = json.loads(body)
                doc["vdla_version"] = "9.9.9"
                body = json.dumps(doc).encode()
            dst.writestr(info, body)
    (tmp / "old.vdla").write_bytes(out.getvalue())
    code, _, err = run(capsys, "run", tmp / "old.vdla", "--input", tmp / "x.npy")
    assert code == 2
    assert "was compiled by vdla 9.9.9" in err and "recompile the model with `vdla compile`" \
        in err


def test_usage_errors(tmp_path, capsys):
    code, _, err = run(capsys, "compile", tmp_path / "none.onnx")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "compile", tmp_path / "none.onnx", "--target", "gpu")
    assert code == 2 and "invalid choice" in err


def test_config_is_stored_and_checked(compiled, capsys):
    from accel.isa.config import HardwareConfig

    tmp, src, _, _, _, _ = compiled
    (tmp / "cfg.json").write_text(HardwareConfig(log_wgt_buff_size=16, name="small").to_json())
    code, _, err = run(capsys, "compile", src, "-o", tmp / "c.vdla", "--config",
                       tmp / "cfg.json", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "info", tmp / "c.vdla", "--json")
    assert code == 0 and "config        small: 1x16x16" in out
    assert last_json(out)["config"]["LOG_WGT_BUFF_SIZE"] == 16
    (tmp / "bad.json").write_text('{"LOG_BLOCK_IN": 99}')
    code, _, err = run(capsys, "compile", src, "--config", tmp / "bad.json")
    assert code == 2 and "LOG_BLOCK_IN=99 is out of range" in err
