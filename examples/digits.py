"""Demo: a small CNN trained on scikit-learn's 8x8 digits, run in int8 on the simulated
accelerator.

    python examples/digits.py [--json] [--batch B] [--epochs E] [--calib K]

Trains ``conv3x3(1->16)+relu, conv3x3(16->32)+relu, maxpool 2x2, dense(512->10)`` with plain
numpy (Adam, cross-entropy, fixed seed: a few seconds on one core) on 1437 of the 1797
images, exports it to ONNX (``onnx.helper``, weights as initializers), quantizes it to int8
with calibration on training images, compiles it for the accelerator
(``runtime.module.compile_model``) and classifies the 360 held-out images on the
cycle-accurate simulator, ``B`` images per accelerator program run. Prints the partition
(which nodes run on the accelerator and which on the CPU), the float and int8 accuracies,
cycles per image and GEMM utilization; with ``--json`` the last stdout line is one JSON
object with those numbers. Progress goes to stderr.

The functions (``load_split``, ``train``, ``to_onnx``, ``compile_digits``, ``evaluate``)
are importable: ``tests/test_digits.py`` uses them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Single-threaded BLAS: the simulator's matmuls are small, and BLAS threads spinning against
# other work on the machine make them many times slower (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 0
N_TEST = 360                 # held out: 20% of the 1797 images
N_TRAIN = 1797 - N_TEST
CLASSES = 10
IMAGE = (1, 8, 8)            # one channel, 8x8 pixels scaled to [0, 1]

Params = dict[str, np.ndarray]
Progress = Callable[[str], None]


# ---------------------------------------------------------------------- data
def load_split(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits (bundled with scikit-learn, no download) as float32 (N, 1, 8, 8) images in
    [0, 1] with int64 labels, split by a seeded permutation: 1437 training, 360 test images."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:-N_TEST], order[-N_TEST:]
    return x[train], y[train], x[test], y[test]


# ---------------------------------------------------------------------- the float model
def init_params(seed: int = SEED, c1: int = 16, c2: int = 32) -> Params:
    """He-initialized weights in ONNX layouts (Conv OIHW, Gemm (out, in) with transB=1)."""
    rng = np.random.default_rng(seed)

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    flat = c2 * (IMAGE[1] // 2) * (IMAGE[2] // 2)
    return {"w1": he((c1, IMAGE[0], 3, 3), IMAGE[0] * 9), "b1": np.zeros(c1, np.float32),
            "w2": he((c2, c1, 3, 3), c1 * 9), "b2": np.zeros(c2, np.float32),
            "fc_w": he((CLASSES, flat), flat), "fc_b": np.zeros(CLASSES, np.float32)}


def _im2col(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N*H*W, C*9): the 3x3 neighbourhoods of a pad-1 stride-1 convolution."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N,C,H,W,3,3
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9)


def _col2im(dcols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of ``_im2col``: scatter-add the neighbourhood gradients back."""
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, 3, 3).transpose(0, 3, 4, 5, 1, 2)   # N,C,3,3,H,W
    dxp = np.zeros((n, c, h + 2, w + 2), dcols.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i:i + h, j:j + w] += d[:, :, i, j]
    return dxp[:, :, 1:-1, 1:-1]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, _, h, wd = x.shape
    cols = _im2col(x)
    y = cols @ w.reshape(len(w), -1).T + b
    return y.reshape(n, h, wd, len(w)).transpose(0, 3, 1, 2), cols


def forward(p: Params, x: np.ndarray, cache: dict[str, Any] | None = None) -> np.ndarray:
    """Logits (N, 10) of the float model (the ONNX graph of ``to_onnx``, in numpy)."""
    c1, cols1 = _conv(x, p["w1"], p["b1"])
    r1 = np.maximum(c1, 0)
    c2, cols2 = _conv(r1, p["w2"], p["b2"])
    r2 = np.maximum(c2, 0)
    n, c, h, w = r2.shape
    pooled = r2.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    f = pooled.reshape(n, -1)
    logits = f @ p["fc_w"].T + p["fc_b"]
    if cache is not None:
        cache.update(cols1=cols1, r1=r1, cols2=cols2, r2=r2, pooled=pooled, f=f)
    return logits


def _backward(p: Params, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
    """Mean cross-entropy of a batch and its gradient with respect to every parameter."""
    cache: dict[str, Any] = {}
    logits = forward(p, x, cache)
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.log(prob[np.arange(n), y] + 1e-12).mean())
    d = prob
    d[np.arange(n), y] -= 1
    d /= n
    g: Params = {"fc_w": d.T @ cache["f"], "fc_b": d.sum(axis=0)}
    r2, pooled = cache["r2"], cache["pooled"]
    nb, c, h, w = r2.shape
    dpool = (d @ p["fc_w"]).reshape(pooled.shape)
    # max pooling routes the gradient to one maximum of each window (the first: windows over
    # the blank background tie, and a tie must not multiply the gradient)
    win = r2.reshape(nb, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    first = win.reshape(nb, c, h // 2, w // 2, 4).argmax(axis=-1)
    dwin = np.zeros((nb, c, h // 2, w // 2, 4), r2.dtype)
    np.put_along_axis(dwin, first[..., None], dpool[..., None], axis=-1)
    dr2 = dwin.reshape(nb, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(r2.shape)
    dc2 = np.where(r2 > 0, dr2, 0).transpose(0, 2, 3, 1).reshape(-1, len(p["w2"]))
    g["w2"] = (dc2.T @ cache["cols2"]).reshape(p["w2"].shape)
    g["b2"] = dc2.sum(axis=0)
    dr1 = _col2im(dc2 @ p["w2"].reshape(len(p["w2"]), -1), cache["r1"].shape)
    dc1 = np.where(cache["r1"] > 0, dr1, 0).transpose(0, 2, 3, 1).reshape(-1, len(p["w1"]))
    g["w1"] = (dc1.T @ cache["cols1"]).reshape(p["w1"].shape)
    g["b1"] = dc1.sum(axis=0)
    return loss, g


def train(x: np.ndarray, y: np.ndarray, *, epochs: int = 12, batch: int = 32,
          lr: float = 2e-3, seed: int = SEED, progress: Progress | None = None) -> Params:
    """Mini-batch Adam on the cross-entropy; deterministic for a given seed."""
    say = progress or (lambda msg: None)
    rng = np.random.default_rng(seed)
    p = init_params(seed)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        losses = []
        for i in range(0, len(y), batch):
            idx = order[i:i + batch]
            loss, g = _backward(p, x[idx], y[idx])
            losses.append(loss)
            t += 1
            step = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k]
                p[k] = (p[k] - step * m[k] / (np.sqrt(v[k]) + eps)).astype(np.float32)
        say(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}")
    return p


def predict(p: Params, x: np.ndarray) -> np.ndarray:
    return forward(p, x).argmax(axis=1)


# ---------------------------------------------------------------------- ONNX
def to_onnx(p: Params, batch: int = 1):
    """The trained model as an ONNX ``ModelProto`` (opset 13) with input ``x`` of shape
    (batch, 1, 8, 8) and output ``logits`` (batch, 10); the weights are initializers."""
    import onnx
    from onnx import helper, numpy_helper

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1)]
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, np.float32), k)
             for k, a in p.items()]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, *IMAGE])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [batch, CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="vdla-examples-digits", ir_version=8)
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------------- accelerator
def calibration_set(x_train: np.ndarray, batch: int, count: int = 200) -> np.ndarray:
    """The first ``count`` training images, rounded up to a whole number of batches (the
    calibration runs the float graph batch by batch)."""
    k = min(-(-count // batch) * batch, len(x_train) // batch * batch)
    if k == 0:
        raise ValueError(f"a batch of {batch} images is larger than the {len(x_train)} "
                         f"training images available for calibration")
    return x_train[:k]


def compile_digits(p: Params, calibration: np.ndarray, batch: int, *,
                   min_cycles: int | None = None, progress: Progress | None = None):
    """Export ``p`` with a batch of ``batch`` images, quantize it with ``calibration`` (K
    float images, K a multiple of ``batch``) and compile it for the accelerator."""
    from runtime.module import compile_model

    return compile_model(to_onnx(p, batch), target="vdla", calibration=calibration,
                         min_cycles=min_cycles, progress=progress)


@dataclass
class Evaluation:
    """The compiled model run over a data set, batch by batch."""

    logits: np.ndarray
    batch: int
    batches: int
    seconds: float                       # wall time of the runs (simulator included)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)  # per node, summed
    macs_per_cycle: int = 0

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def images(self) -> int:
        return len(self.logits)

    @property
    def cycles(self) -> int:
        return sum(lp["cycles"] for lp in self.layers.values() if lp["cycles"] is not None)

    @property
    def cycles_per_image(self) -> float:
        return self.cycles / self.images

    @property
    def gemm_utilization(self) -> float:
        """MACs over the accelerator's peak during all its cycles (layers without MACs, such
        as max pooling, count as busy cycles too)."""
        macs = sum(lp["macs"] for lp in self.layers.values() if lp["device"] == "vdla")
        return macs / (self.cycles * self.macs_per_cycle) if self.cycles else 0.0

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.predictions == labels))


def evaluate(mod, x: np.ndarray, backend: str = "sim",
             progress: Progress | None = None) -> Evaluation:
    """Run ``mod`` (compiled for a batch of B images) over ``x``, B images per run; a last
    partial batch is padded with blank images, whose outputs (and, since a program's cycles
    do not depend on its data, their share of the cycles) are left out."""
    say = progress or (lambda msg: None)
    inp, out = mod.inputs[0], mod.outputs[0]
    b = inp.shape[0]
    ex = mod.executor(backend)
    logits, layers = [], {}
    t0 = time.perf_counter()
    for i in range(0, len(x), b):
        xb = x[i:i + b]
        n = len(xb)
        if n < b:
            xb = np.concatenate([xb, np.zeros((b - n, *xb.shape[1:]), xb.dtype)])
        outs, prof = ex.run_profiled({inp.name: xb})
        logits.append(outs[out.name][:n])
        for lp in prof.layers:
            acc = layers.setdefault(lp.node, {"op": lp.op, "device": lp.device,
                                              "cycles": None, "macs": 0, "seconds": 0.0})
            acc["seconds"] += lp.seconds
            if lp.cycles is not None:
                # a padded batch costs the same cycles; count the real images' share
                acc["cycles"] = (acc["cycles"] or 0) + lp.cycles * n / b
                acc["macs"] += lp.macs * n / b
        say(f"evaluated {i + n}/{len(x)} images")
    for acc in layers.values():
        if acc["cycles"] is not None:
            acc["cycles"] = round(acc["cycles"])
            acc["macs"] = round(acc["macs"])
    return Evaluation(np.concatenate(logits), b, -(-len(x) // b),
                      time.perf_counter() - t0, layers, mod.config.macs_per_cycle)


def placement(mod) -> dict[str, dict[str, Any]]:
    """Where each node of the compiled graph runs: {node: {"op", "target", "why"}}."""
    return {p.node: {"op": p.op, "target": p.target,
                     "why": p.category if p.target != "vdla" else ""}
            for p in mod.report.nodes}


# ---------------------------------------------------------------------- the demo
def run(*, batch: int = 40, calib: int = 200, epochs: int = 12,
        progress: Progress | None = None) -> dict[str, Any]:
    """Train, export, quantize, compile and evaluate; returns the summary (JSON-ready) with
    the compiled module under "module" and the evaluation under "evaluation"."""
    say = progress or (lambda msg: None)
    x_train, y_train, x_test, y_test = load_split()
    say(f"digits: {len(x_train)} training, {len(x_test)} test images")
    t = time.perf_counter()
    p = train(x_train, y_train, epochs=epochs, progress=say)
    train_s = time.perf_counter() - t
    float_acc = float(np.mean(predict(p, x_test) == y_test))
    say(f"trained in {train_s:.2f} s: float test accuracy {100 * float_acc:.2f}%")
    t = time.perf_counter()
    calibration = calibration_set(x_train, batch, calib)
    mod = compile_digits(p, calibration, batch, progress=say)
    compile_s = time.perf_counter() - t
    ev = evaluate(mod, x_test, progress=say)
    where = placement(mod)
    summary = {
        "train_images": len(x_train), "test_images": len(x_test),
        "float_accuracy": float_acc, "int8_accuracy": ev.accuracy(y_test),
        "cycles_per_image": ev.cycles_per_image, "total_cycles": ev.cycles,
        "gemm_utilization": ev.gemm_utilization, "batch": batch,
        "calibration_images": len(calibration),
        "vdla_nodes": [n for n, v in where.items() if v["target"] == "vdla"],
        "cpu_nodes": [n for n, v in where.items() if v["target"] != "vdla"],
        "partition": mod.report.summary(),
        "train_seconds": round(train_s, 3), "compile_seconds": round(compile_s, 3),
        "eval_seconds": round(ev.seconds, 3),
        "layers": {k: {"op": v["op"], "device": v["device"], "cycles": v["cycles"]}
                   for k, v in ev.layers.items()},
    }
    return {"summary": summary, "module": mod, "evaluation": ev}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true",
                    help="end with one JSON object of the numbers on stdout")
    ap.add_argument("--batch", type=int, default=40,
                    help="images per accelerator run (the ONNX batch size; default 40)")
    ap.add_argument("--calib", type=int, default=200,
                    help="calibration images from the training set (default 200)")
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args(argv)
    if args.batch < 1 or args.calib < 1 or args.epochs < 1:
        ap.error("--batch, --calib and --epochs must be positive")
    if args.batch > N_TRAIN:
        ap.error(f"--batch {args.batch}: at most {N_TRAIN} (calibration needs one whole "
                 f"batch of training images)")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    res = run(batch=args.batch, calib=args.calib, epochs=args.epochs, progress=say)
    s, mod = res["summary"], res["module"]
    print(mod.report.format())
    print()
    rows = [("layer", "op", "device", "cycles/image")]
    for name, lp in s["layers"].items():
        rows.append((name, lp["op"], lp["device"], "" if lp["cycles"] is None
                     else f"{lp['cycles'] / s['test_images']:,.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print()
    print(f"float32 accuracy (numpy):       {100 * s['float_accuracy']:.2f}% "
          f"of {s['test_images']} held-out images")
    print(f"int8 accuracy (accelerator sim): {100 * s['int8_accuracy']:.2f}% "
          f"({s['calibration_images']} calibration images)")
    print(f"cycles per image: {s['cycles_per_image']:,.0f} ({s['total_cycles']:,} cycles for "
          f"{s['test_images']} images in batches of {s['batch']}); GEMM utilization "
          f"{100 * s['gemm_utilization']:.1f}%")
    print(f"wall: train {s['train_seconds']:.2f} s, compile {s['compile_seconds']:.2f} s, "
          f"evaluate {s['eval_seconds']:.2f} s")
    if args.json:
        print(json.dumps(s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
