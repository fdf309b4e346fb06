"""examples/digits.py end to end: a numpy-trained CNN on scikit-learn's 8x8 digits, exported
to ONNX, quantized to int8 and run on the accelerator simulator. The int8 accuracy on the
held-out split is within one percentage point of the float model's, and the accelerator's
outputs equal the quantized graph's numpy reference bit for bit."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.onnx import from_onnx
from compiler.graph import optimize, reference
from compiler.quantize import quantize

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits.py"
BATCH = 40


def _load_example():
    spec = importlib.util.spec_from_file_location("vdla_examples_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module        # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


digits = _load_example()


@pytest.fixture(scope="module")
def run():
    x_train, y_train, x_test, y_test = digits.load_split()
    params = digits.train(x_train, y_train)
    calib = digits.calibration_set(x_train, BATCH)
    mod = digits.compile_digits(params, calib, BATCH)
    return {"params": params, "calib": calib, "x_test": x_test, "y_test": y_test,
            "mod": mod, "eval": digits.evaluate(mod, x_test)}


def test_split_is_fixed():
    x_train, y_train, x_test, y_test = digits.load_split()
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    assert set(np.unique(y_test)) == set(range(10))
    again = digits.load_split()
    np.testing.assert_array_equal(again[3], y_test)


def test_training_is_deterministic():
    x, y, _, _ = digits.load_split()
    a = digits.train(x[:256], y[:256], epochs=1)
    b = digits.train(x[:256], y[:256], epochs=1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_onnx_export_matches_numpy_model(run):
    import onnxruntime as ort

    model = digits.to_onnx(run["params"], BATCH)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = run["x_test"][:BATCH]
    (got,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(got, digits.forward(run["params"], x), rtol=1e-4, atol=1e-4)


def test_int8_accuracy_within_one_point_of_float(run):
    float_acc = float(np.mean(digits.predict(run["params"], run["x_test"]) == run["y_test"]))
    int8_acc = run["eval"].accuracy(run["y_test"])
    assert float_acc >= 0.95, float_acc
    assert int8_acc >= float_acc - 0.01, (int8_acc, float_acc)


def test_accelerator_equals_quantized_reference(run):
    # the documented pipeline (quantize the unfused optimized graph) run by the numpy
    # reference; the logits are dequantized int8 values, so equal floats mean equal integers
    q = quantize(optimize(from_onnx(digits.to_onnx(run["params"], BATCH)), fuse=False),
                 run["calib"])
    x = run["x_test"]
    ref = np.concatenate([reference.run(q, [x[i:i + BATCH]])["logits"]
                          for i in range(0, len(x), BATCH)])
    np.testing.assert_array_equal(run["eval"].logits, ref)


def test_convolutions_and_dense_run_on_the_accelerator(run):
    placed = digits.placement(run["mod"])
    on_vdla = sorted(v["op"] for v in placed.values() if v["target"] == "vdla")
    assert on_vdla == ["MaxPool", "QConv", "QConv", "QDense"], placed
    ev = run["eval"]
    assert ev.images == 360 and ev.batches == 9
    assert all(lp["cycles"] > 0 for lp in ev.layers.values() if lp["device"] == "vdla")
    assert 1000 < ev.cycles_per_image < 10_000 and 0 < ev.gemm_utilization < 1


def test_partial_last_batch_is_padded(run):
    """A batch size that does not divide the data set: the last run is padded; outputs and
    cycles count only the real images."""
    x = run["x_test"][:BATCH + 3]
    ev = digits.evaluate(run["mod"], x)
    assert ev.images == BATCH + 3 and ev.batches == 2
    np.testing.assert_array_equal(ev.logits, run["eval"].logits[:BATCH + 3])
    assert ev.cycles == pytest.approx(run["eval"].cycles_per_image * (BATCH + 3), abs=2)


def test_main_json(capsys):
    assert digits.main(["--json", "--epochs", "2", "--batch", "90", "--calib", "90"]) == 0
    out, err = capsys.readouterr()
    s = json.loads(out.strip().splitlines()[-1])
    assert s["test_images"] == 360 and s["batch"] == 90 and s["calibration_images"] == 90
    assert 0.9 <= s["float_accuracy"] <= 1 and abs(s["int8_accuracy"] - s["float_accuracy"]) \
        <= 0.02
    assert s["total_cycles"] == pytest.approx(s["cycles_per_image"] * 360)
    assert {"Conv_0", "Conv_2", "Gemm_6"} <= set(s["vdla_nodes"]), s
    assert s["partition"]["vdla_macs"] == s["partition"]["total_macs"] > 0
    assert "int8 accuracy" in out and "epoch 2/2" in err
