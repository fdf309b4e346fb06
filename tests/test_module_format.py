"""The compiled-module file: round trip, atomic writes, stored object code, and a clear error
for every way the file can be wrong (truncated, corrupted, an entry missing, not a module,
another format or vdla version)."""

import io
import json
import math
import zipfile

import numpy as np
import pytest
from onnx import helper

import runtime.module as rm
from compiler.frontend.testing import make_model
from compiler.graph import GraphBuilder, verify
from compiler.graph.ir import EpilogueOp
from compiler.partition import partition
from runtime.errors import ModuleFormatError, ModuleVersionError
from runtime.module import compile_model, load_module
from runtime.serialize import graph_from_json, graph_to_json


def small_model(c: int = 8):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    inits = {"w": rng.standard_normal((c, 3, 3, 3)).astype(np.float32),
             "b": rng.standard_normal(c).astype(np.float32),
             "fc_w": rng.standard_normal((10, c * 4 * 4)).astype(np.float32) * 0.1,
             "fc_b": rng.standard_normal(10).astype(np.float32)}
    return make_model(nodes, [("x", "float32", (1, 3, 8, 8))], [("y", "float32", (1, 10))],
                      inits)


@pytest.fixture(scope="module")
def module_bytes():
    return compile_model(small_model(), target="cpu").to_bytes()


def _x():
    return np.random.default_rng(1).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)


def _rewrite(data: bytes, *, drop: str | None = None, manifest=None) -> bytes:
    """The zip with one entry dropped and/or the manifest edited."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == drop:
                continue
            body = src.read(info.filename)
            if info.filename == "manifest.json" and manifest is not None:
                doc = json.loads(body)
                manifest(doc)
                body = json.dumps(doc).encode()
            dst.writestr(info, body)
    return out.getvalue()


# ---------------------------------------------------------------------- round trip
def test_round_trip_and_atomic_save(tmp_path, module_bytes):
    mod = load_module(module_bytes)
    want = mod.executor("cpu").run({"x": _x()})
    path = tmp_path / "m.vdla"
    path.write_bytes(b"old contents")
    mod.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.vdla"]     # no temporary left
    again = load_module(path)
    got = again.executor("cpu").run({"x": _x()})
    np.testing.assert_array_equal(got["y"], want["y"])
    assert again.source["input_shapes"] == {"x": [1, 3, 8, 8]}
    assert again.report.to_dict() == mod.report.to_dict()
    names = zipfile.ZipFile(path).namelist()
    assert "manifest.json" in names and any(n.startswith("constants/") for n in names)


def test_failed_save_keeps_the_old_file(tmp_path, module_bytes, monkeypatch):
    mod = load_module(module_bytes)
    path = tmp_path / "m.vdla"
    path.write_bytes(b"old contents")

    def broken(self, f, objects=True):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rm.CompiledModule, "to_zip", broken)
    with pytest.raises(OSError):
        mod.save(path)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.vdla"]


def test_object_code_seeds_the_llvm_cache(tmp_path, monkeypatch):
    from compiler.codegen.llvm import jit

    # operators of shapes no other test uses: compiled here, into this cache
    monkeypatch.delenv("VDLA_LLVM_DISK_CACHE", raising=False)
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path / "compile-cache"))
    mod = compile_model(small_model(c=7), target="cpu")
    data = mod.to_bytes()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    keys = sorted(manifest["objects"])
    assert keys and all(manifest["objects"][k] == f"llvm/{k}.o" for k in keys)
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path / "cache"))
    assert all(jit.read_cached(k) is None for k in keys)
    loaded = load_module(data)
    loaded.executor("cpu")
    assert all(jit.read_cached(k) == loaded.objects[k] for k in keys)
    assert len(load_module(mod.to_bytes(objects=False)).objects) == 0


def test_graph_json_round_trips_every_attribute_kind():
    rng = np.random.default_rng(2)
    b = GraphBuilder("kinds")
    x = b.input("x", (1, 16, 4, 4), "int8")
    w = b.constant(rng.integers(-8, 8, (16, 16, 1, 1)).astype(np.int8), "w")
    y = b.op("QConv", x, w, name="q", shift=4, relu=1)
    f = b.op("Cast", y, name="f", to="float32")
    wf = b.constant(rng.standard_normal((4, 16, 1, 1)).astype(np.float32), "wf")
    r = b.node("FusedConv", [f, wf], {"epilogue": (EpilogueOp("Clip", {"min": -math.inf,
                                                                        "max": 6.0}),
                                                    EpilogueOp("LeakyRelu",
                                                               {"alpha": 0.25}))},
               name="fused")[0]
    p = b.op("Pad", r, name="pad", pads=(0, 0, 1, 1, 0, 0, 1, 1), value=math.nan)
    g = partition(b.build([p]), "vdla", min_cycles=0).graph
    arrays = {}

    def store(hint, a):
        arrays[f"a{len(arrays)}"] = a
        return f"a{len(arrays) - 1}"

    doc = json.loads(json.dumps(graph_to_json(g, store), allow_nan=False))
    back = graph_from_json(doc, arrays.__getitem__)
    verify(back)
    assert str(back) == str(g)
    body = back.nodes[0].attrs["body"]
    assert back.nodes[0].op == "Region" and body.nodes[0].op == "QConv"
    assert math.isnan(back.nodes[-1].attrs["value"])
    assert back.nodes[-2].attrs["epilogue"][0].attrs["min"] == -math.inf


# ---------------------------------------------------------------------- broken files
@pytest.mark.parametrize("keep", [0.999, 0.5, 0.05])
def test_truncated_file(module_bytes, keep):
    data = module_bytes[:int(len(module_bytes) * keep)]
    with pytest.raises(ModuleFormatError, match="truncated or corrupted"):
        load_module(data)


def test_corrupted_entry(module_bytes):
    zf = zipfile.ZipFile(io.BytesIO(module_bytes))
    info = next(i for i in zf.infolist() if i.filename.startswith("constants/"))
    data = bytearray(module_bytes)
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    data[pos] ^= 0xFF
    with pytest.raises(ModuleFormatError, match=f"entry '{info.filename}' is corrupted"):
        load_module(bytes(data))


def test_missing_entry(module_bytes):
    name = next(n for n in zipfile.ZipFile(io.BytesIO(module_bytes)).namelist()
                if n.startswith("constants/"))
    with pytest.raises(ModuleFormatError, match=f"no entry '{name}'"):
        load_module(_rewrite(module_bytes, drop=name))
    with pytest.raises(ModuleFormatError, match="no entry 'manifest.json'"):
        load_module(_rewrite(module_bytes, drop="manifest.json"))


def test_tampered_manifest(module_bytes):
    def bad_graph(doc):
        doc["graph"]["nodes"][1]["inputs"] = ["nowhere"]

    with pytest.raises(ModuleFormatError, match="uses value 'nowhere'"):
        load_module(_rewrite(module_bytes, manifest=bad_graph))

    def bad_type(doc):
        doc["graph"]["nodes"][0]["outputs"][0]["shape"] = [1, 2, 3, 4]

    with pytest.raises(ModuleFormatError, match="stored graph is invalid"):
        load_module(_rewrite(module_bytes, manifest=bad_type))

    def no_graph(doc):
        del doc["graph"]

    with pytest.raises(ModuleFormatError, match="manifest is incomplete"):
        load_module(_rewrite(module_bytes, manifest=no_graph))


def test_not_a_module(tmp_path):
    with pytest.raises(ModuleFormatError, match="not a vdla module"):
        load_module(b"\x7fELF" + bytes(100))
    with pytest.raises(ModuleFormatError, match="empty"):
        load_module(b"")
    with pytest.raises(ModuleFormatError, match="does not exist"):
        load_module(tmp_path / "nope.vdla")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ModuleFormatError, match="not a vdla module"):
        load_module(buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", "{not json")
    with pytest.raises(ModuleFormatError, match="manifest is corrupted"):
        load_module(buf.getvalue())


def test_version_mismatch(module_bytes):
    def old_format(doc):
        doc["format_version"] = 99

    with pytest.raises(ModuleVersionError, match="format version 99.*recompile"):
        load_module(_rewrite(module_bytes, manifest=old_format))

    def old_vdla(doc):
        doc["vdla_version"] = "0.0.1"

    with pytest.raises(ModuleVersionError, match="compiled by vdla 0.0.1.*recompile"):
        load_module(_rewrite(module_bytes, manifest=old_vdla))
    # the check can be skipped on purpose (e.g. to inspect an old module)
    mod = load_module(_rewrite(module_bytes, manifest=old_vdla), check_version=False)
    assert mod.vdla_version == "0.0.1"
