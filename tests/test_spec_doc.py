"""SPEC.md must describe the code: its default-layout table is generated from the encoder."""

from pathlib import Path

from accel.isa.config import KNOB_RANGES, HardwareConfig
from accel.isa.layout import layout_table

SPEC = Path(__file__).resolve().parents[1] / "accel" / "isa" / "SPEC.md"


def test_default_layout_table_matches_encoder():
    text = SPEC.read_text()
    begin = text.index("-->\n", text.index("BEGIN DEFAULT LAYOUT")) + 4
    end = text.index("<!-- END DEFAULT LAYOUT")
    assert text[begin:end] == layout_table(HardwareConfig())


def test_every_knob_is_documented_with_its_default_and_range():
    text = SPEC.read_text()
    default = HardwareConfig()
    for knob, (lo, hi, _) in KNOB_RANGES.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{knob.upper()}` |"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[1] == str(getattr(default, knob)), knob
        assert cells[2].startswith(f"{lo}..{hi}"), knob
