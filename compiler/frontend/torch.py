"""PyTorch front end: ``from_torch(module, example_inputs) -> Graph``, through ``torch.onnx``.

The module is exported in eval mode with ``torch.onnx.export`` (the dynamo-based exporter by
default; ``dynamo=False`` selects the TorchScript-based one) and the ONNX model is imported
with ``from_onnx``. The example inputs fix the graph's static input shapes.

PyTorch is optional: without it, ``from_torch`` raises ``MissingDependencyError`` saying
``pip install vdla[torch]``. Nothing here imports torch until ``from_torch`` is called.

Example::

    import torch
    from compiler.frontend.torch import from_torch

    net = torchvision.models.resnet18().eval()
    graph = from_torch(net, torch.randn(1, 3, 224, 224))
"""

from __future__ import annotations

import io
from typing import Any

from ..graph.ir import Graph
from .errors import FrontendError, MissingDependencyError

INSTALL_HINT = "pip install vdla[torch]"


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise MissingDependencyError(
            f"from_torch needs PyTorch, which is not installed; install it with "
            f"`{INSTALL_HINT}` (PyTorch 2.x, the CPU wheel is enough), or export the model to "
            f"ONNX yourself and use compiler.frontend.onnx.from_onnx") from e
    return torch


def export_onnx(module: Any, example_inputs: Any, *, dynamo: bool = True,
                opset: int | None = None, input_names: list[str] | None = None,
                **export_kwargs: Any):
    """Export ``module`` (in eval mode, without gradients) to an ``onnx.ModelProto``."""
    torch = _import_torch()
    import onnx

    if isinstance(example_inputs, list):
        args = tuple(example_inputs)
    elif isinstance(example_inputs, tuple):
        args = example_inputs
    else:
        args = (example_inputs,)
    if opset is not None:
        export_kwargs["opset_version"] = opset
    if input_names is not None:
        export_kwargs["input_names"] = input_names
    was_training = getattr(module, "training", False)
    if hasattr(module, "eval"):
        module.eval()
    try:
        with torch.no_grad():
            if dynamo:
                export_kwargs.setdefault("verbose", False)   # no progress lines on stdout
                program = torch.onnx.export(module, args, dynamo=True, **export_kwargs)
                return program.model_proto
            buf = io.BytesIO()
            torch.onnx.export(module, args, buf, dynamo=False, **export_kwargs)
            return onnx.load_model_from_string(buf.getvalue())
    except ImportError as e:   # the dynamo exporter needs onnxscript
        raise MissingDependencyError(
            f"torch.onnx.export needs a package that is not installed ({e}); install the "
            f"PyTorch extra with `{INSTALL_HINT}`") from e
    except Exception as e:  # noqa: BLE001 - torch raises many types; report them uniformly
        raise FrontendError(f"torch.onnx.export failed for {type(module).__name__}: "
                            f"{type(e).__name__}: {e}") from e
    finally:
        if was_training and hasattr(module, "train"):
            module.train(True)


def from_torch(module: Any, example_inputs: Any, *, dynamo: bool = True,
               opset: int | None = None, input_names: list[str] | None = None,
               **export_kwargs: Any) -> Graph:
    """Import a ``torch.nn.Module`` as a typed graph (static shapes from ``example_inputs``)."""
    from .onnx import from_onnx

    model = export_onnx(module, example_inputs, dynamo=dynamo, opset=opset,
                        input_names=input_names, **export_kwargs)
    return from_onnx(model)
