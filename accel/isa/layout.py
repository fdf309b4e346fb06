"""Print the bit layout of every instruction format and the micro-op for a configuration.

``python -m accel.isa.layout [CFG.json]`` prints the Markdown table that SPEC.md section 3
embeds for the default configuration (a test keeps the two identical).
"""

from __future__ import annotations

import sys

from .config import HardwareConfig
from .encoding import formats, uop_fields


def layout_table(cfg: HardwareConfig) -> str:
    rows = ["| format | field | bits |", "|---|---|---|"]
    for fmt, fields in formats(cfg).items():
        rows += [f"| {fmt} | {f.name} | [{f.pos}, {f.pos + f.width - 1}] |" for f in fields]
    rows += [f"| uop | {f.name} | [{f.pos}, {f.pos + f.width - 1}] |" for f in uop_fields(cfg)]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = HardwareConfig.load(argv[0]) if argv else HardwareConfig()
    sys.stdout.write(layout_table(cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
