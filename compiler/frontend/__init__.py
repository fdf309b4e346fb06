"""Front ends: import models into the graph IR (``compiler.graph``).

* ``compiler.frontend.onnx.from_onnx(model_or_path, *, input_shapes=None)``: ONNX, opsets 7 to
  the newest the installed onnx package knows;
* ``compiler.frontend.torch.from_torch(module, example_inputs)``: PyTorch, exported through
  ``torch.onnx`` (optional: ``pip install vdla[torch]``);
* ``compiler.frontend.onnx_backend``: an ``onnx.backend.base.Backend`` over vdla, for the
  ONNX backend test suite.

Submodules are imported on demand (``torch`` never is unless asked for).
"""

from .errors import (
    FrontendError,
    MissingDependencyError,
    ModelLoadError,
    Problem,
    UnsupportedModelError,
)

__all__ = ["FrontendError", "MissingDependencyError", "ModelLoadError", "Problem",
           "UnsupportedModelError"]
