"""The README's Python example runs and gives the result it promises."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example():
    text = README.read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), scope)
    c = scope["result"].read("C")
    assert c.shape == (4, 16) and (c == 16).all()   # sum of 16 products 1*1
    assert "GEMM util." in out.getvalue()


def test_readme_compiler_example():
    """The README's tensor-expression example compiles with LLVM and computes A @ B."""
    import numpy as np

    code = re.search(r"## Compiling operators\n\n```python\n(.*?)```", README.read_text(),
                     re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    np.testing.assert_allclose(scope["c"], scope["a"] @ scope["b"], rtol=1e-4)
