"""Benchmark: the CPU operator library (LLVM) against numpy/BLAS and onnxruntime, side by side.

    python bench/cpu_ops.py [--json] [--repeat R] [--threads T] [--pin]

Two workloads, measured in the same run, alternately:

* float32 matmul 1024 x 1024 x 1024: ``compiler.ops.cpu.matmul`` (B packed into 64-column
  panels, a 6x64 register tile) vs numpy ``A @ B`` (OpenBLAS, its default threads);
* the ResNet-18 conv layer: input 1x64x56x56, 64 filters 3x3, pad 1, stride 1:
  ``compiler.ops.cpu.conv2d`` (blocked schedule) vs a one-node ONNX ``Conv`` model run by
  ``onnxruntime.InferenceSession`` (``intra_op_num_threads`` = T). ``conv_resnet_3x3``
  repacks the weights in every call; ``conv_prepacked_w`` takes them pre-packed
  (``packed_weights=True``), as onnxruntime does with an initializer at session creation.

Both sides use T threads (default: ``os.cpu_count()``): the vdla thread pool is set to T
(``compiler.codegen.llvm.set_num_threads``); BLAS keeps its default (all cores), which the
JSON records. The vdla runtime runs with its defaults (the native pool on Linux, workers not
pinned; the JSON records which pool ran); ``--pin`` pins the vdla threads to distinct CPUs
(``compiler.codegen.llvm.runtime.pin_threads``), which the Python pool
(``VDLA_THREAD_POOL=python``) needed to use both cores on short kernels. ``--no-pin`` is the
default and is accepted for older command lines.

Method. Every side runs in its own worker process (``--worker KIND``), so that no library's
thread pool shares a process with another's (OpenBLAS and onnxruntime threads spin after a
call, and merely loading onnxruntime into the process was seen to slow the vdla thread pool
down); the parent only orchestrates, and is idle while a worker measures. Inputs come from one
seeded generator, through ``.npy`` files. After a warm-up, the two sides of a workload are
timed in blocks of calls ordered vdla, reference, reference, vdla (each block after a pause
and one untimed call), which cancels slow drifts of the machine's load; the figures are
medians of R calls per side (default 10), the ratios are ratios of those medians. Results
are checked against the reference (max error relative to the output's largest magnitude <
1e-3; exit status 1 otherwise). With ``--json`` the last line of stdout is one JSON object
with every number. Progress goes to stderr.

Requires the ``bench`` extra (``pip install -e '.[bench]'``: onnx, onnxruntime).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
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

import numpy as np  # noqa: E402
from _worker import serve  # noqa: E402

X_SHAPE, W_SHAPE, PADS = (1, 64, 56, 56), (64, 64, 3, 3), (1, 1, 1, 1)
MM = 1024
FLOPS = {"matmul": 2.0 * MM ** 3, "conv": 2.0 * 64 * 64 * 9 * 56 * 56}
SETTLE_S = 0.3   # pause before a block: the other side's spinning threads go to sleep
# workload name -> (vdla worker, reference worker, reference name, FLOPs key)
WORKLOADS = {
    "matmul_1024": ("vdla-matmul", "numpy-matmul", "numpy (OpenBLAS)", "matmul"),
    "conv_resnet_3x3": ("vdla-conv", "ort-conv", "onnxruntime", "conv"),
    "conv_prepacked_w": ("vdla-conv-prepacked", "ort-conv", "onnxruntime", "conv"),
}


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def blas_threads() -> int | None:
    """OpenBLAS's thread count as numpy's bundled library reports it (None if unknown)."""
    here = os.path.dirname(np.__file__)
    for lib in glob.glob(os.path.join(here, "..", "numpy.libs", "*openblas*")):
        dll = ctypes.CDLL(lib)
        for sym in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                    "openblas_get_num_threads"):
            if hasattr(dll, sym):
                return int(getattr(dll, sym)())
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------------- worker side
def _setup(kind: str, data: Path, threads: int):
    """(call, info) for a worker: ``call()`` computes once; info describes the setup."""
    if kind.startswith("vdla"):
        from compiler.codegen.llvm import get_num_threads, host_target, set_num_threads
        from compiler.ops import cpu

        set_num_threads(threads)
        tgt = host_target()
        info: dict[str, Any] = {"threads": get_num_threads(), "llvm_cpu": tgt.cpu,
                                "vector_bits": tgt.vector_bits}
    if kind == "vdla-matmul":
        a, b = np.load(data / "a.npy"), np.load(data / "b.npy")
        op = cpu.matmul(a.shape, b.shape, "float32")
        out = np.empty(op.out_shape, np.float32)
        return (lambda: op(a, b, out=out)), {**info, "schedule": op.config}
    if kind == "numpy-matmul":
        a, b = np.load(data / "a.npy"), np.load(data / "b.npy")
        return (lambda: a @ b), {"threads": blas_threads(), "numpy": np.__version__}
    x, w = np.load(data / "x.npy"), np.load(data / "w.npy")
    if kind in ("vdla-conv", "vdla-conv-prepacked"):
        packed = kind.endswith("prepacked")
        op = cpu.conv2d(x.shape, w.shape, stride=1, padding=1, dtype="float32",
                        packed_weights=packed)
        wk = op.pack_weights(w) if packed else w
        out = np.empty(op.out_shape, np.float32)
        return (lambda: op(x, wk, out=out)), {**info, "schedule": op.config}
    if kind == "ort-conv":
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=list(w.shape[2:]),
                                pads=list(PADS), strides=[1, 1])
        y_shape = (1, w.shape[0], x.shape[2], x.shape[3])
        graph = helper.make_graph(
            [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
            initializer=[numpy_helper.from_array(w, "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  ir_version=9)   # readable by onnxruntime releases of 2024+
        onnx.checker.check_model(model)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        feed = {"x": x}
        return (lambda: sess.run(None, feed)[0]), {"threads": threads,
                                                    "onnxruntime": ort.__version__}
    raise SystemExit(f"unknown worker kind {kind!r}")


def worker_main(kind: str, data: Path, threads: int, pin: bool) -> int:
    """Serve ``run N`` requests on stdin: one untimed call, then N timed ones (JSON list)."""
    call, info = _setup(kind, data, threads)
    np.save(data / f"out-{kind}.npy", call())
    if kind.startswith("vdla"):
        from compiler.codegen.llvm.runtime import parallel_runtime, pin_threads

        info["pool"] = parallel_runtime().kind
        info["pinned_cpus"] = pin_threads() if pin else None
    return serve(call, info)


# ---------------------------------------------------------------------- orchestrator
class Worker:
    """A benchmark worker process (``--worker KIND``)."""

    def __init__(self, kind: str, data: Path, threads: int, pin: bool) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--data", str(data),
             "--threads", str(threads)] + (["--pin"] if pin else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self._line())
        self.output = np.load(data / f"out-{kind}.npy")

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.kind} exited "
                               f"(status {self.proc.wait()})")
        return line

    def run(self, n: int) -> list[float]:
        self.proc.stdin.write(f"run {n}\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


def time_pair(ours: Worker, ref: Worker, repeat: int,
              warmup: int = 3) -> tuple[list[float], list[float]]:
    """Seconds per call of each side, in blocks ordered ours, ref, ref, ours (ABBA)."""
    ours.run(warmup)
    ref.run(warmup)
    times: dict[int, list[float]] = {0: [], 1: []}
    half = max(1, repeat // 2)
    for side, count in ((0, half), (1, half), (1, repeat - half), (0, repeat - half)):
        if count:
            time.sleep(SETTLE_S)
            times[side] += (ours if side == 0 else ref).run(count)
    return times[0], times[1]


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))


def measure(name: str, workers: dict[str, Worker], repeat: int) -> dict[str, Any]:
    ours_kind, ref_kind, ref_name, fkey = WORKLOADS[name]
    ours, ref = workers[ours_kind], workers[ref_kind]
    progress(f"[{name}] timing {ours_kind} vs {ref_kind} ...")
    t_ours, t_ref = time_pair(ours, ref, repeat)
    mo, mr = statistics.median(t_ours), statistics.median(t_ref)
    flops = FLOPS[fkey]
    return {"name": name, "flops": flops, "reference": ref_name,
            "vdla_ms": mo * 1e3, "ref_ms": mr * 1e3,
            "vdla_gflops": flops / mo / 1e9, "ref_gflops": flops / mr / 1e9,
            "ratio": mr / mo, "vdla_ms_all": [t * 1e3 for t in t_ours],
            "ref_ms_all": [t * 1e3 for t in t_ref],
            "max_rel_error": rel_error(ours.output, ref.output),
            "schedule": ours.info.get("schedule"), "vdla_threads": ours.info["threads"],
            "vdla_pinned_cpus": ours.info.get("pinned_cpus"), "vdla_pool": ours.info.get("pool"),
            "ref_threads": ref.info["threads"],
            "ref_version": ref.info.get("onnxruntime") or ref.info.get("numpy")}


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'workload':<18} {'vdla ms':>9} {'vdla GFLOP/s':>13} {'reference':<18} "
            f"{'ref ms':>8} {'ref GFLOP/s':>12} {'ratio':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<18} {r['vdla_ms']:>9.2f} {r['vdla_gflops']:>13.1f} "
                     f"{r['reference']:<18} {r['ref_ms']:>8.2f} {r['ref_gflops']:>12.1f} "
                     f"{r['ratio']:>6.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10,
                    help="timed calls per side (default 10)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="vdla and onnxruntime threads (default: os.cpu_count())")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="end stdout with one JSON line")
    ap.add_argument("--pin", action="store_true",
                    help="pin the vdla threads to distinct CPUs (not needed by the native pool)")
    ap.add_argument("--no-pin", action="store_true", help=argparse.SUPPRESS)  # the default
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.data, args.threads, args.pin)
    if args.repeat < 1 or args.threads < 1:
        ap.error("--repeat and --threads must be at least 1")
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="vdla-bench-") as tmp:
        data = Path(tmp)
        np.save(data / "a.npy", rng.standard_normal((MM, MM), dtype=np.float32))
        np.save(data / "b.npy", rng.standard_normal((MM, MM), dtype=np.float32))
        np.save(data / "x.npy", rng.standard_normal(X_SHAPE, dtype=np.float32))
        np.save(data / "w.npy", rng.standard_normal(W_SHAPE, dtype=np.float32))
        workers: dict[str, Worker] = {}
        try:
            for kinds in WORKLOADS.values():
                for kind in kinds[:2]:
                    if kind not in workers:
                        progress(f"starting worker {kind} ...")
                        workers[kind] = Worker(kind, data, args.threads, args.pin)
            rows = [measure(name, workers, args.repeat) for name in WORKLOADS]
            workers_info = workers["vdla-matmul"].info
        finally:
            for w in workers.values():
                w.close()
    ok = all(r["max_rel_error"] < 1e-3 for r in rows)
    pinned = rows[0]["vdla_pinned_cpus"]
    print(f"CPU operators vs references, medians of {args.repeat} calls per side, "
          f"{os.cpu_count()} CPUs ({cpu_model()}); threads: vdla {rows[0]['vdla_threads']} "
          f"({rows[0]['vdla_pool']} pool, "
          f"{f'pinned to CPUs {pinned}' if pinned else 'not pinned'}), "
          f"BLAS {rows[0]['ref_threads']}, onnxruntime {rows[1]['ref_threads']}")
    print(format_table(rows))
    for r in rows:
        print(f"{r['name']}: vdla at {100 * r['ratio']:.0f}% of {r['reference']} "
              f"(max relative error {r['max_rel_error']:.1e}; schedule {r['schedule']})")
    if not ok:
        print("FAIL: results disagree with the reference", file=sys.stderr)
    if args.json:
        doc = {"benchmark": "cpu_ops", "repeat": args.repeat, "seed": args.seed,
               "results": {r["name"]: r for r in rows},
               "threads": {"cpu_count": os.cpu_count(), "vdla": rows[0]["vdla_threads"],
                           "vdla_pinned_cpus": pinned, "vdla_pool": rows[0]["vdla_pool"],
                           "blas": rows[0]["ref_threads"],
                           "onnxruntime_intra_op": rows[1]["ref_threads"]},
               "machine": {"cpu": cpu_model(), "platform": platform.platform(),
                           "python": platform.python_version(), "numpy": np.__version__,
                           "onnxruntime": rows[1]["ref_version"],
                           "llvm_cpu": workers_info.get("llvm_cpu"),
                           "vector_bits": workers_info.get("vector_bits")},
               "date": time.strftime("%Y-%m-%d")}
        print(json.dumps(doc))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
