"""A native thread pool for parallel loops: LLVM IR compiled once per process, no Python inside.

Generated code calls ``vdla_parallel_launch(chunk, closure, lo, hi)``; with this pool it is
machine code (``_IR`` below, JIT-compiled once by ``jit.py``), not a Python callback, so a
launch never touches the GIL. The runtime is fixed, hand-written code, so it is kept as one
IR listing rather than built with ``llvmlite.ir``; ``pool_ir`` fills in the few
architecture-dependent constants (spin hint, system call numbers).

    launcher (the calling thread, slot 0)         worker k (slots 1..threads-1, pthreads)
    ---------------------------------------       ---------------------------------------
    take @busy (compare-and-swap 0 -> 1);         wait for @gen to change: spin with the
      taken already (a nested launch, or one        CPU's spin hint (and a sched_yield
      from another thread): run [lo, hi)            every few microseconds) for spin_ns,
      serially in the calling thread                then futex-sleep on @gen (@sleepers
    start missing workers (first launch, or         counts sleepers, so a launch only makes
      after set_num_threads)                        the wake-up system call if one sleeps)
    publish fn, closure, [lo, hi), nchunks;       @active += 1; if @open: take chunks
      @next = @done = @status = 0; @open = 1      @active -= 1; wait again
    @gen += 1; futex-wake if anyone sleeps
    take chunks like a worker                     take chunks: c = @next++ while c < nchunks;
    wait until @done == nchunks                     run chunk c unless @status != 0 (an
    @open = 0; wait until @active == 0              earlier chunk failed); record a
    release @busy, return @status                   non-zero status (first wins); @done++

Every chunk goes through the shared counter (none is pre-assigned), so a worker that wakes
late, or shares its core with another process, simply takes fewer chunks; the launcher never
waits for a worker that has not joined. The @open/@active pair (sequentially consistent on
both sides) keeps a late worker from reading the parameters of a job that is being replaced.

Placement. A sleeping worker woken by a launch is often placed by Linux on the launcher's CPU,
which is busy with its own chunks, and the scheduler then leaves both there for many
milliseconds while another CPU idles (measured: 24 of 40 blocks of five 1 ms convolutions,
each block after 0.3 s idle, ran at one core's speed). Two things prevent it:

* workers spin between launches (kernels called back to back find them awake on their own
  CPUs; the sched_yield calls hand the CPU over when the machine is oversubscribed);
* when there are CPUs enough for every thread, each worker keeps itself off the launcher's
  CPU: the launcher publishes its CPU (sched_getcpu) with the job, and a worker whose
  excluded CPU differs removes that CPU from its affinity mask and gives the previously
  excluded one back (two system calls each time the launcher changes CPU; the launcher's own
  affinity is never touched).
  The same 40 blocks: none slow.

``set_num_threads`` only records the wanted count and starts a new epoch (the high half of
@config): workers of an older epoch exit by themselves (they are detached), and the next
launch starts new ones, which join the job that started them. Statistics per chunk function
(launches, chunks, a bit mask of the slots that ran chunks) live in an open-addressing table
keyed by the function's address, read by Python on demand. Linux only (futex, gettid);
x86-64 and AArch64.
"""

from __future__ import annotations

import ctypes
import os
import platform
import string
import sys
import time

import llvmlite.binding as llvm
import numpy as np

from . import jit
from .target import host_target

MAX_THREADS = 64             # the launcher and 63 workers: one bit each in a 64-bit mask
STATS_LOG2 = 14              # statistics table: 16384 chunk functions, 32 bytes each
STATS_PROBES = 64
DEFAULT_SPIN_US = 500

# per architecture: (spin-hint intrinsic, its arguments, SYS_futex, SYS_gettid)
_ARCH = {
    "x86_64": ("llvm.x86.sse2.pause", "", 202, 186),
    "aarch64": ("llvm.aarch64.hint", "i32 1", 98, 178),   # hint #1: yield
}
_LIBC = ("pthread_create", "pthread_detach", "pthread_self", "pthread_sigmask", "syscall",
         "clock_gettime", "sched_yield", "sched_getcpu", "sched_getaffinity", "sched_setaffinity")
_EXPORTS = ("vdla_parallel_launch", "vdla_pool_configure", "vdla_pool_stats",
            "vdla_pool_ktids", "vdla_pool_workers", "vdla_pool_after_fork")


def _arch() -> str | None:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def available() -> bool:
    """True where the native pool works: 64-bit Linux on x86-64 or AArch64."""
    return (sys.platform.startswith("linux") and _arch() in _ARCH
            and ctypes.sizeof(ctypes.c_void_p) == 8)


_IR = r"""
; ------------------------------------------------------------------ shared state
@gen = internal global i32 0, align 64          ; futex word: +1 per launch and per configure
@sleepers = internal global i32 0, align 64     ; workers in (or entering) futex_wait
@busy = internal global i32 0, align 64         ; a launch owns the pool
@open = internal global i32 0, align 64         ; the published job accepts workers
@active = internal global i32 0, align 64       ; workers inside the published job
@next = internal global i64 0, align 64         ; next chunk to claim
@done = internal global i64 0, align 64         ; chunks finished
@status = internal global i32 0, align 64       ; first non-zero chunk status
@config = internal global i64 0, align 64       ; epoch << 32 | workers started in the epoch
@want = internal global i32 0, align 64         ; workers wanted (threads - 1)
@spin_ns = internal global i64 0
@move_ok = internal global i32 0                ; workers keep off the launcher's CPU
; the published job: written by the launcher before @open = 1, read-only while open
@job_fn = internal global ptr null, align 64
@job_closure = internal global ptr null
@job_lo = internal global i64 0
@job_q = internal global i64 0                  ; chunk length; the first @job_r get one more
@job_r = internal global i64 0
@job_nchunks = internal global i64 0
@job_entry = internal global ptr null           ; statistics entry of job_fn, or null
@job_cpu = internal global i32 -1               ; the CPU the launcher published from
@tids = internal global [${MAXT} x i64] zeroinitializer, align 64   ; pthread_t by slot
@ktids = internal global [${MAXT} x i32] zeroinitializer, align 64  ; kernel thread id by slot
; statistics: {fn address, launches, chunks, mask of slots that ran chunks}
@stats = internal global [${NSTATS} x {i64, i64, i64, i64}] zeroinitializer, align 64
@allsigs = internal constant [16 x i64] [${ALLSIGS}]

declare i32 @pthread_create(ptr, ptr, ptr, ptr)
declare i32 @pthread_detach(i64)
declare i64 @pthread_self()
declare i32 @pthread_sigmask(i32, ptr, ptr)
declare i64 @syscall(i64, ...)
declare i32 @clock_gettime(i32, ptr)
declare i32 @sched_yield()
declare i32 @sched_getcpu()
declare i32 @sched_getaffinity(i32, i64, ptr)
declare i32 @sched_setaffinity(i32, i64, ptr)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
${PAUSE_DECL}

define internal void @cpu_relax() alwaysinline {
  ${PAUSE}
  ret void
}

define internal i64 @now_ns() {
  %ts = alloca {i64, i64}
  call i32 @clock_gettime(i32 1, ptr %ts)                 ; CLOCK_MONOTONIC
  %s = load i64, ptr %ts
  %pn = getelementptr {i64, i64}, ptr %ts, i32 0, i32 1
  %n = load i64, ptr %pn
  %sn = mul i64 %s, 1000000000
  %t = add i64 %sn, %n
  ret i64 %t
}

define internal void @wake_all() {
  %s = load atomic i32, ptr @sleepers seq_cst, align 4
  %any = icmp ne i32 %s, 0
  br i1 %any, label %wake, label %out
wake:                                                      ; FUTEX_WAKE_PRIVATE, INT_MAX
  call i64 (i64, ...) @syscall(i64 ${SYS_FUTEX}, ptr @gen, i64 129, i64 2147483647)
  br label %out
out:
  ret void
}

; Spin until *p == v (a launcher waiting for chunks or workers); yield after a while, in
; case the thread it waits for shares this CPU.
${WAIT_EQ64}
${WAIT_EQ32}
; The statistics entry of chunk function %fn (claimed on first use), or null when full.
define internal ptr @stats_entry(ptr %fn) {
entry:
  %key = ptrtoint ptr %fn to i64
  %h0 = lshr i64 %key, 4
  %h1 = mul i64 %h0, -7046029254386353131                 ; 0x9E3779B97F4A7C15
  %h = lshr i64 %h1, ${HSHIFT}
  br label %probe
probe:
  %i = phi i64 [0, %entry], [%i1, %next]
  %j = add i64 %h, %i
  %idx = and i64 %j, ${HMASK}
  %p = getelementptr [${NSTATS} x {i64, i64, i64, i64}], ptr @stats, i64 0, i64 %idx
  %k = load atomic i64, ptr %p monotonic, align 8
  %hit = icmp eq i64 %k, %key
  br i1 %hit, label %found, label %free
free:
  %empty = icmp eq i64 %k, 0
  br i1 %empty, label %claim, label %next
claim:
  %x = cmpxchg ptr %p, i64 0, i64 %key monotonic monotonic
  %old = extractvalue {i64, i1} %x, 0
  %won = extractvalue {i64, i1} %x, 1
  %same = icmp eq i64 %old, %key
  %mine = or i1 %won, %same
  br i1 %mine, label %found, label %next
next:
  %i1 = add i64 %i, 1
  %end = icmp eq i64 %i1, ${PROBES}
  br i1 %end, label %none, label %probe
found:
  ret ptr %p
none:
  ret ptr null
}

define internal void @count_chunk(ptr %e, i64 %slot) {
entry:
  %has = icmp ne ptr %e, null
  br i1 %has, label %count, label %out
count:
  %pc = getelementptr {i64, i64, i64, i64}, ptr %e, i32 0, i32 2
  atomicrmw add ptr %pc, i64 1 monotonic
  %pm = getelementptr {i64, i64, i64, i64}, ptr %e, i32 0, i32 3
  %bit = shl i64 1, %slot
  %m = load atomic i64, ptr %pm monotonic, align 8
  %seen = and i64 %m, %bit
  %new = icmp eq i64 %seen, 0
  br i1 %new, label %mark, label %out
mark:
  atomicrmw or ptr %pm, i64 %bit monotonic
  br label %out
out:
  ret void
}

; Take chunks of the published job until none is left (slot: 0 launcher, k worker k).
define internal void @run_chunks(i64 %slot) {
entry:
  %fn = load ptr, ptr @job_fn
  %cl = load ptr, ptr @job_closure
  %lo = load i64, ptr @job_lo
  %q = load i64, ptr @job_q
  %r = load i64, ptr @job_r
  %nc = load i64, ptr @job_nchunks
  %e = load ptr, ptr @job_entry
  br label %claim
claim:
  %c = atomicrmw add ptr @next, i64 1 monotonic
  %more = icmp slt i64 %c, %nc
  br i1 %more, label %check, label %out
check:
  %st = load atomic i32, ptr @status monotonic, align 4
  %ok = icmp eq i32 %st, 0
  br i1 %ok, label %run, label %finish
run:
  %cq = mul i64 %c, %q
  %short = icmp slt i64 %c, %r
  %before = select i1 %short, i64 %c, i64 %r            ; longer chunks before this one
  %b0 = add i64 %lo, %cq
  %begin = add i64 %b0, %before
  %extra = zext i1 %short to i64
  %len = add i64 %q, %extra
  %end = add i64 %begin, %len
  %rc = call i32 %fn(i64 %begin, i64 %end, ptr %cl)
  call void @count_chunk(ptr %e, i64 %slot)
  %bad = icmp ne i32 %rc, 0
  br i1 %bad, label %fail, label %finish
fail:
  cmpxchg ptr @status, i32 0, i32 %rc seq_cst seq_cst
  br label %finish
finish:
  atomicrmw add ptr @done, i64 1 release
  br label %claim
out:
  ret void
}

; Wait until @gen differs from %seen and return it: spin for @spin_ns, then sleep.
define internal i32 @wait_gen(i32 %seen) {
entry:
  %t0 = call i64 @now_ns()
  %lim = load i64, ptr @spin_ns
  br label %spin
spin:
  %i = phi i32 [0, %entry], [%i1, %relax], [%i1, %clock]
  %g = load atomic i32, ptr @gen acquire, align 4
  %new = icmp ne i32 %g, %seen
  br i1 %new, label %out, label %relax
relax:
  call void @cpu_relax()
  %i1 = add i32 %i, 1
  %m = and i32 %i1, 63
  %look = icmp eq i32 %m, 0
  br i1 %look, label %clock, label %spin
clock:                             ; give the CPU away if another thread wants it
  call i32 @sched_yield()
  %t = call i64 @now_ns()
  %dt = sub i64 %t, %t0
  %keep = icmp slt i64 %dt, %lim
  br i1 %keep, label %spin, label %sleep
sleep:
  atomicrmw add ptr @sleepers, i32 1 seq_cst
  %g2 = load atomic i32, ptr @gen seq_cst, align 4
  %same = icmp eq i32 %g2, %seen
  br i1 %same, label %futex, label %awake
futex:                                                     ; FUTEX_WAIT_PRIVATE
  %v = zext i32 %seen to i64
  call i64 (i64, ...) @syscall(i64 ${SYS_FUTEX}, ptr @gen, i64 128, i64 %v, ptr null)
  br label %awake
awake:
  atomicrmw sub ptr @sleepers, i32 1 seq_cst
  %g3 = load atomic i32, ptr @gen acquire, align 4
  %still = icmp eq i32 %g3, %seen
  br i1 %still, label %sleep, label %out3
out3:
  ret i32 %g3
out:
  ret i32 %g
}

; Keep a worker off the CPU the launcher runs on: its affinity mask without that CPU, updated
; when the launcher changes CPU (*%avoid: the CPU excluded now, -1 at first; given back when
; another is excluded). A sleeping worker woken by a launch is otherwise often placed on the
; launcher's busy CPU, where the scheduler leaves both for many milliseconds.
define internal void @avoid_launcher_cpu(ptr %mask, ptr %avoid) {
entry:
  %ok = load atomic i32, ptr @move_ok monotonic, align 4
  %on = icmp ne i32 %ok, 0
  br i1 %on, label %check, label %out
check:
  %lc = load i32, ptr @job_cpu
  %old = load i32, ptr %avoid
  %moved = icmp ne i32 %lc, %old
  %known = icmp ult i32 %lc, 1024
  %both = and i1 %moved, %known
  br i1 %both, label %read, label %out
read:
  store i32 %lc, ptr %avoid
  call void @llvm.memset.p0.i64(ptr %mask, i8 0, i64 128, i1 false)
  %got = call i32 @sched_getaffinity(i32 0, i64 128, ptr %mask)
  %fail = icmp ne i32 %got, 0
  br i1 %fail, label %out, label %giveback
giveback:
  %had = icmp ult i32 %old, 1024                            ; false for -1
  br i1 %had, label %set_old, label %clear
set_old:
  %pw0 = call ptr @mask_word(ptr %mask, i32 %old)
  %bit0 = call i64 @mask_bit(i32 %old)
  %v0 = load i64, ptr %pw0
  %v0s = or i64 %v0, %bit0
  store i64 %v0s, ptr %pw0
  br label %clear
clear:
  %pw = call ptr @mask_word(ptr %mask, i32 %lc)
  %bit = call i64 @mask_bit(i32 %lc)
  %nbit = xor i64 %bit, -1
  %v = load i64, ptr %pw
  %v2 = and i64 %v, %nbit
  store i64 %v2, ptr %pw
  call i32 @sched_setaffinity(i32 0, i64 128, ptr %mask)   ; fails (no CPU left): no change
  br label %out
out:
  ret void
}

define internal ptr @mask_word(ptr %mask, i32 %cpu) alwaysinline {
  %word = lshr i32 %cpu, 6
  %w64 = zext i32 %word to i64
  %p = getelementptr i64, ptr %mask, i64 %w64
  ret ptr %p
}

define internal i64 @mask_bit(i32 %cpu) alwaysinline {
  %b = and i32 %cpu, 63
  %b64 = zext i32 %b to i64
  %bit = shl i64 1, %b64
  ret i64 %bit
}

; A worker thread; %arg = epoch << 32 | slot. Exits when the epoch changes.
define internal ptr @worker(ptr %arg) {
entry:
  %a = ptrtoint ptr %arg to i64
  %slot = and i64 %a, 255
  %epoch = lshr i64 %a, 32
  call i32 @pthread_sigmask(i32 0, ptr @allsigs, ptr null)     ; SIG_BLOCK every signal
  %tid = call i64 (i64, ...) @syscall(i64 ${SYS_GETTID})
  %tid32 = trunc i64 %tid to i32
  %pk = getelementptr [${MAXT} x i32], ptr @ktids, i64 0, i64 %slot
  store atomic i32 %tid32, ptr %pk monotonic, align 4
  %mask = alloca [16 x i64], align 8                     ; cpu_set_t: 1024 CPUs
  %avoid = alloca i32, align 4
  store i32 -1, ptr %avoid
  %g0 = load atomic i32, ptr @gen seq_cst, align 4
  br label %join                  ; the launch that started this worker is open already
loop:
  %c = load atomic i64, ptr @config seq_cst, align 8
  %ce = lshr i64 %c, 32
  %stale = icmp ne i64 %ce, %epoch
  br i1 %stale, label %exit, label %wait
wait:
  %g = call i32 @wait_gen(i32 %seen)
  %c2 = load atomic i64, ptr @config seq_cst, align 8
  %ce2 = lshr i64 %c2, 32
  %stale2 = icmp ne i64 %ce2, %epoch
  br i1 %stale2, label %exit, label %join
join:
  %seen = phi i32 [%g0, %entry], [%g, %wait]
  atomicrmw add ptr @active, i32 1 seq_cst
  %o = load atomic i32, ptr @open seq_cst, align 4
  %isopen = icmp ne i32 %o, 0
  br i1 %isopen, label %work, label %job
work:
  call void @avoid_launcher_cpu(ptr %mask, ptr %avoid)
  call void @run_chunks(i64 %slot)
  br label %job
job:
  atomicrmw sub ptr @active, i32 1 release
  br label %loop
exit:
  ret ptr null
}

; Start workers up to @want in the current epoch; the number running (0: run serially).
define internal i64 @ensure_workers() {
entry:
  %c = load atomic i64, ptr @config seq_cst, align 8
  %have = and i64 %c, 4294967295
  %w32 = load atomic i32, ptr @want seq_cst, align 4
  %w = zext i32 %w32 to i64
  %need = icmp ult i64 %have, %w
  br i1 %need, label %create, label %enough
enough:
  ret i64 %have
create:
  %k = phi i64 [%have, %entry], [%k1, %made]
  %k1 = add i64 %k, 1
  %more = icmp ule i64 %k1, %w
  br i1 %more, label %make, label %publish
make:
  %hi = and i64 %c, -4294967296
  %argi = or i64 %hi, %k1
  %arg = inttoptr i64 %argi to ptr
  %pt = getelementptr [${MAXT} x i64], ptr @tids, i64 0, i64 %k1
  %pk = getelementptr [${MAXT} x i32], ptr @ktids, i64 0, i64 %k1
  store atomic i32 0, ptr %pk monotonic, align 4           ; the new worker writes its id
  %rc = call i32 @pthread_create(ptr %pt, ptr null, ptr @worker, ptr %arg)
  %ok = icmp eq i32 %rc, 0
  br i1 %ok, label %made, label %failed
made:
  %t = load i64, ptr %pt
  call i32 @pthread_detach(i64 %t)
  br label %create
failed:                                                    ; no more threads: stop asking
  %kt = trunc i64 %k to i32
  store atomic i32 %kt, ptr @want seq_cst, align 4
  br label %publish
publish:
  %n = phi i64 [%w, %create], [%k, %failed]
  %hi2 = and i64 %c, -4294967296
  %nc = or i64 %hi2, %n
  %x = cmpxchg ptr @config, i64 %c, i64 %nc seq_cst seq_cst
  %won = extractvalue {i64, i1} %x, 1
  %res = select i1 %won, i64 %n, i64 0         ; lost to set_num_threads: this launch serial
  ret i64 %res
}

; The slot of the calling thread: k for worker k, else 0.
define internal i64 @self_slot() {
entry:
  %me = call i64 @pthread_self()
  %c = load atomic i64, ptr @config monotonic, align 8
  %n = and i64 %c, 4294967295
  br label %loop
loop:
  %k = phi i64 [1, %entry], [%k1, %next]
  %in = icmp ule i64 %k, %n
  br i1 %in, label %test, label %none
test:
  %pt = getelementptr [${MAXT} x i64], ptr @tids, i64 0, i64 %k
  %t = load i64, ptr %pt
  %is = icmp eq i64 %t, %me
  br i1 %is, label %found, label %next
next:
  %k1 = add i64 %k, 1
  br label %loop
found:
  ret i64 %k
none:
  ret i64 0
}

define i32 @vdla_parallel_launch(ptr %fn, ptr %cl, i64 %lo, i64 %hi) {
entry:
  %e = call ptr @stats_entry(ptr %fn)
  %has = icmp ne ptr %e, null
  br i1 %has, label %count, label %size
count:
  %pl = getelementptr {i64, i64, i64, i64}, ptr %e, i32 0, i32 1
  atomicrmw add ptr %pl, i64 1 monotonic
  br label %size
size:
  %n = sub i64 %hi, %lo
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %nothing, label %choose
nothing:
  ret i32 0
choose:
  %w = load atomic i32, ptr @want monotonic, align 4
  %one = icmp eq i64 %n, 1
  %alone = icmp eq i32 %w, 0
  %ser = or i1 %one, %alone
  br i1 %ser, label %serial, label %acquire
acquire:
  %x = cmpxchg ptr @busy, i32 0, i32 1 acquire monotonic
  %got = extractvalue {i32, i1} %x, 1
  br i1 %got, label %ensure, label %serial
ensure:
  %nw = call i64 @ensure_workers()
  %none = icmp eq i64 %nw, 0
  br i1 %none, label %release_serial, label %publish
release_serial:
  store atomic i32 0, ptr @busy release, align 4
  br label %serial
publish:
  %t = add i64 %nw, 1
  %cap = mul i64 %t, ${CPT}
  %few = icmp slt i64 %n, %cap
  %nc = select i1 %few, i64 %n, i64 %cap
  %q = sdiv i64 %n, %nc
  %r = srem i64 %n, %nc
  store ptr %fn, ptr @job_fn
  store ptr %cl, ptr @job_closure
  store i64 %lo, ptr @job_lo
  store i64 %q, ptr @job_q
  store i64 %r, ptr @job_r
  store i64 %nc, ptr @job_nchunks
  store ptr %e, ptr @job_entry
  %cpu = call i32 @sched_getcpu()
  store i32 %cpu, ptr @job_cpu
  store atomic i64 0, ptr @next monotonic, align 8
  store atomic i64 0, ptr @done monotonic, align 8
  store atomic i32 0, ptr @status monotonic, align 4
  store atomic i32 1, ptr @open seq_cst, align 4
  atomicrmw add ptr @gen, i32 1 seq_cst
  call void @wake_all()
  call void @run_chunks(i64 0)
  call void @wait_eq64(ptr @done, i64 %nc)
  store atomic i32 0, ptr @open seq_cst, align 4
  call void @wait_eq32(ptr @active, i32 0)
  %rc = load atomic i32, ptr @status seq_cst, align 4
  store atomic i32 0, ptr @busy release, align 4
  ret i32 %rc
serial:
  %rc2 = call i32 %fn(i64 %lo, i64 %hi, ptr %cl)
  br i1 %has, label %serial_count, label %serial_out
serial_count:
  %slot = call i64 @self_slot()
  call void @count_chunk(ptr %e, i64 %slot)
  br label %serial_out
serial_out:
  ret i32 %rc2
}

; Want %workers workers (threads - 1) spinning %spin_ns between launches, moving off the
; launcher's CPU if %move is non-zero. Starts a new
; epoch: the current workers exit by themselves, the next launch starts new ones.
define void @vdla_pool_configure(i32 %workers, i64 %spin, i32 %move) {
entry:
  store i64 %spin, ptr @spin_ns
  store atomic i32 %move, ptr @move_ok seq_cst, align 4
  store atomic i32 %workers, ptr @want seq_cst, align 4
  br label %retry
retry:
  %c = load atomic i64, ptr @config seq_cst, align 8
  %ep = lshr i64 %c, 32
  %ep1 = add i64 %ep, 1
  %nc = shl i64 %ep1, 32
  %x = cmpxchg ptr @config, i64 %c, i64 %nc seq_cst seq_cst
  %ok = extractvalue {i64, i1} %x, 1
  br i1 %ok, label %wake, label %retry
wake:
  atomicrmw add ptr @gen, i32 1 seq_cst
  call void @wake_all()
  ret void
}

; In a child process after fork(): no worker exists; forget them and any launch in flight.
define void @vdla_pool_after_fork() {
  store i32 0, ptr @busy
  store i32 0, ptr @open
  store i32 0, ptr @active
  store i32 0, ptr @sleepers
  %c = load i64, ptr @config
  %ep = lshr i64 %c, 32
  %ep1 = add i64 %ep, 1
  %nc = shl i64 %ep1, 32
  store i64 %nc, ptr @config
  ret void
}

define ptr @vdla_pool_stats() {
  ret ptr @stats
}

define ptr @vdla_pool_ktids() {
  ret ptr @ktids
}

define i32 @vdla_pool_workers() {
  %c = load atomic i64, ptr @config seq_cst, align 8
  %n = trunc i64 %c to i32
  ret i32 %n
}
"""


_WAIT_EQ = r"""
define internal void @wait_eq$BITS(ptr %p, i$BITS %v) {
entry:
  br label %loop
loop:
  %i = phi i32 [0, %entry], [%i1, %relax], [%i1, %yield]
  %x = load atomic i$BITS, ptr %p seq_cst, align $ALIGN
  %eq = icmp eq i$BITS %x, %v
  br i1 %eq, label %out, label %relax
relax:
  call void @cpu_relax()
  %i1 = add i32 %i, 1
  %long = icmp ugt i32 %i1, 2000
  br i1 %long, label %yield, label %loop
yield:
  call i32 @sched_yield()
  br label %loop
out:
  ret void
}
"""


def _wait_eq(bits: int) -> str:
    """``@wait_eq<bits>``: spin until an atomic ``i<bits>`` equals a value."""
    return string.Template(_WAIT_EQ).substitute(BITS=bits, ALIGN=bits // 8)


def pool_ir(arch: str, chunks_per_thread: int) -> str:
    """The pool's LLVM IR for ``arch`` ("x86_64" or "aarch64")."""
    hint, hint_args, sys_futex, sys_gettid = _ARCH[arch]
    hint_types = ", ".join(a.split()[0] for a in hint_args.split(",") if a)
    return string.Template(_IR).substitute(
        PAUSE_DECL=f"declare void @{hint}({hint_types})",
        PAUSE=f"call void @{hint}({hint_args})", SYS_FUTEX=sys_futex, SYS_GETTID=sys_gettid,
        MAXT=MAX_THREADS, NSTATS=1 << STATS_LOG2, HSHIFT=64 - STATS_LOG2,
        HMASK=(1 << STATS_LOG2) - 1, PROBES=STATS_PROBES, CPT=chunks_per_thread,
        ALLSIGS=", ".join(["i64 -1"] * 16), WAIT_EQ64=_wait_eq(64), WAIT_EQ32=_wait_eq(32))


def _stats_slots(key: int):
    """The table slots ``stats_entry`` probes for function address ``key``, in order."""
    h = (((key >> 4) * 0x9E3779B97F4A7C15) & (2 ** 64 - 1)) >> (64 - STATS_LOG2)
    mask = (1 << STATS_LOG2) - 1
    return ((h + i) & mask for i in range(STATS_PROBES))


class NativePool:
    """The compiled pool: its exported functions as ctypes callables, and its statistics."""

    kind = "native"

    def __init__(self, chunks_per_thread: int) -> None:
        arch = _arch()
        libc = ctypes.CDLL(None)
        for sym in _LIBC:
            llvm.add_symbol(sym, ctypes.cast(getattr(libc, sym), ctypes.c_void_p).value)
        target = host_target()
        text = pool_ir(arch, chunks_per_thread)
        key = jit.cache_key(text, "threadpool", target, 2, "")
        obj = jit.read_cached(key)
        if obj is None:
            obj = jit.compile_object(text, target, 2)
            jit.write_cached(key, obj)
        loaded = jit.LoadedObject(obj, target, list(_EXPORTS))
        # Workers are detached and may still run this code while the interpreter exits:
        # the machine code must never be freed, so the engine is never released.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(loaded))
        a = loaded.addresses
        self.launch_address: int = a["vdla_parallel_launch"]
        self._configure = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int64,
                                           ctypes.c_int32)(a["vdla_pool_configure"])
        self._workers = ctypes.CFUNCTYPE(ctypes.c_int32)(a["vdla_pool_workers"])
        self._after_fork = ctypes.CFUNCTYPE(None)(a["vdla_pool_after_fork"])
        n = 1 << STATS_LOG2
        stats_addr = ctypes.CFUNCTYPE(ctypes.c_void_p)(a["vdla_pool_stats"])()
        self._stats = np.ctypeslib.as_array((ctypes.c_int64 * (4 * n)).from_address(
            stats_addr)).reshape(n, 4)
        ktids_addr = ctypes.CFUNCTYPE(ctypes.c_void_p)(a["vdla_pool_ktids"])()
        self._ktids = np.ctypeslib.as_array((ctypes.c_int32 * MAX_THREADS).from_address(
            ktids_addr))
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def configure(self, threads: int, spin_us: float) -> None:
        """Use ``threads`` threads (the launcher plus workers), spinning ``spin_us`` idle.

        Workers move off the launcher's CPU only when there are CPUs enough for every thread
        (the affinity mask of the calling thread, which new workers inherit).
        """
        threads = min(threads, MAX_THREADS)
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        move = threads <= cpus
        self._configure(threads - 1, int(spin_us * 1000), int(move))

    def stats_row(self, fn_addr: int) -> tuple[int, int, int] | None:
        """(launches, chunks, slot mask) of chunk function ``fn_addr``, or None."""
        for s in _stats_slots(fn_addr):
            row = self._stats[s]
            if row[0] == fn_addr:
                return int(row[1]), int(row[2]), int(row[3]) & (2 ** 64 - 1)
            if row[0] == 0:
                return None
        return None

    def worker_native_ids(self, wait_s: float = 0.1) -> list[int]:
        """Kernel thread ids of the workers (slot order), waiting up to ``wait_s`` for those
        just created to start."""
        deadline = time.monotonic() + wait_s
        while True:
            n = int(self._workers())
            ids = [int(t) for t in self._ktids[1:n + 1] if t]
            if len(ids) == n or time.monotonic() > deadline:
                return ids
            time.sleep(0.001)
