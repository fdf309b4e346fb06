"""The nine light-zoo models compiled for the CPU (``target="cpu"``: LLVM kernels) through the
compiled-module runtime, against the stored ``light_*_output_0.pb`` with the ONNX backend
test's input and tolerances, and with seeded random weights against the graph reference
executor (the stored models' weights are all 0.02, so their outputs check little).

``test_zoo_compiled_cpu`` also sends each module through its file format (bytes and back),
and ``test_zoo_through_the_cli`` runs one model through ``vdla compile`` / ``vdla run``.
"""

import json

import numpy as np
import pytest
from test_onnx_zoo import MODELS, TOLERANCES, dummy_input, light_model, randomize, stored_output

from compiler.frontend.onnx import from_onnx
from compiler.graph import optimize, reference
from runtime.cli import main
from runtime.module import compile_model, load_module

# every node of the zoo has an LLVM kernel or is a view (no numpy fallback)
ALLOWED_KINDS = ("llvm", "view")


def _feeds(mod):
    return dict(zip([v.name for v in mod.inputs], dummy_input(mod.graph).values()))


@pytest.mark.parametrize("name", MODELS)
def test_zoo_compiled_cpu(name):
    rtol, atol = TOLERANCES[name]
    mod = compile_model(light_model(name), target="cpu")
    assert not mod.programs and all(n.target == "cpu" for n in mod.graph.nodes)
    kinds = {p.kernel.split(":")[0] for p in mod.report.nodes}
    assert kinds <= set(ALLOWED_KINDS), [(p.node, p.kernel) for p in mod.report.nodes
                                         if not p.kernel.startswith(ALLOWED_KINDS)]
    if name not in ("vgg19", "bvlc_alexnet", "zfnet512"):   # the big ones: see the CLI test
        mod = load_module(mod.to_bytes())
    (got,) = mod.executor("cpu").run(_feeds(mod)).values()
    np.testing.assert_allclose(got, stored_output(name), rtol=rtol, atol=atol,
                               err_msg=f"{name} compiled for the CPU")


def _random_weights_check(name: str) -> None:
    model = randomize(light_model(name))
    graph = optimize(from_onnx(model))
    feeds = {k: v * 2 - 1 for k, v in dummy_input(graph).items()}
    (want,) = reference.run(graph, feeds).values()
    assert np.isfinite(want).all() and np.ptp(want) > 0.01 * np.abs(want).max()
    mod = compile_model(graph, target="cpu", optimize=False)
    (got,) = mod.executor("cpu").run(feeds).values()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5, err_msg=f"{name} random")


@pytest.mark.parametrize("name", ["squeezenet", "resnet50"])
def test_zoo_random_weights_compiled_cpu(name):
    _random_weights_check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [m for m in MODELS if m not in ("squeezenet", "resnet50")])
def test_zoo_random_weights_compiled_cpu_all(name):
    _random_weights_check(name)


def test_zoo_through_the_cli(tmp_path, capsys):
    """vdla compile --target cpu, vdla run --backend cpu --json --output, vdla info."""
    import onnx

    name = "zfnet512"
    src = tmp_path / f"{name}.onnx"
    onnx.save(light_model(name), src)
    out = tmp_path / f"{name}.vdla"
    assert main(["compile", str(src), "-o", str(out), "--target", "cpu", "--quiet"]) == 0
    graph = from_onnx(light_model(name))
    x = next(iter(dummy_input(graph).values()))
    np.save(tmp_path / "x.npy", x)
    capsys.readouterr()
    code = main(["run", str(out), "--input", str(tmp_path / "x.npy"), "--backend", "cpu",
                 "--json", "--output", str(tmp_path / "y.npy")])
    stdout = capsys.readouterr().out
    assert code == 0
    doc = json.loads(stdout.strip().splitlines()[-1])
    y = np.load(tmp_path / "y.npy")
    rtol, atol = TOLERANCES[name]
    np.testing.assert_allclose(y, stored_output(name), rtol=rtol, atol=atol)
    assert doc["output"] == str(tmp_path / "y.npy") and doc["cycles"] is None
    assert doc["top1"] == int(np.argmax(y.reshape(-1))) and doc["wall_seconds"] > 0
    assert main(["info", str(out)]) == 0
    assert "target        cpu" in capsys.readouterr().out
