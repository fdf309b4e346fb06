"""Demo: ResNet-18 (224x224) quantized to int8 and run end to end on the simulated accelerator,
layer by layer against its roofline.

    python examples/resnet18.py [--json] [--image N] [--batch B] [--seed S] [--calib K]
                                [--backend sim|rtl] [--inputs N] [--width W] [--blocks 2,2,2,2]
                                [--classes C] [--builder auto|torchvision|onnx]

Builds ResNet-18 as ONNX: with torchvision's ``resnet18`` (random initialization, exported by
``torch.onnx``) when torch and torchvision are installed, otherwise with
``compiler.frontend.models.resnet`` (``onnx.helper``: the same graph with seeded He-normal
weights and BatchNormalization). Quantizes it to int8 with ``K`` seeded random calibration
inputs, compiles it for the accelerator (``runtime.module.compile_model``) and runs ``N``
seeded random inputs on the cycle-accurate simulator (or the RTL). Prints:

* the partition: which node runs where, and why (only the float Quantize and Dequantize
  boundary should stay on the CPU);
* per accelerator layer: MACs, DRAM traffic, cycles, GEMM utilization and the roofline bound
  (``runtime.roofline``: max(MACs at the GEMM core's peak, every operand's bytes once over
  the DRAM bus)), whether the layer is compute- or memory-bound and its cycles / bound;
* the totals, and the goals of the end-to-end demo: total cycles / roofline <= 1.15 and the
  int8 logits' cosine similarity to the float model's >= 0.99 on every input (float model:
  onnxruntime, or the numpy reference executor without it), with top-1 agreement.

With ``--json`` the last stdout line is one JSON object of those numbers. Progress goes to
stderr. Exit status 0 when every goal is met, 1 when one is not (the summary says which).

The functions (``build_model``, ``compile_resnet``, ``layer_table``, ``run``, ``main``) are
importable: ``tests/test_resnet_e2e.py`` uses them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Single-threaded BLAS: the simulator's matmuls are small, and BLAS threads spinning against
# other work on the machine make them many times slower (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATIO_GOAL = 1.15            # total cycles / roofline bound
COSINE_GOAL = 0.99           # int8 logits vs float logits, worst input
BOUNDARY_OPS = ("Quantize", "Dequantize")   # the only nodes allowed on the CPU
RESNET18_BLOCKS = (2, 2, 2, 2)
BUILDERS = ("auto", "torchvision", "onnx")

Progress = Callable[[str], None]


class DemoError(Exception):
    """A demo option that cannot be honoured (for example torchvision asked for but absent)."""


# ---------------------------------------------------------------------- the model
def _have_torchvision() -> bool:
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        return False
    return True


def build_model(*, image: int = 224, batch: int = 1, width: int = 64,
                blocks: Sequence[int] = RESNET18_BLOCKS, classes: int = 1000, seed: int = 0,
                builder: str = "auto"):
    """ResNet (ResNet-18 with the defaults) as an ONNX ``ModelProto`` with input ``x``
    (batch, 3, image, image) and output ``y`` (batch, classes); returns (model, how it was
    built). ``builder="auto"`` uses torchvision when it is installed and the network is a
    standard ResNet-18 (width 64, blocks 2,2,2,2), ``compiler.frontend.models.resnet``
    otherwise."""
    if builder not in BUILDERS:
        raise DemoError(f"unknown builder {builder!r}; expected one of {', '.join(BUILDERS)}")
    standard = width == 64 and tuple(blocks) == RESNET18_BLOCKS
    if builder == "torchvision" and not standard:
        raise DemoError(f"torchvision builds only the standard ResNet-18 (width 64, blocks "
                        f"2,2,2,2), not width {width}, blocks {','.join(map(str, blocks))}; "
                        f"use --builder onnx")
    if builder == "torchvision" and not _have_torchvision():
        raise DemoError("--builder torchvision needs torch and torchvision (pip install "
                        "'vdla[torch]' torchvision); --builder onnx needs neither")
    if builder == "torchvision" or (builder == "auto" and standard and _have_torchvision()):
        import torch
        import torchvision

        from compiler.frontend.torch import export_onnx

        torch.manual_seed(seed)
        net = torchvision.models.resnet18(weights=None, num_classes=classes)
        model = export_onnx(net, torch.randn(batch, 3, image, image), input_names=["x"],
                            output_names=["y"])
        return model, (f"torchvision.models.resnet18 (random initialization, torch seed "
                       f"{seed}), exported with torch.onnx")
    from compiler.frontend.models import resnet

    model = resnet(image=image, width=width, blocks=tuple(blocks), classes=classes,
                   batch=batch, seed=seed)
    why = "" if builder == "onnx" else \
        ("; torchvision is not installed" if standard else "; not a standard ResNet-18")
    return model, (f"compiler.frontend.models.resnet (onnx.helper, seeded He-normal weights "
                   f"and BatchNormalization, seed {seed}{why})")


def random_inputs(count: int, shape: Sequence[int], seed: int, stream: int) -> np.ndarray:
    """``count`` standard-normal float32 arrays of ``shape`` (stacked): the inputs of a
    normalized image network. ``stream`` separates calibration (1) from evaluation (2), so
    changing one count leaves the other's data as it was."""
    rng = np.random.default_rng([seed, stream])
    return rng.standard_normal((count, *shape)).astype(np.float32)


def compile_resnet(model, calibration: np.ndarray, *, min_cycles: int | None = None,
                   progress: Progress | None = None):
    """Quantize ``model`` with ``calibration`` ((K * batch, 3, H, W) floats) and compile it
    for the accelerator (the default config)."""
    from runtime.module import compile_model

    return compile_model(model, target="vdla", calibration=calibration,
                         min_cycles=min_cycles, progress=progress)


def float_model(model) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """(x -> float logits, what computes them): onnxruntime when installed, else the numpy
    reference executor (``compiler.graph.reference``) on the imported graph."""
    out = model.graph.output[0].name
    try:
        import onnxruntime as ort
    except ImportError:
        from compiler.frontend.onnx import from_onnx
        from compiler.graph import reference

        graph = from_onnx(model)
        return (lambda x: reference.run(graph, [x])[out]), "numpy reference executor"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return (lambda x: sess.run([out], {name: x})[0]), f"onnxruntime {ort.__version__}"


# ---------------------------------------------------------------------- analysis
def layer_table(mod, profile) -> list[dict[str, Any]]:
    """Per accelerator layer, in execution order: the roofline (``runtime.roofline``) beside
    the measured cycles and DRAM traffic. ``gemm_utilization`` counts the layer's true MACs
    (not the padding the GEMM core also multiplies) over the peak during its cycles."""
    from runtime.roofline import roofline

    peak = mod.config.macs_per_cycle
    ops = {lp.node: lp.op for lp in profile.layers}
    traffic = {lp.node: (lp.dram_bytes_read, lp.dram_bytes_written) for lp in profile.layers}
    rows = []
    for b in roofline(mod, profile):
        read, written = traffic[b.node]
        rows.append({"node": b.node, "op": ops.get(b.node, b.op), "kernel": b.op,
                     "macs": b.macs, "dram_bytes_read": read, "dram_bytes_written": written,
                     "operand_bytes": b.dram_bytes, "cycles": b.cycles,
                     "gemm_utilization": b.macs / (b.cycles * peak) if b.cycles else 0.0,
                     "compute_cycles": b.compute_cycles, "dram_cycles": b.dram_cycles,
                     "bound": b.bound, "limit": b.limit, "ratio": b.ratio})
    return rows


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den else float(np.array_equal(a, b))


# ---------------------------------------------------------------------- the demo
def run(*, image: int = 224, batch: int = 1, seed: int = 0, calib: int = 4, inputs: int = 3,
        backend: str = "sim", width: int = 64, blocks: Sequence[int] = RESNET18_BLOCKS,
        classes: int = 1000, builder: str = "auto",
        progress: Progress | None = None) -> dict[str, Any]:
    """Build, quantize, compile, run and compare; returns the summary (JSON-ready) with the
    compiled module under "module" and the first input's profile under "profile"."""
    from runtime.roofline import roofline
    from runtime.roofline import summary as roofline_summary

    say = progress or (lambda msg: None)
    t = time.perf_counter()
    model, built = build_model(image=image, batch=batch, width=width, blocks=blocks,
                               classes=classes, seed=seed, builder=builder)
    say(f"model: {built}")
    shape = (batch, 3, image, image)
    calibration = random_inputs(calib * batch, shape[1:], seed, 1)
    mod = compile_resnet(model, calibration, progress=say)
    compile_s = time.perf_counter() - t
    say(f"compiled in {compile_s:.1f} s")

    reference, float_how = float_model(model)
    xs = random_inputs(inputs, shape, seed, 2)
    ex = mod.executor(backend)
    out_name = mod.outputs[0].name
    cosines, agree, images, profile, run_s = [], 0, 0, None, 0.0
    for i, x in enumerate(xs):
        t = time.perf_counter()
        outs, prof = ex.run_profiled([x])
        run_s += time.perf_counter() - t
        if profile is None:
            profile = prof
        q, f = outs[out_name].reshape(batch, -1), reference(x).reshape(batch, -1)
        cosines += [cosine(q[j], f[j]) for j in range(batch)]
        agree += int(np.sum(q.argmax(axis=1) == f.argmax(axis=1)))
        images += batch
        say(f"input {i + 1}/{inputs} on '{backend}': {prof.total_cycles:,} cycles, "
            f"{prof.wall_seconds:.2f} s; cosine to float "
            f"{min(cosines[-batch:]):.5f}")

    layers = layer_table(mod, profile)
    roof = roofline_summary(roofline(mod, profile))
    cfg = mod.config
    cycles = profile.total_cycles
    macs = sum(r["macs"] for r in layers)
    placed = mod.report.nodes
    cpu_nodes = [p.node for p in placed if p.target != "vdla"]
    stray = [f"{p.node} ({p.op}: {p.category})" for p in placed
             if p.target != "vdla" and p.op not in BOUNDARY_OPS]
    ratio = roof["ratio"]
    goals = {
        "roofline_ratio": {"value": ratio, "goal": f"<= {RATIO_GOAL}",
                           "met": ratio is not None and ratio <= RATIO_GOAL},
        "cosine_min": {"value": min(cosines), "goal": f">= {COSINE_GOAL}",
                       "met": min(cosines) >= COSINE_GOAL},
        "offload": {"value": stray, "goal": "only Quantize/Dequantize on the CPU",
                    "met": not stray},
    }
    summary = {
        "model": built, "image": image, "batch": batch, "width": width,
        "blocks": list(blocks), "classes": classes, "seed": seed, "backend": backend,
        "calibration_inputs": calib, "eval_inputs": inputs, "config": cfg.summary,
        "partition": mod.report.summary(),
        "vdla_nodes": [p.node for p in placed if p.target == "vdla"], "cpu_nodes": cpu_nodes,
        "layers": layers,
        "total_cycles": cycles, "clock_mhz": cfg.clock_mhz,
        "seconds_at_clock": cycles / (cfg.clock_mhz * 1e6),
        "macs": macs, "gemm_utilization": macs / (cycles * cfg.macs_per_cycle),
        "gemm_utilization_issued": sum(lp.macs for lp in profile.layers
                                       if lp.cycles is not None)
        / (cycles * cfg.macs_per_cycle),
        "dram_bytes_read": sum(r["dram_bytes_read"] for r in layers),
        "dram_bytes_written": sum(r["dram_bytes_written"] for r in layers),
        "operand_bytes": roof["dram_bytes"],
        "roofline_cycles": roof["roofline_cycles"], "roofline_ratio": ratio,
        "compute_bound_layers": sum(r["limit"] == "compute" for r in layers),
        "memory_bound_layers": sum(r["limit"] == "memory" for r in layers),
        "float_model": float_how, "cosines": cosines, "cosine_min": min(cosines),
        "top1_agreement": agree / images, "images": images,
        "goals": goals, "goals_met": all(g["met"] for g in goals.values()),
        "failed_goals": [k for k, g in goals.items() if not g["met"]],
        "compile_seconds": round(compile_s, 3), "run_seconds": round(run_s, 3),
    }
    return {"summary": summary, "module": mod, "profile": profile}


def format_layers(layers: list[dict[str, Any]]) -> str:
    rows = [("layer", "op", "MACs", "DRAM bytes", "operands", "cycles", "util", "bound",
             "limit", "cycles/bound")]
    for r in layers:
        rows.append((r["node"], r["op"], f"{r['macs']:,}",
                     f"{r['dram_bytes_read'] + r['dram_bytes_written']:,}",
                     f"{r['operand_bytes']:,}", f"{r['cycles']:,}",
                     f"{100 * r['gemm_utilization']:.1f}%", f"{r['bound']:,.0f}", r["limit"],
                     f"{r['ratio']:.3f}" if r["ratio"] is not None else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    left = {0, 1, 8}
    return "\n".join("  " + "  ".join(c.ljust(w) if i in left else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)


def format_summary(s: dict[str, Any]) -> str:
    g = s["goals"]
    ok = {k: "met" if v["met"] else "NOT MET" for k, v in g.items()}
    mb = 1 / 1e6
    lines = [
        f"model: {s['model']}",
        f"  {s['image']}x{s['image']} input, batch {s['batch']}, {s['calibration_inputs']} "
        f"random calibration input(s), {s['eval_inputs']} random evaluation input(s) "
        f"(seed {s['seed']}); backend '{s['backend']}'",
        f"cycles: {s['total_cycles']:,} ({1e3 * s['seconds_at_clock']:.2f} ms at "
        f"{s['clock_mhz']} MHz); {s['macs']:,} MACs, GEMM utilization "
        f"{100 * s['gemm_utilization']:.1f}% ({100 * s['gemm_utilization_issued']:.1f}% "
        f"counting the padding the GEMM core multiplies too)",
        f"DRAM: {s['dram_bytes_read'] * mb:,.2f} MB read, {s['dram_bytes_written'] * mb:,.2f} "
        f"MB written (every operand once: {s['operand_bytes'] * mb:,.2f} MB)",
        f"roofline: {s['roofline_cycles']:,.0f} cycles ({s['compute_bound_layers']} "
        f"compute-bound, {s['memory_bound_layers']} memory-bound layers); cycles / roofline "
        f"= {s['roofline_ratio']:.3f} (goal {g['roofline_ratio']['goal']}: "
        f"{ok['roofline_ratio']})",
        f"int8 vs float ({s['float_model']}): cosine min {s['cosine_min']:.5f} over "
        f"{s['images']} image(s) (goal {g['cosine_min']['goal']}: {ok['cosine_min']}); "
        f"top-1 agreement {100 * s['top1_agreement']:.1f}%",
        f"offload: {s['partition']['vdla_nodes']} of {s['partition']['nodes']} nodes on the "
        f"accelerator, CPU: {', '.join(s['cpu_nodes']) or 'none'} ({ok['offload']}"
        + (f": {', '.join(g['offload']['value'])}" if g["offload"]["value"] else "") + ")",
        f"wall: compile {s['compile_seconds']:.1f} s, {s['eval_inputs']} run(s) "
        f"{s['run_seconds']:.1f} s",
    ]
    if s["failed_goals"]:
        lines.append(f"goals NOT met: {', '.join(s['failed_goals'])}")
    else:
        lines.append("all goals met")
    return "\n".join(lines)


def _blocks(text: str) -> tuple[int, ...]:
    try:
        blocks = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--blocks {text!r}: expected comma-separated "
                                         f"integers such as 2,2,2,2") from None
    if not blocks or min(blocks) < 1:
        raise argparse.ArgumentTypeError(f"--blocks {text!r}: every stage needs >= 1 block")
    return blocks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true",
                    help="end with one JSON object of the numbers on stdout")
    ap.add_argument("--image", type=int, default=224,
                    help="input height and width, a multiple of 32 (default 224)")
    ap.add_argument("--batch", type=int, default=1, help="images per run (default 1)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the weights and the random inputs (default 0)")
    ap.add_argument("--calib", type=int, default=4,
                    help="random calibration inputs, each a batch (default 4)")
    ap.add_argument("--inputs", type=int, default=3,
                    help="random evaluation inputs, each a batch (default 3)")
    ap.add_argument("--backend", choices=("sim", "rtl"), default="sim",
                    help="the cycle-accurate simulator or the RTL under Verilator")
    ap.add_argument("--width", type=int, default=64,
                    help="channels of the first stage (default 64: ResNet-18)")
    ap.add_argument("--blocks", type=_blocks, default=RESNET18_BLOCKS,
                    help="basic blocks per stage (default 2,2,2,2: ResNet-18)")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--builder", choices=BUILDERS, default="auto",
                    help="how the ONNX model is built: torchvision when installed (auto), "
                         "or compiler.frontend.models.resnet (onnx)")
    args = ap.parse_args(argv)
    for k in ("image", "batch", "calib", "inputs", "width", "classes"):
        if getattr(args, k) < 1:
            ap.error(f"--{k} must be positive")
    if args.image % 32:
        ap.error(f"--image {args.image}: must be a multiple of 32 (the network downsamples "
                 f"by 32)")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        res = run(image=args.image, batch=args.batch, seed=args.seed, calib=args.calib,
                  inputs=args.inputs, backend=args.backend, width=args.width,
                  blocks=args.blocks, classes=args.classes, builder=args.builder,
                  progress=say)
    except DemoError as e:
        ap.error(str(e))
    s, mod = res["summary"], res["module"]
    print(mod.report.format())
    print()
    print(format_layers(s["layers"]))
    print()
    print(format_summary(s))
    if args.json:
        print(json.dumps(s))
    return 0 if s["goals_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
