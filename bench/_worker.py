"""The timing protocol shared by the benchmark worker processes (bench/cpu_ops.py, zoo_cpu.py).

A worker prints one JSON line describing itself, then answers each ``time N`` line on stdin
with one untimed call (the other side ran in between) and a JSON list of N timed calls, until
``quit`` or end of input. Each library runs in its own process so that one's threads cannot
slow the other down.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def serve(call: Callable[[], Any], info: dict[str, Any]) -> int:
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        call()                       # untimed: the other side ran in between
        times = []
        for _ in range(int(cmd[1])):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        print(json.dumps(times), flush=True)
    return 0
