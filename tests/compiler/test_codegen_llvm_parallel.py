"""LLVM backend: parallel loops run as outlined chunk functions on worker threads.

Results must equal the serial build's exactly; the runtime's statistics show that the chunk
function ran as several chunks on more than one thread. The runtime itself (the launch
function generated code calls) is also driven directly with chunk functions written in Python,
for both pools: the process's (native by default on Linux) and the Python fallback.
"""

import ctypes
import os
import sys
import threading
import time

import numpy as np
import pytest

from compiler.codegen.llvm import build, get_num_threads, set_num_threads
from compiler.codegen.llvm.runtime import (
    _CHUNK_T,
    CHUNKS_PER_THREAD,
    ParallelStats,
    _ParallelRuntime,
    parallel_runtime,
)
from compiler.codegen.llvm.testing import add, buf, load, loop, mul, seq, store, var
from compiler.tir import ir

M, K = 37, 24  # 37 rows: uneven chunks


@pytest.fixture(autouse=True)
def _two_threads(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vdla-cache"))
    old = get_num_threads()
    set_num_threads(2)
    yield
    set_num_threads(old)


def _rowsum(kind: str, inner_kind: str = "serial") -> ir.PrimFunc:
    """C[i] = sum_k A[i, k] * s, rows in a `kind` loop, with a private accumulator."""
    A, C = buf("A", (M, K)), buf("C", M)
    s = var("s", "float32")
    acc = buf("acc", 1, "float32", scope="local")
    i, k = var("i"), var("k")
    body = loop(i, M, kind, ir.Allocate(acc, seq(
        store(acc, 0, 0.0),
        loop(k, K, inner_kind, store(acc, 0, add(load(acc, 0),
                                                 mul(load(A, add(mul(i, K), k)), s)))),
        store(C, i, load(acc, 0)))))
    return ir.PrimFunc(f"rowsum_{kind}_{inner_kind}", (A, C, s), body)


def _until_two_threads(f, *args, seconds: float = 20.0) -> None:
    """Call ``f`` until its chunks ran on two threads. Chunks are taken first come, first
    served: in a tiny launch the caller may take them all before the worker gets one, every
    time when the machine is busy (the worker then seldom runs at the same moment)."""
    deadline = time.monotonic() + seconds
    calls = 0
    while time.monotonic() < deadline:
        f(*args)
        calls += 1
        if len(f.parallel_stats.threads) >= 2:
            return
        if calls % 100 == 0:
            time.sleep(0.002)   # a busy machine: let the worker be scheduled again
    pytest.fail(f"{f.name}: {calls} launches in {seconds} s all ran on one thread: "
                f"{f.parallel_stats}")


def test_parallel_equals_serial_and_uses_two_threads():
    a = np.random.default_rng(0).standard_normal((M, K), dtype=np.float32)
    cs, cp = np.zeros(M, np.float32), np.zeros(M, np.float32)
    build(_rowsum("serial"))(a, cs, 0.5)
    fp = build(_rowsum("parallel"))
    assert fp.num_parallel_loops == 1
    assert "__par0" in fp.llvm_ir and "vdla_parallel_launch" in fp.llvm_ir
    before = fp.parallel_stats
    fp(a, cp, 0.5)
    after = fp.parallel_stats
    np.testing.assert_array_equal(cp, cs)
    np.testing.assert_allclose(cp, a.sum(1) * 0.5, rtol=1e-5)
    assert after.launches - before.launches == 1
    assert after.chunks - before.chunks == 2 * CHUNKS_PER_THREAD
    _until_two_threads(fp, a, cp, 0.5)
    np.testing.assert_array_equal(cp, cs)


def test_nested_parallel_runs_inner_serially():
    f = build(_rowsum("parallel", inner_kind="parallel"))
    assert f.num_parallel_loops == 1
    a = np.ones((M, K), np.float32)
    c = np.zeros(M, np.float32)
    f(a, c, 2.0)
    np.testing.assert_array_equal(c, np.full(M, 2.0 * K, np.float32))


def test_parallel_inside_serial_loop_captures_outer_state():
    """An outer serial loop var, a let var, a scalar param and a heap buffer are captured."""
    T, W = 3, 1000
    X, Y = buf("X", (T, W), "int32"), buf("Y", (T, W), "int32")
    tmp = buf("tmp", W * 20, "int32")  # 80 KB: heap allocated
    bias = var("bias")
    t, j, j2, off = var("t"), var("j"), var("j2"), var("off")
    body = ir.Allocate(tmp, loop(t, T, "serial", ir.LetStmt(off, mul(t, W), seq(
        loop(j, W, "parallel", store(tmp, j, add(load(X, add(off, j)), bias))),
        loop(j2, W, "parallel", store(Y, add(off, j2), mul(load(tmp, j2), 2))),
    ))))
    f = build(ir.PrimFunc("capture", (X, Y, bias), body))
    assert f.num_parallel_loops == 2
    x = np.arange(T * W, dtype=np.int32).reshape(T, W)
    y = np.zeros((T, W), np.int32)
    before = f.parallel_stats.launches
    f(x, y, 5)
    np.testing.assert_array_equal(y, 2 * (x + 5))
    assert f.parallel_stats.launches - before == 2 * T


@pytest.mark.parametrize("extent", [0, 1, 2, 3])
def test_small_and_empty_parallel_ranges(extent):
    C = buf("C", 4, "int32")
    i = var("i")
    f = build(ir.PrimFunc(f"small{extent}", (C,), loop(i, extent, "parallel",
                                                      store(C, i, add(i, 10)))))
    c = np.zeros(4, np.int32)
    f(c)
    want = np.zeros(4, np.int32)
    want[:extent] = np.arange(extent) + 10
    np.testing.assert_array_equal(c, want)


def test_parallel_vectorized_matmul_matches_numpy():
    """The benchmark's shape of schedule at a small size: parallel x unrolled x vectorized."""
    from compiler.codegen.llvm._demo_matmul import matmul_ir

    f = build(matmul_ir(64, 128, 48, mr=4, nr=32))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 48), dtype=np.float32)
    b = rng.standard_normal((48, 128), dtype=np.float32)
    c = np.zeros((64, 128), np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    assert f.num_parallel_loops == 2
    _until_two_threads(f, a, b, c)


def test_thread_count_setting():
    with pytest.raises(ValueError):
        set_num_threads(0)
    set_num_threads(1)
    f = build(_rowsum("parallel"))
    a = np.ones((M, K), np.float32)
    c = np.zeros(M, np.float32)
    before = f.parallel_stats.chunks
    f(a, c, 1.0)
    assert f.parallel_stats.chunks - before == 1
    np.testing.assert_array_equal(c, np.full(M, K, np.float32))


# ---------------------------------------------------------------------- the runtime itself
class Chunks:
    """A chunk function written in Python that records the ranges it ran and on which thread;
    it returns ``status`` for the chunk holding index ``fail_at``, sleeps ``delay`` seconds
    (without the GIL) per chunk, and calls ``inner(begin, end)`` if given."""

    def __init__(self, *, fail_at=None, status=7, delay=0.0, inner=None) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.threads: set[int] = set()
        self.fail_at, self.status, self.delay, self.inner = fail_at, status, delay, inner
        self.lock = threading.Lock()
        self.cfunc = _CHUNK_T(self._chunk)
        self.addr = ctypes.cast(self.cfunc, ctypes.c_void_p).value

    def _chunk(self, begin: int, end: int, _closure) -> int:
        with self.lock:
            self.ranges.append((begin, end))
            self.threads.add(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        if self.inner is not None:
            rc = self.inner(begin, end)
            if rc:
                return rc
        return self.status if self.fail_at is not None and begin <= self.fail_at < end else 0

    def take(self) -> list[tuple[int, int]]:
        with self.lock:
            got, self.ranges = sorted(self.ranges), []
        return got


def _shared_launch(rt, lo: int = 0, hi: int = 16, seconds: float = 20.0) -> Chunks:
    """Launch chunks of 1 ms (without the GIL) until a worker ran some of them, and return
    the last launch's record: on a busy machine a worker may stay off the CPU for a while."""
    deadline = time.monotonic() + seconds
    while True:
        ch = Chunks(delay=0.001)
        assert rt.launch(ch.addr, None, lo, hi) == 0
        if len(ch.threads) >= 2 or time.monotonic() > deadline:
            return ch


def _tiles(ranges, lo: int, hi: int) -> bool:
    """The ranges cover [lo, hi) exactly once, each non-empty."""
    at = lo
    for b, e in ranges:
        if b != at or e <= b:
            return False
        at = e
    return at == hi


@pytest.fixture(params=["process", "python"])
def rt(request):
    """The process-wide runtime (native where available), and a separate Python pool."""
    if request.param == "process":
        yield parallel_runtime()
        return
    py = _ParallelRuntime("python")
    py.set_num_threads(2)
    yield py
    py.set_num_threads(1)  # shuts its executor down


def _expected_chunks(n: int, threads: int) -> int:
    if n <= 0:
        return 0
    return 1 if threads == 1 or n == 1 else min(n, threads * CHUNKS_PER_THREAD)


def test_launch_covers_every_index_exactly_once(rt):
    rng = np.random.default_rng(0)
    ch = Chunks()
    for trial in range(150):
        threads = (1, 2, 3, 2)[trial % 4]
        rt.set_num_threads(threads)
        n = int(rng.choice([0, 1, 2, 3, 7, 8, 9, int(rng.integers(10, 2000))]))
        lo = int(rng.integers(-1000, 1000))
        before = rt.stats_of(ch.addr) or ParallelStats()
        assert rt.launch(ch.addr, None, lo, lo + n) == 0
        got = ch.take()
        assert _tiles(got, lo, lo + n), (lo, n, got)
        assert len(got) == _expected_chunks(n, threads), (lo, n, threads, got)
        after = rt.stats_of(ch.addr)
        assert after.launches - before.launches == 1
        assert after.chunks - before.chunks == len(got)
    assert rt.launch(ch.addr, None, 5, 3) == 0 and ch.take() == []   # hi < lo: nothing


def test_launch_returns_a_failing_chunks_status(rt):
    ch = Chunks(fail_at=123, status=7)
    assert rt.launch(ch.addr, None, 0, 1000) == 7
    assert any(b <= 123 < e for b, e in ch.take())
    ok = Chunks()
    assert rt.launch(ok.addr, None, 0, 1000) == 0      # the status does not stick
    assert _tiles(ok.take(), 0, 1000)
    rt.set_num_threads(1)
    assert rt.launch(ch.addr, None, 0, 1000) == 7      # serial path too
    # two failing chunks: the launch reports one of their statuses
    rt.set_num_threads(2)
    a = Chunks(fail_at=10, status=5)
    b = Chunks(inner=lambda lo, hi: 9 if lo <= 900 < hi else 0)
    assert rt.launch(a.addr, None, 0, 1000) == 5
    assert rt.launch(b.addr, None, 0, 1000) == 9


def test_nested_launch_runs_serially_and_correctly(rt):
    inner = Chunks()
    outer = Chunks(inner=lambda lo, hi: rt.launch(inner.addr, None, 10 * lo, 10 * hi),
                   delay=0.001)
    before = rt.stats_of(inner.addr) or ParallelStats()
    assert rt.launch(outer.addr, None, 0, 40) == 0
    got_outer, got_inner = outer.take(), inner.take()
    assert _tiles(got_outer, 0, 40)
    assert _tiles(got_inner, 0, 400)
    after = rt.stats_of(inner.addr)
    # each inner launch ran as one chunk, in the thread of the outer chunk that made it
    assert after.launches - before.launches == len(got_outer)
    assert after.chunks - before.chunks == len(got_outer)
    assert sorted((b // 10, e // 10) for b, e in got_inner) == got_outer


def test_concurrent_launches_from_python_threads():
    """Compiled parallel loops called from two Python threads at once (no GIL held in the
    kernels): one launch owns the pool, the other runs serially; both must be right."""
    f = build(_rowsum("parallel"))
    a = np.random.default_rng(2).standard_normal((M, K), dtype=np.float32)
    want = np.zeros(M, np.float32)
    build(_rowsum("serial"))(a, want, 1.5)
    bad = []

    def hammer() -> None:
        c = np.empty(M, np.float32)
        for _ in range(300):
            c[:] = -1
            f(a, c, 1.5)
            if not np.array_equal(c, want):
                bad.append(c.copy())

    ts = [threading.Thread(target=hammer) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad


def test_thread_count_changes_are_followed(rt):
    for threads in (1, 3, 2, 4, 1, 2):
        rt.set_num_threads(threads)
        assert rt.num_threads == threads
        ch = Chunks(delay=0.001)
        assert rt.launch(ch.addr, None, 0, 64) == 0
        got = ch.take()
        assert _tiles(got, 0, 64)
        assert len(got) == _expected_chunks(64, threads)
        assert len(ch.threads) <= threads
        if threads > 1:
            ch = _shared_launch(rt, 0, 64)
            assert 2 <= len(ch.threads) <= threads, (threads, ch.threads)
        if rt.kind == "native":
            assert len(rt.pool.worker_native_ids()) == threads - 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/task")
def test_native_workers_exit_when_the_count_changes():
    rt = parallel_runtime()
    if rt.kind != "native":
        pytest.skip("the process uses the Python pool")
    alive = lambda: {int(t) for t in os.listdir("/proc/self/task")}  # noqa: E731
    rt.set_num_threads(4)
    rt.launch(Chunks(delay=0.001).addr, None, 0, 16)
    old = set(rt.pool.worker_native_ids())          # waits for the new workers to start
    assert len(old) == 3 and old <= alive()
    rt.set_num_threads(2)
    rt.launch(Chunks(delay=0.001).addr, None, 0, 16)
    new = rt.pool.worker_native_ids()
    assert len(new) == 1 and not old & set(new)
    deadline = time.monotonic() + 10
    while old & alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not old & alive()                         # the earlier workers are gone


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_parallel_loops_work_in_a_forked_child():
    f = build(_rowsum("parallel"))
    a = np.ones((M, K), np.float32)
    c = np.zeros(M, np.float32)
    f(a, c, 1.0)                       # the parent's workers exist now
    pid = os.fork()
    if pid == 0:                       # the child: no workers until a launch starts them
        code = 1
        try:
            ch = _shared_launch(parallel_runtime(), 0, 32)
            c2 = np.zeros(M, np.float32)
            f(a, c2, 3.0)
            ok = _tiles(ch.take(), 0, 32) and len(ch.threads) >= 2
            code = 0 if ok and np.array_equal(c2, np.full(M, 3.0 * K, np.float32)) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs and sched_setaffinity")
def test_native_worker_keeps_off_the_launchers_cpu():
    """A worker removes the launching thread's CPU from its affinity mask (and gives it back
    when the launcher moves), so that Linux cannot leave both on one CPU."""
    rt = parallel_runtime()
    if rt.kind != "native":
        pytest.skip("the process uses the Python pool")
    rt.set_num_threads(2)
    _shared_launch(rt)                        # the worker inherits this thread's mask
    cpus = sorted(os.sched_getaffinity(0))
    seen = []

    def launch_from(cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})        # this (new) thread only
        _shared_launch(rt)                    # the worker looks at the launcher's CPU
        seen.append({tid: os.sched_getaffinity(tid) for tid in rt.pool.worker_native_ids()})

    for cpu in (cpus[0], cpus[1], cpus[0]):
        t = threading.Thread(target=launch_from, args=(cpu,))
        t.start()
        t.join()
    for cpu, masks in zip((cpus[0], cpus[1], cpus[0]), seen):
        assert len(masks) == 1
        mask = next(iter(masks.values()))
        assert cpu not in mask
        assert set(cpus) - {cpu} <= mask     # the CPU avoided before is given back
