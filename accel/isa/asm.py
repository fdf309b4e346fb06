"""Assembler and disassembler for VDLA programs (SPEC.md section 9).

``assemble(text)`` turns assembly text into a :class:`Bundle`; ``disassemble(bundle)`` prints a
bundle as text that assembles back to a byte-identical bundle (instructions, the whole DRAM
image, regions, config).

Grammar (one statement per line; keywords are case-insensitive, names are case-sensitive)::

    line        := label* [statement] [comment]
    label       := IDENT ":"
    comment     := (";" | "#") <rest of the line>
    statement   := directive | instruction | uop-line

    directive   := ".config" (KNOB "=" NUMBER | "NAME=" NAME)+
                 | ".dram" NUMBER                         total DRAM image bytes
                 | ".region" NAME OFFSET SIZE DTYPE [SHAPE]
                 | ".data" TARGET HEX+
                 | ".uop" NAME                            opens a micro-op block
    uop-line    := "uop" ["dst=" v] ["src=" v] ["wgt=" v] (only inside a .uop block)

    instruction := "load" MEM mem-op* flag*
                 | "store" [MEM] mem-op* flag*            MEM defaults to out
                 | "gemm" loop-op* ["reset"] flag*
                 | "alu" ALUOP loop-op* alu-op* ["reset"] flag*
                 | "finish" flag*
    mem-op      := "sram=" v | "dram=" v | "y=" v | "x=" v | "stride=" v | "pad=" v,v,v,v
    loop-op     := "uop=" v:v | "iter=" v,v | "dst=" v,v | "src=" v,v | "wgt=" v,v (gemm only)
    alu-op      := "imm=" v | "shift=" v | "use_imm=" v
    flag        := "pop_prev" | "pop_next" | "push_prev" | "push_next"

    v           := NUMBER | SYMBOL [("+" | "-") NUMBER]
    NUMBER      := ["-"] (DECIMAL | "0x" HEX)
    NAME,SYMBOL := IDENT | "json string"
    IDENT       := [A-Za-z_][A-Za-z0-9_.]*
    MEM         := uop | wgt | inp | acc | out | NUMBER     ALUOP := min | max | ... | NUMBER
    SHAPE       := DECIMAL ("x" DECIMAL)*                    for example 4x16
    TARGET      := NAME ["+" NUMBER] | NUMBER

Meaning:

- Operands map to fields as follows (SPEC.md section 3): ``sram`` sram_base, ``dram`` dram_base,
  ``y`` y_size, ``x`` x_size, ``stride`` x_stride (default: ``x``), ``pad=top,bottom,left,
  right`` the four pad fields, ``uop=bgn:end``, ``iter=out,in`` (default ``1,1``), ``dst``/
  ``src``/``wgt=out,in`` the loop factors. Every other omitted field is 0.
- ALU: ``imm=N`` sets imm and use_imm=1. MULSHR takes its multiplier from the src element, so
  its rounding shift is written ``shift=N`` (imm=N, use_imm=0), as in ``ProgramBuilder.alu``.
  ``use_imm=0|1`` overrides the implied use_imm; it only appears for illegal programs.
- ``.config`` knobs (SPEC.md section 2) override the config passed to :func:`assemble` (or the
  default); they apply to the whole file wherever they appear.
- ``.region`` declares a named part of the DRAM image; DTYPE is a numpy dtype name or ``uop``.
  ``.dram`` gives the image size; by default it is the end of the last region or ``.data``.
- ``.data NAME HEX...`` writes bytes into region NAME, continuing where the previous ``.data``
  for NAME stopped (at its start at first); ``.data NAME+N`` writes at byte N of the region and
  ``.data NUMBER`` at an absolute DRAM byte offset. Unwritten DRAM is zero.
- ``.uop NAME`` followed by ``uop`` lines fills the ``uop`` region NAME with encoded micro-ops.
- A region name as a ``dram=`` value is the region's offset in elements of the instruction's
  memory type (``Region.elem_index``); ``NAME+N`` adds N elements.
- A label is the index of the next instruction or, inside a ``.uop`` block (a label alone on
  its line or on a ``uop`` line), the index of the next micro-op from the region's start. Labels
  may be used as any numeric operand value (for example ``uop=body:body_end``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from .bundle import Bundle, Region
from .config import KNOB_RANGES, HardwareConfig
from .encoding import (
    DEP_FLAGS,
    FIELD_NAMES,
    INSN_DTYPE,
    AluOp,
    Field,
    MemType,
    Opcode,
    decode_uops,
    encode_uops,
    format_of,
    formats,
    uop_fields,
)
from .errors import AsmError, ConfigError

__all__ = ["assemble", "disassemble"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_.]*"
_QSTR = r'"(?:[^"\\]|\\.)*"'
_UNUM = r"(?:0[xX][0-9a-fA-F]+|[0-9]+)"
_IDENT_RE = re.compile(_IDENT + r"\Z")
_NUM_RE = re.compile(r"[+-]?" + _UNUM + r"\Z")
_SYM_RE = re.compile(rf"(?P<name>{_IDENT}|{_QSTR})(?:(?P<sign>[+-])(?P<off>{_UNUM}))?\Z")
_SHAPE_RE = re.compile(r"[0-9]+(?:x[0-9]+)*\Z")
_TOKEN_RE = re.compile(
    rf'\s*(?:(?P<comment>[;#])|(?P<tok>(?:[^\s";#]|{_QSTR})+)|(?P<bad>"))')

_MNEMONICS = {"load": Opcode.LOAD, "store": Opcode.STORE, "gemm": Opcode.GEMM,
              "alu": Opcode.ALU, "finish": Opcode.FINISH}
_MEM_OPS = {"sram": ("sram_base",), "dram": ("dram_base",), "y": ("y_size",),
            "x": ("x_size",), "stride": ("x_stride",),
            "pad": ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
_LOOP_OPS = {"uop": ("uop_bgn", "uop_end"), "iter": ("iter_out", "iter_in"),
             "dst": ("dst_factor_out", "dst_factor_in"),
             "src": ("src_factor_out", "src_factor_in")}
#: mnemonic -> (operand key -> fields it sets, bare flags allowed)
_SYNTAX: dict[str, tuple[dict[str, tuple[str, ...]], tuple[str, ...]]] = {
    "load": (_MEM_OPS, DEP_FLAGS),
    "store": (_MEM_OPS, DEP_FLAGS),
    "gemm": ({**_LOOP_OPS, "wgt": ("wgt_factor_out", "wgt_factor_in")}, ("reset",) + DEP_FLAGS),
    "alu": ({**_LOOP_OPS, "imm": ("imm",), "shift": ("imm",), "use_imm": ("use_imm",)},
            ("reset",) + DEP_FLAGS),
    "finish": ({}, DEP_FLAGS),
}
_EXAMPLE = {"pad": "pad=1,1,0,0", "uop": "uop=0:8", "iter": "iter=16,4", "dst": "dst=16,0",
            "src": "src=4,1", "wgt": "wgt=0,1"}
_KNOBS = {k.upper() for k in KNOB_RANGES}
_MEM_VALUES = frozenset(int(m) for m in MemType)
_MAX_DRAM = 1 << 32
_DATA_LINE = 64  # bytes per disassembled .data line


@dataclass
class _Stmt:
    line: int
    head: str
    args: list[str]
    children: list[_Stmt] = field(default_factory=list)  # the uop lines of a .uop block


def _tokenize(text: str) -> list[str] | None:
    """Split one line into tokens, dropping the comment; None if a string is unterminated."""
    if '"' not in text:  # the common case, fast
        return text.split(";", 1)[0].split("#", 1)[0].split()
    toks: list[str] = []
    pos = 0
    while True:
        m = _TOKEN_RE.match(text, pos)
        if m is None or m["comment"]:
            return toks
        if m["bad"]:
            return None
        toks.append(m["tok"])
        pos = m.end()


def _to_int(tok: str) -> int:
    sign = -1 if tok[0] == "-" else 1
    body = tok.lstrip("+-")
    return sign * int(body, 16 if body[:2].lower() == "0x" else 10)


def _name_tok(name: str) -> str:
    """How a name is written: bare if it is an identifier, else as a JSON string."""
    return name if _IDENT_RE.match(name) else json.dumps(name)


def _enum_name(enum: type, value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return str(value)


class _Assembler:
    def __init__(self, base: HardwareConfig, source: str) -> None:
        self.base = base
        self.source = source
        self.cfg = base
        self.labels: dict[str, tuple[int, int]] = {}  # name -> (value, line)
        self.regions: dict[str, tuple[Region, int]] = {}  # name -> (region, line)
        self.knobs: dict[str, tuple[int | str, int]] = {}
        self.dram_size: tuple[int, int] | None = None
        self.data: list[_Stmt] = []
        self.insns: list[_Stmt] = []
        self.fields: dict[str, dict[str, Field]] = {}

    def err(self, line: int, message: str) -> AsmError:
        return AsmError(line, message, self.source)

    # ------------------------------------------------------------- pass 1: scan
    def scan(self, text: str) -> None:
        block: _Stmt | None = None  # the open .uop block
        for lineno, raw in enumerate(text.split("\n"), 1):
            toks = _tokenize(raw.rstrip("\r"))
            if toks is None:
                raise self.err(lineno, "unterminated string (a '\"' without its closing '\"')")
            labels = []
            while toks and toks[0].endswith(":"):
                name = toks.pop(0)[:-1]
                if not _IDENT_RE.match(name):
                    raise self.err(lineno, f"bad label {name + ':'!r}: a label is a name made "
                                           "of letters, digits, '_' and '.', not starting "
                                           "with a digit")
                labels.append(name)
            head = toks[0].lower() if toks else ""
            if head != "uop" and toks:
                block = None
            where = len(block.children) if block is not None else len(self.insns)
            for name in labels:
                self.define(name, where, lineno)
            if not toks:
                continue
            st = _Stmt(lineno, head, toks[1:])
            if head == "uop":
                if block is None:
                    raise self.err(lineno, "a 'uop' line must follow a '.uop NAME' directive "
                                           "or another 'uop' line")
                block.children.append(st)
            elif head.startswith("."):
                self.directive(st)
                if head == ".uop":
                    block = st
            elif head in _MNEMONICS:
                self.insns.append(st)
            else:
                raise self.err(lineno, f"unknown mnemonic {toks[0]!r}; expected one of "
                                       + ", ".join(_MNEMONICS) + " or a directive")

    def define(self, name: str, value: int, line: int) -> None:
        if name in self.labels:
            raise self.err(line, f"duplicate label {name!r} (first defined on line "
                                 f"{self.labels[name][1]})")
        if name in self.regions:
            raise self.err(line, f"label {name!r} has the name of the region declared on line "
                                 f"{self.regions[name][1]}")
        self.labels[name] = (value, line)

    def number(self, tok: str, line: int, what: str, *, lo: int | None = 0) -> int:
        if not _NUM_RE.match(tok):
            raise self.err(line, f"{what}: bad number {tok!r} (expected decimal or 0x hex)")
        v = _to_int(tok)
        if lo is not None and v < lo:
            raise self.err(line, f"{what}: {v} is negative")
        return v

    def name(self, tok: str, line: int, what: str) -> str:
        if _IDENT_RE.match(tok):
            return tok
        if tok.startswith('"'):
            try:
                value = json.loads(tok)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, str):
                return value
        raise self.err(line, f"{what}: bad name {tok!r} (use letters, digits, '_' and '.', or "
                             "a double-quoted string)")

    def directive(self, st: _Stmt) -> None:
        line, args = st.line, st.args
        if st.head == ".config":
            if not args:
                raise self.err(line, ".config needs KNOB=VALUE operands")
            for tok in args:
                key, eq, val = tok.partition("=")
                key = key.upper()
                if not eq:
                    raise self.err(line, f".config: expected KNOB=VALUE, got {tok!r}")
                if key not in _KNOBS and key != "NAME":
                    raise self.err(line, f".config: unknown knob {key!r}; known knobs: "
                                         + ", ".join(sorted(_KNOBS | {"NAME"})))
                if key in self.knobs:
                    raise self.err(line, f".config: knob {key} given twice (first on line "
                                         f"{self.knobs[key][1]})")
                if key == "NAME":
                    value: int | str = (_to_int(val) if _NUM_RE.match(val)
                                        else self.name(val, line, ".config NAME"))
                else:
                    value = self.number(val, line, f".config {key}", lo=None)
                self.knobs[key] = (value, line)
        elif st.head == ".dram":
            if len(args) != 1:
                raise self.err(line, ".dram takes one operand: the DRAM image size in bytes")
            if self.dram_size is not None:
                raise self.err(line, f".dram given twice (first on line {self.dram_size[1]})")
            self.dram_size = (self.number(args[0], line, ".dram"), line)
            if self.dram_size[0] > _MAX_DRAM:
                raise self.err(line, f".dram: {args[0]} bytes exceeds the {_MAX_DRAM}-byte "
                                     "limit of a DRAM image")
        elif st.head == ".region":
            self.region(st)
        elif st.head == ".data":
            if len(args) < 2:
                raise self.err(line, ".data needs a target (region name or byte offset) and "
                                     "hex bytes")
            self.data.append(st)
        elif st.head == ".uop":
            if len(args) != 1:
                raise self.err(line, ".uop takes one operand: the name of a 'uop' region")
            self.data.append(st)
        else:
            raise self.err(line, f"unknown directive {st.head!r}; expected one of .config, "
                                 ".dram, .region, .data, .uop")

    def region(self, st: _Stmt) -> None:
        line, args = st.line, st.args
        if len(args) not in (4, 5):
            raise self.err(line, ".region takes NAME OFFSET SIZE DTYPE [SHAPE], for example "
                                 "'.region A 0 256 int8 16x16'")
        name = self.name(args[0], line, ".region")
        if name in self.regions:
            raise self.err(line, f"duplicate region {name!r} (first declared on line "
                                 f"{self.regions[name][1]})")
        if name in self.labels:
            raise self.err(line, f"region {name!r} has the name of the label on line "
                                 f"{self.labels[name][1]}")
        offset = self.number(args[1], line, ".region OFFSET")
        size = self.number(args[2], line, ".region SIZE")
        dtype = self.name(args[3], line, ".region DTYPE")
        if dtype != "uop":
            try:
                np.dtype(dtype)
            except Exception:  # numpy raises TypeError, ValueError or SyntaxError
                raise self.err(line, f".region: unknown dtype {dtype!r} (use a numpy dtype "
                                     "name such as int8, int32, uint8, or uop)") from None
        shape: tuple[int, ...] = ()
        if len(args) == 5:
            if not _SHAPE_RE.match(args[4]):
                raise self.err(line, f".region: bad shape {args[4]!r} (write dimensions "
                                     "joined by 'x', for example 4x16)")
            shape = tuple(int(n) for n in args[4].split("x"))
        if offset + size > _MAX_DRAM:
            raise self.err(line, f".region {name!r} ends at byte {offset + size}, beyond the "
                                 f"{_MAX_DRAM}-byte limit of a DRAM image")
        self.regions[name] = (Region(name, offset, size, dtype, shape), line)

    # ------------------------------------------------------------ pass 2: build
    def build(self) -> Bundle:
        self.cfg = self.config()
        self.fields = {fmt: {f.name: f for f in fs} for fmt, fs in formats(self.cfg).items()}
        chunks = self.chunks()
        ends = [r.offset + r.size for r, _ in self.regions.values()]
        ends += [off + len(raw) for off, raw, _ in chunks]
        if self.dram_size is None:
            size = max(ends, default=0)
        else:
            size, dline = self.dram_size
            for r, line in self.regions.values():
                if r.offset + r.size > size:
                    raise self.err(line, f"region {r.name!r} [{r.offset}, {r.offset + r.size}) "
                                         f"lies outside the DRAM image of {size} bytes (.dram "
                                         f"on line {dline})")
            for off, raw, line in chunks:
                if off + len(raw) > size:
                    raise self.err(line, f".data [{off}, {off + len(raw)}) lies outside the "
                                         f"DRAM image of {size} bytes (.dram on line {dline})")
        image = bytearray(size)
        for off, raw, _ in chunks:
            image[off:off + len(raw)] = raw
        rows = [self.insn(st) for st in self.insns]
        insns = np.array(rows, dtype=INSN_DTYPE) if rows else np.zeros(0, dtype=INSN_DTYPE)
        return Bundle(self.cfg, insns, np.frombuffer(image, dtype=np.uint8).copy(),
                      [r for r, _ in self.regions.values()])

    def config(self) -> HardwareConfig:
        if not self.knobs:
            return self.base
        doc = self.base.to_dict()
        doc.update({k: v for k, (v, _) in self.knobs.items()})
        try:
            return HardwareConfig.from_dict(doc, source=".config")
        except ConfigError as exc:
            msg = str(exc)
            named = [ln for k, (_, ln) in self.knobs.items() if k in msg]
            line = named[0] if named else max(ln for _, ln in self.knobs.values())
            raise self.err(line, f"invalid configuration: {msg}") from None

    def chunks(self) -> list[tuple[int, bytes, int]]:
        """The DRAM bytes that .data and .uop write: (offset, bytes, line)."""
        out: list[tuple[int, bytes, int]] = []
        cursor: dict[str, int] = {}
        for st in self.data:
            if st.head == ".uop":
                r = self.region_named(st.args[0], st.line, ".uop")
                if r.dtype != "uop":
                    raise self.err(st.line, f".uop: region {r.name!r} has dtype {r.dtype}; "
                                            "micro-ops need a region of dtype uop")
                raw = self.uops(st.children)
                if len(raw) > r.size:
                    raise self.err(st.children[r.size // 4].line,
                                   f"micro-op {r.size // 4} overflows region {r.name!r} of "
                                   f"{r.size} bytes ({r.size // 4} micro-ops)")
                out.append((r.offset, raw, st.line))
                cursor[r.name] = r.offset + len(raw)
                continue
            target, line = st.args[0], st.line
            try:
                raw = bytes.fromhex("".join(st.args[1:]))
            except ValueError as exc:
                raise self.err(line, f".data: bad hex bytes ({exc})") from None
            if _NUM_RE.match(target):
                off = self.number(target, line, ".data offset")
                if off + len(raw) > _MAX_DRAM:
                    raise self.err(line, f".data ends beyond the {_MAX_DRAM}-byte limit of a "
                                         "DRAM image")
                out.append((off, raw, line))
                continue
            m = _SYM_RE.match(target)
            if not m or m["sign"] == "-":
                raise self.err(line, f".data: bad target {target!r} (expected a region name, "
                                     "NAME+OFFSET or an absolute byte offset)")
            r = self.region_named(m["name"], line, ".data")
            start = r.offset + _to_int(m["off"]) if m["off"] else cursor.get(r.name, r.offset)
            if start + len(raw) > r.offset + r.size:
                raise self.err(line, f".data: {len(raw)} bytes at byte {start - r.offset} "
                                     f"overflow region {r.name!r} of {r.size} bytes")
            out.append((start, raw, line))
            cursor[r.name] = start + len(raw)
        return out

    def region_named(self, tok: str, line: int, what: str) -> Region:
        name = self.name(tok, line, what)
        if name not in self.regions:
            raise self.err(line, f"{what}: unknown region {name!r}")
        return self.regions[name][0]

    def uops(self, lines: list[_Stmt]) -> bytes:
        widths = {f.name: f for f in uop_fields(self.cfg)}
        cols: dict[str, list[int]] = {"dst": [], "src": [], "wgt": []}
        for st in lines:
            vals: dict[str, int] = {}
            for tok in st.args:
                key, eq, val = tok.partition("=")
                key = key.lower()
                if not eq or key not in cols:
                    raise self.err(st.line, f"uop: unknown operand {tok!r}; expected dst=N, "
                                            "src=N, wgt=N")
                if key in vals:
                    raise self.err(st.line, f"uop: operand {key}= given twice")
                vals[key] = self.field(widths[key], val, st.line, key)
            for key, col in cols.items():
                col.append(vals.get(key, 0))
        words = encode_uops(self.cfg, cols["dst"], cols["src"], cols["wgt"])
        return words.astype("<u4").tobytes()

    def field(self, fld: Field, tok: str, line: int, key: str, mem: int | None = None) -> int:
        """The value of operand ``key`` for field ``fld``, checked against the field's width."""
        v = self.value(tok, line, key, mem)
        if not fld.lo <= v <= fld.hi:
            via = f" (from {key}=)" if key != fld.name else ""
            raise self.err(line, f"{fld.name}={v}{via} does not fit its {fld.width}-bit field "
                                 f"(allowed {fld.lo}..{fld.hi})")
        return v

    def value(self, tok: str, line: int, key: str, mem: int | None = None) -> int:
        """A numeric operand: a number, a label, or (for dram=) a region, plus an offset."""
        if tok.isascii() and tok.isdigit():  # fast path for plain decimals
            return int(tok)
        if _NUM_RE.match(tok):
            return _to_int(tok)
        m = _SYM_RE.match(tok)
        if not m:
            raise self.err(line, f"{key}=: bad value {tok!r} (expected a number, decimal or 0x "
                                 "hex, a label or a region name)")
        name = self.name(m["name"], line, f"{key}=")
        off = _to_int(m["off"]) if m["off"] else 0
        off = -off if m["sign"] == "-" else off
        if name in self.labels:
            return self.labels[name][0] + off
        if name not in self.regions:
            raise self.err(line, f"{key}=: unknown label or region {name!r}")
        r = self.regions[name][0]
        if key != "dram":
            raise self.err(line, f"{key}=: region {name!r} can only be used as a dram= value")
        if mem not in _MEM_VALUES:
            raise self.err(line, f"dram=: region {name!r} needs a memory type (one of "
                                 "uop, wgt, inp, acc, out) to convert bytes to elements")
        e = self.cfg.elem_bytes(MemType(mem).name.lower())
        if r.offset % e:
            raise self.err(line, f"dram=: region {name!r} at byte {r.offset} is not aligned to "
                                 f"the {e}-byte elements of {MemType(mem).name.lower()}")
        return r.offset // e + off

    def insn(self, st: _Stmt) -> tuple[int, ...]:
        line, head, args = st.line, st.head, list(st.args)
        ops, flags = _SYNTAX[head]
        opcode = _MNEMONICS[head]
        fields = self.fields[format_of(opcode)]
        f = dict.fromkeys(FIELD_NAMES, 0)
        f["opcode"] = int(opcode)
        positional = bool(args) and "=" not in args[0] and args[0].lower() not in flags
        if head in ("load", "alu") and not positional:
            what = ("a memory (uop, wgt, inp, acc or out)" if head == "load" else
                    "an operation (" + ", ".join(o.name.lower() for o in AluOp) + ")")
            raise self.err(line, f"{head} needs {what} as its first operand")
        if head == "store":
            f["mem_type"] = int(MemType.OUT)
        if positional and head in ("load", "store", "alu"):
            tok = args.pop(0)
            enum, key = (AluOp, "alu_op") if head == "alu" else (MemType, "mem_type")
            if _NUM_RE.match(tok):
                f[key] = self.field(fields[key], tok, line, key)
            elif tok.upper() in enum.__members__:
                f[key] = int(enum[tok.upper()])
            else:
                raise self.err(line, f"{head}: unknown {'operation' if head == 'alu' else 'memory'}"
                                     f" {tok!r}; expected one of "
                                     + ", ".join(m.lower() for m in enum.__members__))
        seen: set[str] = set()
        for tok in args:
            key, eq, val = tok.partition("=")
            key = key.lower()
            if key in seen:
                raise self.err(line, f"{'operand ' + key + '=' if eq else 'flag ' + key} "
                                     "given twice")
            seen.add(key)
            if not eq:
                if key not in flags:
                    kind = "flag" if key in DEP_FLAGS or key == "reset" else "operand"
                    raise self.err(line, f"{head}: unknown {kind} {tok!r}; allowed flags: "
                                         + ", ".join(flags))
                f[key] = 1
                continue
            if key not in ops:
                raise self.err(line, f"{head}: unknown operand {key}=; allowed: "
                                     + ", ".join(k + "=" for k in ops))
            names = ops[key]
            sep = ":" if key == "uop" else ","
            vals = val.split(sep) if len(names) > 1 else [val]
            if len(vals) != len(names):
                raise self.err(line, f"{key}= takes {len(names)} values separated by '{sep}', "
                                     f"for example {_EXAMPLE[key]}")
            for name, v in zip(names, vals):
                f[name] = self.field(fields[name], v, line, key, f["mem_type"])
        if head in ("load", "store") and "stride" not in seen:
            f["x_stride"] = f["x_size"]
        if head in ("gemm", "alu") and "iter" not in seen:
            f["iter_out"] = f["iter_in"] = 1
        if head == "alu":
            mulshr = f["alu_op"] == AluOp.MULSHR
            if mulshr and "imm" in seen:
                raise self.err(line, "mulshr takes its multiplier from the src element; write "
                                     "its rounding shift as shift=N")
            if not mulshr and "shift" in seen:
                raise self.err(line, "shift= is only for mulshr; use imm=N for an immediate")
            if "use_imm" not in seen:
                f["use_imm"] = int("imm" in seen)
        return tuple(f.values())  # in FIELD_NAMES order


def assemble(text: str, cfg: HardwareConfig | None = None, *, source: str = "<asm>") -> Bundle:
    """Assemble ``text`` (grammar in the module docstring) into a bundle.

    ``cfg`` is the configuration to start from (default: the default configuration); ``.config``
    directives override its knobs. Raises :class:`AsmError` naming the line of any mistake.
    """
    asm = _Assembler(cfg or HardwareConfig(), source)
    asm.scan(text)
    return asm.build()


# ------------------------------------------------------------------- disassembler
def _nonzero_lines(raw: np.ndarray) -> list[int]:
    """Indices of the 64-byte lines of ``raw`` that hold a nonzero byte."""
    nlines = -(-len(raw) // _DATA_LINE)
    padded = np.zeros(nlines * _DATA_LINE, dtype=np.uint8)
    padded[:len(raw)] = raw
    return np.flatnonzero(padded.reshape(nlines, _DATA_LINE).any(axis=1)).tolist()


def _region_data(target: str, raw: np.ndarray) -> list[str]:
    """``.data`` lines for the nonzero 64-byte lines of a region's bytes ``raw``: ``.data NAME``
    continues the previous line, ``.data NAME+N`` starts after a gap of zeros."""
    hexed, step = raw.tobytes().hex(), 2 * _DATA_LINE
    out, prev = [], -1
    for i in _nonzero_lines(raw):
        where = target if i == prev + 1 else f"{target}+{i * _DATA_LINE}"
        out.append(f".data {where} {hexed[i * step:(i + 1) * step]}")
        prev = i
    return out


def _stray_data(dram: np.ndarray, covered: np.ndarray) -> list[str]:
    """``.data 0xOFFSET`` lines for nonzero bytes outside every region (whole 64-byte lines:
    rewriting bytes of a region with their own value is harmless)."""
    hexed, step = dram.tobytes().hex(), 2 * _DATA_LINE
    stray = np.where(covered, np.uint8(0), dram).astype(np.uint8)
    return [f".data {i * _DATA_LINE:#x} {hexed[i * step:(i + 1) * step]}"
            for i in _nonzero_lines(stray)]


def _uop_block(bundle: Bundle, r: Region) -> list[str] | None:
    """A ``.uop`` block for region ``r``, or None if its bytes are not exactly micro-ops."""
    if r.size % 4:
        return None
    words = np.frombuffer(bundle.dram[r.offset:r.offset + r.size].tobytes(), dtype="<u4")
    dst, src, wgt = decode_uops(bundle.config, words)
    if not np.array_equal(encode_uops(bundle.config, dst, src, wgt), words):
        return None  # high bits beyond the micro-op fields are set
    return [f".uop {_name_tok(r.name)}"] + [
        f"    uop dst={d} src={s} wgt={w}"
        for d, s, w in zip(dst.tolist(), src.tolist(), wgt.tolist())]


class _DramSymbols:
    """Writes a dram_base as ``REGION+N`` when it falls inside an aligned region."""

    def __init__(self, bundle: Bundle) -> None:
        self.cfg = bundle.config
        self.regions = sorted(enumerate(bundle.regions), key=lambda ir: (-ir[1].offset, ir[0]))

    def __call__(self, mem: int, base: int) -> str:
        if mem not in _MEM_VALUES:
            return str(base)
        e = self.cfg.elem_bytes(MemType(mem).name.lower())
        addr = base * e
        for _, r in self.regions:
            if r.offset <= addr < r.offset + r.size and r.offset % e == 0:
                k = base - r.offset // e
                return _name_tok(r.name) + (f"+{k}" if k else "")
        return str(base)


def _format_insn(row: dict[str, int], dram: _DramSymbols) -> str:
    op = Opcode(row["opcode"])
    words = [op.name.lower()]
    if op in (Opcode.LOAD, Opcode.STORE):
        if op == Opcode.LOAD or row["mem_type"] != MemType.OUT:
            words.append(_enum_name(MemType, row["mem_type"]))
        words += [f"sram={row['sram_base']}", f"dram={dram(row['mem_type'], row['dram_base'])}",
                  f"y={row['y_size']}", f"x={row['x_size']}"]
        if row["x_stride"] != row["x_size"]:
            words.append(f"stride={row['x_stride']}")
        pad = [row[k] for k in _MEM_OPS["pad"]]
        if any(pad):
            words.append("pad=" + ",".join(map(str, pad)))
    elif op in (Opcode.GEMM, Opcode.ALU):
        if op == Opcode.ALU:
            words.append(_enum_name(AluOp, row["alu_op"]))
        words += [f"uop={row['uop_bgn']}:{row['uop_end']}",
                  f"iter={row['iter_out']},{row['iter_in']}"]
        pairs = ("dst", "src", "wgt") if op == Opcode.GEMM else ("dst", "src")
        for key in pairs:
            a, b = row[f"{key}_factor_out"], row[f"{key}_factor_in"]
            if a or b:
                words.append(f"{key}={a},{b}")
        if op == Opcode.ALU:
            if row["alu_op"] == AluOp.MULSHR:
                if row["imm"]:
                    words.append(f"shift={row['imm']}")
                if row["use_imm"]:
                    words.append("use_imm=1")
            elif row["use_imm"]:
                words.append(f"imm={row['imm']}")
            elif row["imm"]:
                words += [f"imm={row['imm']}", "use_imm=0"]
        if row["reset"]:
            words.append("reset")
    words += [flag for flag in DEP_FLAGS if row[flag]]
    return " ".join(words)


def disassemble(bundle: Bundle, *, data: bool = True) -> str:
    """Print ``bundle`` as assembly text that :func:`assemble` turns back into the same bundle.

    With ``data=False`` the ``.data`` lines (raw DRAM contents) are left out, so those bytes
    assemble to zeros; ``.uop`` blocks are kept since they are part of the program's logic.
    """
    cfg, dram = bundle.config, bundle.dram
    out = [f"; vdla program: {len(bundle.insns)} instructions, {len(dram)} bytes of DRAM, "
           f"{len(bundle.regions)} regions"]
    knobs = [f"{k}={v}" for k, v in cfg.to_dict().items() if k != "NAME"]
    name = cfg.name
    knobs.append(f"NAME={name}" if isinstance(name, int) else f"NAME={_name_tok(str(name))}")
    out += [".config " + " ".join(knobs[i:i + 4]) for i in range(0, len(knobs), 4)]
    out.append(f".dram {len(dram)}")
    for r in bundle.regions:
        shape = " " + "x".join(map(str, r.shape)) if r.shape else ""
        out.append(f".region {_name_tok(r.name)} {r.offset} {r.size} {_name_tok(r.dtype)}{shape}")
    covered = np.zeros(len(dram), dtype=bool)
    for r in bundle.regions:
        covered[r.offset:r.offset + r.size] = True
        block = _uop_block(bundle, r) if r.dtype == "uop" else None
        if block is not None:
            out += block
        elif data:
            out += _region_data(_name_tok(r.name), dram[r.offset:r.offset + r.size])
    if data:
        out += _stray_data(dram, covered)
    else:
        out.append("; DRAM contents omitted (.data lines left out)")
    if len(bundle.insns):
        out.append("")
    symbols = _DramSymbols(bundle)
    for i, rec in enumerate(bundle.insns.tolist()):
        text = _format_insn(dict(zip(FIELD_NAMES, rec)), symbols)
        out.append(f"{text:<60} ; {i}")
    return "\n".join(out) + "\n"
