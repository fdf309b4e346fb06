"""The onnx package's stored model tests (``pytorch-converted``, ``pytorch-operator``,
``simple``: small PyTorch-exported models with input/output data) whose operators are all
supported. Most are opset 6 (below vdla's range), so each is upgraded with onnx's version
converter to several opsets (those not below its own), which exercises the old attribute
forms (Slice, Pad, Clip before 10/11) and the newer input forms (Squeeze, Split, ... from 13)
alike."""

import glob
import os

import onnx
import pytest
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

from compiler.frontend.onnx import supported_ops
from compiler.frontend.onnx_backend import VdlaBackend

OPSETS = (7, 9, 11, 13)


def _cases():
    ops = set(supported_ops())
    out = []
    for kind in ("pytorch-converted", "pytorch-operator", "simple"):
        for case in load_model_tests(kind=kind):
            model = onnx.load(os.path.join(case.model_dir, "model.onnx"))
            if {n.op_type for n in model.graph.node} <= ops:
                out.append((kind, case, model))
    return out


CASES = _cases()


def _load(path):
    return onnx.numpy_helper.to_array(onnx.load_tensor(path))


def test_selection_is_large():
    assert len(CASES) >= 80


@pytest.mark.parametrize("kind,case,model", CASES, ids=[f"{k}/{c.name}" for k, c, _ in CASES])
def test_model_case(kind, case, model):
    data = []
    for d in sorted(glob.glob(os.path.join(case.model_dir, "test_data_set*"))):
        ins = [_load(f) for f in sorted(glob.glob(os.path.join(d, "input_*.pb")))]
        outs = [_load(f) for f in sorted(glob.glob(os.path.join(d, "output_*.pb")))]
        data.append((ins, outs))
    assert data
    own = model.opset_import[0].version
    for opset in sorted({o for o in OPSETS if o >= own} | ({own} if own >= 7 else set())):
        upgraded = model if opset == own else onnx.version_converter.convert_version(model,
                                                                                     opset)
        # the converter keeps IR version 3, where initializers must also be graph inputs;
        # it does not always add them, so state a newer IR version
        upgraded.ir_version = max(upgraded.ir_version, 7)
        rep = VdlaBackend.prepare(upgraded)
        for ins, outs in data:
            Runner.assert_similar_outputs(outs, list(rep.run(ins)), rtol=case.rtol,
                                          atol=case.atol)
