"""The PyTorch front end is optional: without torch, ``from_torch`` says how to install it.

(torch is not a test dependency, so these run whether or not it is installed, by hiding it.)
"""

import subprocess
import sys

import pytest

from compiler.frontend import MissingDependencyError
from compiler.frontend.torch import from_torch


def test_missing_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install vdla\[torch\]") as e:
        from_torch(object(), [])
    assert isinstance(e.value, ImportError)
    assert "from_onnx" in str(e.value)


def test_importing_the_front_ends_does_not_need_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import compiler.frontend, compiler.frontend.torch, compiler.frontend.onnx\n"
            "import compiler.frontend.onnx_backend, compiler.graph\n")
    subprocess.run([sys.executable, "-c", code], check=True)
