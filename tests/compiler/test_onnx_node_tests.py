"""The onnx package's node test cases for every supported operator, run through the
``onnx.backend.base.Backend`` adapter (``compiler.frontend.onnx_backend``): import, the pass
pipeline, then its ``EXECUTOR`` (today the numpy reference executor).

A case is selected when all its operators are supported. It must pass, unless it uses a
feature listed in ``EXPECTED_UNSUPPORTED``: then it must fail with the one clear
``UnsupportedModelError`` (so the list cannot silently go stale).
"""

import re
import warnings

import numpy as np
import onnx
import pytest
from onnx.backend.test.runner import Runner

from compiler.frontend import UnsupportedModelError
from compiler.frontend.onnx import DEFAULT_DOMAINS, supported_ops
from compiler.frontend.onnx_backend import VdlaBackend

# case-name pattern -> why vdla rejects it
EXPECTED_UNSUPPORTED = {
    r"^test_cast(like)?_.*(BFLOAT16|FLOAT8|INT4|INT2|FLOAT4|E8M0)":
        "dtypes outside bool/int/uint/float16/32/64",
    r"^test_resize_.*(linear|cubic|tf_crop_and_resize)": "Resize supports mode 'nearest' only",
    r"^test_batchnorm_.*training_mode$": "BatchNormalization in training mode",
    r"^test_training_dropout": "Dropout in training mode (random)",
    r"^test_identity_(sequence|opt)$": "sequence and optional values",
    r"^test_maxpool_with_argmax": "MaxPool's Indices output",
}


def _cases():
    from onnx.backend.test.loader import load_node_model_tests

    with warnings.catch_warnings():   # the case generators warn about overflowing casts
        warnings.simplefilter("ignore")
        cases = load_node_model_tests()
    ops = set(supported_ops())
    return [c for c in cases
            if all(n.op_type in ops and n.domain in DEFAULT_DOMAINS for n in c.model.graph.node)]


CASES = _cases()


def _array(x):
    return onnx.numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else np.asarray(x)


def _expected_reason(name: str) -> str | None:
    return next((why for pat, why in EXPECTED_UNSUPPORTED.items() if re.search(pat, name)),
                None)


def test_selection_is_large():
    runnable = [c for c in CASES if _expected_reason(c.name) is None]
    assert len(CASES) >= 400 and len(runnable) >= 290, (len(CASES), len(runnable))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case(case):
    reason = _expected_reason(case.name)
    if reason is not None:
        with pytest.raises(UnsupportedModelError):
            for inputs, _ in case.data_sets:
                VdlaBackend.prepare(case.model).run(inputs)
        return
    rep = VdlaBackend.prepare(case.model)
    for inputs, outputs in case.data_sets:
        got = rep.run([_array(x) for x in inputs])
        Runner.assert_similar_outputs([_array(o) for o in outputs], list(got),
                                      rtol=case.rtol, atol=case.atol)
