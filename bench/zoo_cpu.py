"""Benchmark: the light model zoo on vdla's CPU path beside onnxruntime, in the same run.

    python bench/zoo_cpu.py [--json] [--repeat R] [--threads T] [--models a,b] [--warm-cache]

For each of the nine models the onnx package ships (``onnx/backend/test/data/light``), with
**seeded random weights** (seed 0: every ConstantOfShape-generated weight drawn from a
variance-preserving normal, every 1-d parameter uniform in [0.5, 1.5), as in
``tests/compiler/test_onnx_zoo.py``; the stored models' weights are all 0.02) and a seeded
uniform [-1, 1) input:

* vdla: ``runtime.module.compile_model(model, target="cpu")`` plus building the executor's
  kernels is the compile time (by default with an empty LLVM disk cache, so it includes code
  generation; ``--warm-cache`` uses the usual cache), then ``GraphExecutor.run``;
* onnxruntime: creating the ``InferenceSession`` (graph optimizations, weight pre-packing) is
  its compile time, then ``session.run``. The model given to it lists no initializer among
  its graph inputs (the light models do, which keeps onnxruntime from folding constants).

Both use T threads (default 2: the machine's two cores): ``set_num_threads(T)`` for vdla
(``--pin`` pins its threads to distinct CPUs with ``runtime.pin_threads``; the native thread
pool does not need it, and with the Python pool it was measured slower on whole models),
``intra_op_num_threads`` for onnxruntime. Each side runs in its own worker process, so no
library's thread pool shares a process with the other's. After two warm-up runs, the sides
alternate in blocks of 5 calls in a row (vdla, onnxruntime, onnxruntime, vdla, ...), R timed
calls each (default 10); each block starts after a 0.1 s pause (onnxruntime's threads spin for
a while after a call, which slowed a vdla call right after it by up to 40%) and one untimed
call (caches and thread pools warm again after the other side ran); run times are medians of
the timed calls, and the ratio = vdla / onnxruntime. Outputs are compared (max error relative
to the largest output magnitude < 1e-3; exit status 1 otherwise). The goal (issue 6): the
median ratio across the zoo at most 3. A table goes to stdout; with ``--json`` the last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from _worker import serve  # noqa: E402

MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
          "shufflenet", "squeezenet", "vgg19", "zfnet512")
TARGET_RATIO = 3.0
PAUSE = 0.1   # seconds between the two sides' blocks of calls
BLOCK = 5     # timed calls in a row


def progress(msg: str) -> None:
    print(f"zoo_cpu: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- models
def light_path(name: str) -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / \
        f"light_{name}.onnx"


def random_weights(model, seed: int = 0):
    """The model with seeded random parameters in place of its constant 0.02 weights."""
    import onnx
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for t in m.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 1:
            t.CopyFrom(numpy_helper.from_array(
                rng.uniform(0.5, 1.5, tuple(t.dims)).astype(np.float32), t.name))
    inits = {t.name: t for t in m.graph.initializer}
    keep = []
    for node in m.graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits:
            keep.append(node)
            continue
        shape = tuple(numpy_helper.to_array(inits[node.input[0]]).tolist())
        if len(shape) >= 2:
            w = rng.standard_normal(shape) * np.sqrt(1.0 / np.prod(shape[1:]))
        else:
            w = rng.uniform(0.5, 1.5, shape)
        m.graph.initializer.append(numpy_helper.from_array(w.astype(np.float32),
                                                           node.output[0]))
    del m.graph.node[:]
    m.graph.node.extend(keep)
    # initializers are constants, not graph inputs (lets onnxruntime fold and pre-pack them)
    names = {t.name for t in m.graph.initializer}
    runtime_inputs = [vi for vi in m.graph.input if vi.name not in names]
    del m.graph.input[:]
    m.graph.input.extend(runtime_inputs)
    m.ir_version = max(m.ir_version, 4)
    return m


# ---------------------------------------------------------------------- workers
def _setup(kind: str, model: Path, x_path: Path, threads: int):
    x = np.load(x_path)
    t0 = time.perf_counter()
    if kind == "vdla":
        from compiler.codegen.llvm import set_num_threads
        from runtime.module import compile_model

        set_num_threads(threads)
        mod = compile_model(str(model), target="cpu")
        ex = mod.executor("cpu")
        name = mod.inputs[0].name
        kinds: dict[str, int] = {}
        for s in ex.steps:
            k = s.kernel.split(":")[0]
            kinds[k] = kinds.get(k, 0) + 1
        info = {"nodes": len(ex.steps), "kernels": kinds}

        def call():
            return next(iter(ex.run({name: x}).values()))
    else:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        info = {"onnxruntime": ort.__version__}

        def call():
            return sess.run(None, {name: x})[0]
    info["compile_seconds"] = time.perf_counter() - t0
    return call, info


def worker_main(kind: str, model: Path, x_path: Path, out: Path, threads: int,
                pin: bool) -> int:
    """Compile, warm up, then serve ``run N`` requests on stdin (a JSON list of seconds)."""
    call, info = _setup(kind, model, x_path, threads)
    np.save(out, call())
    call()
    if kind == "vdla":
        from compiler.codegen.llvm.runtime import pin_threads

        info["pinned_cpus"] = pin_threads() if pin else None
    return serve(call, info)


class Worker:
    def __init__(self, kind: str, model: Path, x: Path, out: Path, threads: int,
                 env: dict[str, str], pin: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--model", str(model), "--x", str(x),
             "--out", str(out), "--threads", str(threads)] + (["--pin"] if pin else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = json.loads(self._line())

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker exited with status {self.proc.wait()}")
        return line

    def run(self, n: int) -> list[float]:
        time.sleep(PAUSE)            # let the other side's threads stop spinning
        self.proc.stdin.write(f"run {n}\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


# ---------------------------------------------------------------------- measuring
def measure(name: str, tmp: Path, repeat: int, threads: int, warm_cache: bool,
            pin: bool = False) -> dict[str, Any]:
    import onnx

    model = random_weights(onnx.load(str(light_path(name))))
    path = tmp / f"{name}.onnx"
    onnx.save(model, str(path))
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    np.save(tmp / "x.npy", x)
    env = dict(os.environ)
    if not warm_cache:
        env["VDLA_CACHE_DIR"] = str(tmp / f"cache-{name}")   # empty: compile from scratch
    progress(f"{name}: compiling (vdla)")
    ours = Worker("vdla", path, tmp / "x.npy", tmp / "out-vdla.npy", threads, env, pin)
    progress(f"{name}: creating the onnxruntime session")
    ref = Worker("ort", path, tmp / "x.npy", tmp / "out-ort.npy", threads, env)
    try:
        t_ours, t_ref = [], []
        blocks = max(1, repeat // BLOCK)
        for i in range(blocks):
            n = repeat // blocks + (i < repeat % blocks)
            first, second = (ours, ref) if i % 2 == 0 else (ref, ours)
            a, b = first.run(n), second.run(n)
            (t_ours if first is ours else t_ref).extend(a)
            (t_ref if first is ours else t_ours).extend(b)
    finally:
        ours.close()
        ref.close()
    got, want = np.load(tmp / "out-vdla.npy"), np.load(tmp / "out-ort.npy")
    err = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-30))
    vdla_s, ort_s = statistics.median(t_ours), statistics.median(t_ref)
    row = {"model": name, "nodes": ours.info["nodes"], "kernels": ours.info["kernels"],
           "vdla_compile_s": ours.info["compile_seconds"],
           "ort_session_s": ref.info["compile_seconds"], "vdla_run_ms": vdla_s * 1e3,
           "ort_run_ms": ort_s * 1e3, "ratio": vdla_s / ort_s, "max_rel_error": err,
           "ok": err < 1e-3, "pinned_cpus": ours.info.get("pinned_cpus"),
           "onnxruntime": ref.info["onnxruntime"]}
    progress(f"{name}: vdla {row['vdla_run_ms']:.1f} ms, onnxruntime {row['ort_run_ms']:.1f} "
             f"ms, ratio {row['ratio']:.2f}")
    return row


def format_table(rows: list[dict[str, Any]], median_ratio: float) -> str:
    head = (f"{'model':<14}{'nodes':>6}{'vdla compile':>14}{'ort session':>13}"
            f"{'vdla run':>11}{'ort run':>10}{'ratio':>8}{'rel err':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<14}{r['nodes']:>6}{r['vdla_compile_s']:>13.2f}s"
                     f"{r['ort_session_s']:>12.2f}s{r['vdla_run_ms']:>9.1f}ms"
                     f"{r['ort_run_ms']:>8.1f}ms{r['ratio']:>8.2f}{r['max_rel_error']:>10.1e}")
    lines.append("-" * len(head))
    met = "met" if median_ratio <= TARGET_RATIO else "NOT met"
    lines.append(f"median ratio (vdla CPU / onnxruntime run time): {median_ratio:.2f} "
                 f"(target <= {TARGET_RATIO:g}: {met})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="end stdout with one JSON line")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per side (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="threads per side (default 2)")
    ap.add_argument("--models", help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--warm-cache", action="store_true",
                    help="compile with the usual LLVM disk cache (default: an empty one)")
    ap.add_argument("--pin", action="store_true",
                    help="pin the vdla thread pool's workers to distinct CPUs")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--x", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, Path(args.model), Path(args.x), Path(args.out),
                           args.threads, args.pin)
    names = args.models.split(",") if args.models else list(MODELS)
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vdla-zoo-") as tmp:
        for name in names:
            rows.append(measure(name, Path(tmp), args.repeat, args.threads, args.warm_cache,
                                args.pin))
    median_ratio = statistics.median(r["ratio"] for r in rows)
    print(format_table(rows, median_ratio))
    ok = all(r["ok"] for r in rows)
    if args.json:
        doc = {"benchmark": "zoo_cpu", "models": rows, "median_ratio": median_ratio,
               "target_ratio": TARGET_RATIO, "target_met": median_ratio <= TARGET_RATIO,
               "outputs_match": ok, "threads": args.threads, "repeat": args.repeat,
               "weights": "seeded random (seed 0), input uniform [-1, 1) (seed 1)",
               "llvm_cache": "warm" if args.warm_cache else "empty (cold compile)",
               "machine": {"platform": platform.platform(),
                           "python": platform.python_version(), "numpy": np.__version__,
                           "cpus": os.cpu_count()}}
        print(json.dumps(doc))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
