"""Generate the constants and records that RTL and C share with Python from the contracts (atalla/).

    rtl/atalla_pkg.sv           from isa.py and numerics.py
    include/atalla_abi.h        from isa.py, numerics.py, blob_format.py, config.py and runtime_abi.py
    rtl/tb/atalla_tb_formats.h  from tb_formats.py (the testbench's C++)
    runtime/c/atalla_host_ops.h from host_ops.py (the C loader's allow-list)

The Python modules are the one definition; RTL, C firmware and the testbench include these
generated files so they can never disagree. `python -m atalla.codegen` rewrites them (`make
generate`); `python -m atalla.codegen --check` exits 1 if one is stale, and tests/test_codegen.py
fails.
"""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

import numpy as np

from atalla import blob_format as bf
from atalla import command_rules
from atalla import isa
from atalla import host_ops
from atalla import numerics as nu
from atalla import runtime_abi as rabi
from atalla import tb_formats as tb
from atalla.config import CONFIG_NAME_BYTES

ROOT = Path(__file__).resolve().parents[1]
SV_PATH = Path("rtl/atalla_pkg.sv")
C_PATH = Path("include/atalla_abi.h")
TB_C_PATH = Path("rtl/tb/atalla_tb_formats.h")
HOST_OPS_C_PATH = Path("runtime/c/atalla_host_ops.h")

# (enum, item prefix, type name, SV width): SV `typedef enum logic [w-1:0] {...} <name>_e`, C `enum atalla_<name>`.
# Mailbox-level values travel in 32-bit mailbox words.
ISA_ENUMS: tuple[tuple[type[IntEnum], str, str, int], ...] = (
    (isa.Opcode, "OP_", "opcode", isa.OPCODE_BITS),
    (isa.VecFunc, "VEC_", "vec_func", isa.FUNC_BITS),
    (isa.BMode, "BMODE_", "bmode", 2),
    (isa.MailboxCall, "CALL_", "mailbox_call", 32),
    (isa.DmaDirection, "DMA_DIR_", "dma_direction", 32),
    (isa.Status, "STATUS_", "status", 32),
    (isa.Fault, "FAULT_", "fault", 8),
    (isa.TraceEvent, "TRACE_", "trace_event", 32),
)
# VEC function sets as SV predicates `is_<name>_func(vec_func_e)`.
FUNC_SETS: tuple[tuple[str, frozenset[isa.VecFunc], str], ...] = (
    ("unary", isa.UNARY_FUNCS, "read no b operand"),
    ("reduce", isa.REDUCE_FUNCS, "reduce each row to one column"),
)
BLOB_ENUMS: tuple[tuple[type[IntEnum], str, str], ...] = (
    (bf.SectionKind, "SECTION_", "section_kind"),
    (bf.DType, "DTYPE_", "dtype"),
    (bf.Role, "ROLE_", "role"),
)
RUNTIME_ENUMS: tuple[tuple[type[IntEnum], str, str], ...] = (
    (rabi.LoadError, "LOAD_", "load_error"),
    (rabi.RunFailure, "RUN_", "run_failure"),
)


def _doc(cls: type) -> str:
    return cls.__doc__.strip().splitlines()[0] if cls.__doc__ else f"{cls.__name__} values"


def _flags() -> list[tuple[str, int]]:
    """Flag bits as (name, value)."""
    return [(f"FLAG_{f.name}", int(f)) for f in isa.Flag]


def _field_words() -> list[tuple[str, int]]:
    return [(f"{op.name}_{f.upper()}_WORD", 1 + i) for op, names in isa.COMMAND_FIELDS.items()
            for i, f in enumerate(names)]


def _mailbox_args() -> list[tuple[str, int]]:
    out = []
    for call, names in isa.MAILBOX_ARGS.items():
        out += [(f"{call.name}_ARG_{a.upper()}", i) for i, a in enumerate(names)]
        out.append((f"{call.name}_ARG_COUNT", len(names)))
    return out


def _word0_layout() -> str:
    def field(name: str, shift: int, bits: int) -> str:
        return f"{name}[{shift + bits - 1}:{shift}]"

    return " | ".join((field("opcode", 0, isa.OPCODE_BITS), field("func", isa.FUNC_SHIFT, isa.FUNC_BITS),
                       field("flags", isa.FLAGS_SHIFT, isa.FLAGS_BITS)))


def _scalars() -> list[tuple[str, int, str]]:
    return [
        ("COMMAND_WORDS", isa.COMMAND_WORDS, "32-bit little-endian words per command"),
        ("COMMAND_BYTES", isa.COMMAND_BYTES, ""),
        ("OPCODE_BITS", isa.OPCODE_BITS, f"word 0 = {_word0_layout()}"),
        ("FUNC_SHIFT", isa.FUNC_SHIFT, ""),
        ("FUNC_BITS", isa.FUNC_BITS, ""),
        ("FLAGS_SHIFT", isa.FLAGS_SHIFT, ""),
        ("FLAGS_BITS", isa.FLAGS_BITS, ""),
        ("REF_HANDLE_SHIFT", isa.REF_HANDLE_SHIFT, "buffer reference = handle[31:24] | row[23:0]"),
        ("MAILBOX_MAX_ARGS", isa.MAILBOX_MAX_ARGS, "argument words of the longest mailbox call"),
        ("NUM_OPCODES", max(isa.Opcode) + 1, "opcodes are numbered densely from 0"),
        ("NUM_VEC_FUNCS", max(isa.VecFunc) + 1, "VEC functions are numbered densely from 0"),
        ("GEMM_QUEUE_DEPTH", isa.GEMM_QUEUE_DEPTH, "GEMM commands the GEMM unit holds"),
        ("BF16_BYTES", isa.BF16_BYTES, "a bf16 element; a scratchpad row holds lanes of them"),
        ("SP_ROWS_PER_FP32_ROW", isa.SP_ROWS_PER_FP32_ROW, "scratchpad rows an fp32 tile row takes"),
        ("INDEX_BYTES", isa.INDEX_BYTES, "a GATHER's row id: an int32"),
    ]


def _numerics() -> list[tuple[str, int, int, str]]:
    """(name, value, bits, note) of the numerics constants; 0 bits: an integer, not a bit pattern."""
    return [
        ("F32_CANONICAL_NAN", int(nu.F32_CANONICAL_NAN), 32, "every fp32 NaN result"),
        ("BF16_CANONICAL_NAN", int(nu.BF16_CANONICAL_NAN), 16, "every bf16 NaN result"),
        ("LDEXP_LIMIT", nu.LDEXP_LIMIT, 0, "LDEXP saturates |n| to this"),
        ("DIV_QUOTIENT_BITS", nu.DIV_QUOTIENT_BITS, 0, "DIV: quotient bits of the long division"),
        *((name, _f32_bits(getattr(nu, name)), 32, f"EXP: {note}") for name, note in (
            ("EXP_LO", "the input clamped from below"), ("EXP_HI", "the input clamped from above"),
            ("LOG2E", "n = round(t * LOG2E)"), ("LN2_HI", "r = (t - n * LN2_HI) - n * LN2_LO"),
            ("LN2_LO", "the low part of ln 2"))),
        *((f"EXP_POLY_{i}", _f32_bits(c), 32, f"EXP: the polynomial's coefficient of r^{len(nu.EXP_POLY) - 1 - i}")
          for i, c in enumerate(nu.EXP_POLY)),
        ("EXP_POLY_TERMS", len(nu.EXP_POLY), 0, "EXP: coefficients, highest first"),
    ]


def _f32_bits(value) -> int:
    return int(np.float32(value).view(np.uint32))


HEADER_NOTE = "Generated by atalla/codegen.py from {src}. Do not edit. Regenerate with `make generate`."


def sv_package() -> str:
    lines = [
        f"// {HEADER_NOTE.format(src='atalla/isa.py and atalla/numerics.py')}",
        "",
        "// A definitions package: not every design uses every constant.",
        "/* verilator lint_off UNUSEDPARAM */",
        "package atalla_pkg;",
        "",
    ]
    for name, value, note in _scalars():
        lines.append(f"  localparam int {name} = {value};" + (f"  // {note}" if note else ""))
    lines.append(f"  localparam int REF_ROW_MASK = 32'h{isa.REF_ROW_MASK:08x};")
    for cls, prefix, type_name, width in ISA_ENUMS:
        lines += ["", f"  // {_doc(cls)}", f"  typedef enum logic [{width - 1}:0] {{"]
        members = list(cls)
        for i, m in enumerate(members):
            lines.append(f"    {prefix}{m.name} = {width}'d{int(m)}" + ("," if i < len(members) - 1 else ""))
        lines.append(f"  }} {type_name}_e;")
    for name, funcs, note in FUNC_SETS:
        members = ", ".join(f"VEC_{f.name}" for f in sorted(funcs))
        lines += ["", f"  // True for the VEC functions that {note} (isa.{name.upper()}_FUNCS).",
                  f"  function automatic logic is_{name}_func(vec_func_e func);",
                  f"    return func inside {{{members}}};", "  endfunction"]
    lines += ["", f"  // {_doc(isa.Flag)}"]
    flags = f"logic [{isa.FLAGS_BITS - 1}:0]"
    lines += [f"  localparam {flags} {n} = {isa.FLAGS_BITS}'h{v:04x};" for n, v in _flags()]
    lines.append(f"  localparam int BMODE_SHIFT = {int(isa.BMODE_SHIFT)};")
    lines.append(f"  localparam {flags} BMODE_MASK = {isa.FLAGS_BITS}'h{isa.BMODE_MASK:04x};")
    lines += ["", "  // Numerics (atalla/numerics.py, docs/numerics.md)."]
    for name, value, bits, note in _numerics():
        kind, literal = (f"logic [{bits - 1}:0]", f"{bits}'h{value:0{bits // 4}x}") if bits else ("int", value)
        lines.append(f"  localparam {kind} {name} = {literal};  // {note}")
    lines += ["", "  // Word index of each command field (word 0 is opcode/func/flags)."]
    lines += [f"  localparam int {n} = {v};" for n, v in _field_words()]
    lines += _per_opcode("int", "command_fields", "Operand fields of each opcode: the words after them must be zero",
                         {op: len(names) for op, names in isa.COMMAND_FIELDS.items()}, str)
    lines += _per_opcode(flags, "defined_flags", "Flag bits each opcode defines (atalla.command_rules.ALLOWED_FLAGS)",
                         command_rules.ALLOWED_FLAGS, lambda v: f"{isa.FLAGS_BITS}'h{v:04x}")
    lines += ["", "  // Index of each mailbox call argument, and each call's argument count."]
    lines += [f"  localparam int {n} = {v};" for n, v in _mailbox_args()]
    lines += ["", "endpackage", "/* verilator lint_on UNUSEDPARAM */", ""]
    return "\n".join(lines)


def _per_opcode(kind: str, name: str, note: str, values: dict, literal) -> list[str]:
    """An SV function of the opcode: values[op] for the opcodes listed, else 0."""
    lines = ["", f"  // {note}.", f"  function automatic {kind} {name}(opcode_e op);", "    unique case (op)"]
    lines += [f"      OP_{op.name}: return {literal(int(v))};" for op, v in values.items() if v]
    return lines + ["      default: return 0;", "    endcase", "  endfunction"]


_C_TYPES = {"u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t", "i32": "int32_t",
            "i64": "int64_t", "char": "char"}


def _c_preamble(src: str, guard: str) -> list[str]:
    return [
        f"/* {HEADER_NOTE.format(src=src)} */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
        "/* C and C++ (the testbench's DPI-C models include the generated headers too). */",
        "#ifndef ATALLA_STATIC_ASSERT",
        "#ifdef __cplusplus",
        "#define ATALLA_STATIC_ASSERT(cond, message) static_assert(cond, message)",
        "#else",
        "#define ATALLA_STATIC_ASSERT(cond, message) _Static_assert(cond, message)",
        "#endif",
        "#endif",
        "",
    ]


def _c_struct(rec: bf.Record) -> list[str]:
    lines = [f"struct {rec.name} {{"]
    for name, base, count in rec.layout:
        lines.append(f"    {_C_TYPES[base]} {name}{'' if count is None else f'[{count}]'};")
    lines += [
        "} __attribute__((packed));",
        f'ATALLA_STATIC_ASSERT(sizeof(struct {rec.name}) == {rec.size}, "{rec.name} must be {rec.size} bytes");',
    ]
    return lines


def _c_enum(cls: type[IntEnum], prefix: str, type_name: str) -> list[str]:
    lines = [f"/* {_doc(cls)} */", f"enum atalla_{type_name} {{"]
    lines += [f"    ATALLA_{prefix}{m.name} = {int(m)}," for m in cls]
    lines += ["};", "/* The Python name of a value (as messages print it), or NULL. */",
              f"static inline const char *atalla_{type_name}_name(uint32_t value) {{", "    switch (value) {"]
    lines += [f'    case {int(m)}: return "{m.name}";' for m in cls]
    return lines + ["    default: return 0;", "    }", "}", ""]


def c_header() -> str:
    lines = _c_preamble("atalla/isa.py, atalla/numerics.py, atalla/blob_format.py, atalla/config.py and "
                        "atalla/runtime_abi.py", "ATALLA_ABI_H")
    lines += ["/* ---- Command set (atalla/isa.py) ---- */", ""]
    for name, value, note in _scalars():
        lines.append(f"#define ATALLA_{name} {value}" + (f"  /* {note} */" if note else ""))
    lines += [f"#define ATALLA_REF_ROW_MASK 0x{isa.REF_ROW_MASK:08x}u", ""]
    for cls, prefix, type_name, _ in ISA_ENUMS:
        lines += _c_enum(cls, prefix, type_name)
    lines += [f"/* {_doc(isa.Flag)} */"]
    lines += [f"#define ATALLA_{n} 0x{v:04x}u" for n, v in _flags()]
    lines += [f"#define ATALLA_BMODE_SHIFT {int(isa.BMODE_SHIFT)}",
              f"#define ATALLA_BMODE_MASK 0x{isa.BMODE_MASK:04x}u",
              f"#define ATALLA_GEMM_FLAGS 0x{int(isa.GEMM_FLAGS):04x}u  /* the flag bits a GEMM defines */", ""]
    for name, funcs, note in FUNC_SETS:
        lines += [f"/* The VEC functions that {note} (isa.{name.upper()}_FUNCS). */",
                  f"static inline int atalla_is_{name}_func(uint32_t func) {{",
                  f"    return {' || '.join(f'func == ATALLA_VEC_{f.name}' for f in sorted(funcs))};", "}", ""]
    lines += ["/* Operand words of a command (isa.COMMAND_FIELDS); the rest must be zero. */",
              "static inline uint32_t atalla_field_count(uint32_t opcode) {", "    switch (opcode) {"]
    lines += [f"    case ATALLA_OP_{op.name}: return {len(names)};" for op, names in isa.COMMAND_FIELDS.items()]
    lines += ["    default: return 0;", "    }", "}", ""]
    lines += [
        "/* One command: words[0] = opcode | func << ATALLA_FUNC_SHIFT | flags << ATALLA_FLAGS_SHIFT;",
        "   the field macros index words. */",
        "typedef struct atalla_command {",
        "    uint32_t words[ATALLA_COMMAND_WORDS];",
        "} atalla_command;",
        'ATALLA_STATIC_ASSERT(sizeof(atalla_command) == ATALLA_COMMAND_BYTES, "atalla_command size");',
        "",
    ]
    lines += [f"#define ATALLA_{n} {v}" for n, v in _field_words()]
    lines += ["", "/* Mailbox call argument indices and counts. */"]
    lines += [f"#define ATALLA_{n} {v}" for n, v in _mailbox_args()]
    lines += ["", "/* ---- Numerics (atalla/numerics.py, docs/numerics.md) ---- */", ""]
    lines += [f"#define ATALLA_{name} {f'0x{value:0{bits // 4}x}u' if bits else value}  /* {note} */"
              for name, value, bits, note in _numerics()]
    lines += [
        "",
        "/* ---- Blob format (atalla/blob_format.py, docs/blob-format.md); all records little-endian ---- */",
        "",
        f'#define ATALLA_BLOB_MAGIC "{bf.MAGIC.decode()}"',
        f"#define ATALLA_BLOB_MAGIC_U32 0x{int.from_bytes(bf.MAGIC, 'little'):08x}u  /* magic read as a LE u32 */",
        f"#define ATALLA_BLOB_VERSION_MAJOR {bf.VERSION_MAJOR}  /* must equal the blob's */",
        f"#define ATALLA_BLOB_VERSION_MINOR {bf.VERSION_MINOR}  /* the blob's may be lower, never higher */",
        f"#define ATALLA_BLOB_NO_CONSTANT 0x{bf.NO_CONSTANT:08x}u",
        f"#define ATALLA_BLOB_MAX_DIMS {bf.MAX_DIMS}",
        f"#define ATALLA_BLOB_CONFIG_NAME_BYTES {bf.CONFIG_NAME_BYTES}",
        f"#define ATALLA_BLOB_SECTION_ALIGN {bf.SECTION_ALIGN}",
        "",
    ]
    for cls, prefix, type_name in BLOB_ENUMS:
        lines += _c_enum(cls, prefix, type_name)
    lines += [f"#define ATALLA_DTYPE_{d.name}_BYTES {n}" for d, n in bf.DTYPE_BYTES.items()]
    lines += ["/* Bytes of an element of a dtype (0: not a dtype). */",
              "static inline uint32_t atalla_dtype_bytes(uint32_t dtype) {", "    switch (dtype) {"]
    lines += [f"    case ATALLA_DTYPE_{d.name}: return ATALLA_DTYPE_{d.name}_BYTES;" for d in bf.DTYPE_BYTES]
    lines += ["    default: return 0;", "    }", "}"]
    for rec in bf.RECORDS:
        lines += [""] + _c_struct(rec)
    lines += ["",
              "/* ---- The C runtime (runtime/c): a hardware config, failure classes (atalla/runtime_abi.py) ---- */",
              "", "/* HardwareConfig (atalla/config.py): the name NUL-padded, then the fields in blob order. */",
              "struct atalla_hw_config {", f"    char name[{CONFIG_NAME_BYTES}];"]
    lines += [f"    uint32_t {name};" for name in bf.CONFIG_FIELDS]
    lines += ["};", "/* The name of the i-th uint32_t field of atalla_hw_config, or NULL. */",
              "static inline const char *atalla_hw_config_field(uint32_t i) {", "    switch (i) {"]
    lines += [f'    case {i}: return "{name}";' for i, name in enumerate(bf.CONFIG_FIELDS)]
    lines += ["    default: return 0;", "    }", "}", ""]
    for cls, prefix, type_name in RUNTIME_ENUMS:
        lines += _c_enum(cls, prefix, type_name)
    lines += ["#endif /* ATALLA_ABI_H */", ""]
    return "\n".join(lines)


def tb_header() -> str:
    lines = _c_preamble("atalla/tb_formats.py", "ATALLA_TB_FORMATS_H")
    lines += [
        "/* ---- Co-simulation testbench formats (atalla/tb_formats.py); all records little-endian ---- */",
        "",
        f'#define ATALLA_REPLAY_MAGIC "{tb.REPLAY_MAGIC.decode()}"  /* the first bytes of a recording */',
        f"#define ATALLA_REPLAY_DRAM_TAG 0x{tb.REPLAY_DRAM_TAG:08x}u",
        *(f"#define ATALLA_REPLAY_PORT_{p.name} 0x{int(p):08x}u" for p in tb.ReplayPort),
    ]
    for rec in tb.RECORDS:
        lines += [""] + _c_struct(rec)
    lines += ["", "#endif /* ATALLA_TB_FORMATS_H */", ""]
    return "\n".join(lines)


def host_ops_header() -> str:
    """The host-op allow-list as a table the C loader searches (strings: the op's string arguments, sorted)."""
    lines = [f"/* {HEADER_NOTE.format(src='atalla/host_ops.py')} */", "#ifndef ATALLA_HOST_OPS_H",
             "#define ATALLA_HOST_OPS_H", "", "typedef struct {", "    const char *target;",
             "    const char *const *strings; /* NULL-terminated */", "} atalla_host_op_rule;", ""]
    string_sets = sorted({tuple(sorted(v)) for v in host_ops.HOST_OPS.values()})
    for i, values in enumerate(string_sets):
        items = "".join(f'"{v}", ' for v in values)
        lines.append(f"static const char *const atalla_host_op_strings_{i}[] = {{{items}0}};")
    lines += ["", "/* atalla/host_ops.py HOST_OPS, in its order. */",
              "static const atalla_host_op_rule atalla_host_op_rules[] = {"]
    lines += [f'    {{"{target}", atalla_host_op_strings_{string_sets.index(tuple(sorted(v)))}}},'
              for target, v in host_ops.HOST_OPS.items()]
    lines += ["};", f"#define ATALLA_NUM_HOST_OP_RULES {len(host_ops.HOST_OPS)}", "",
              "#endif /* ATALLA_HOST_OPS_H */", ""]
    return "\n".join(lines)


def generated_files() -> dict[Path, str]:
    """Generated file contents keyed by path relative to ROOT."""
    return {SV_PATH: sv_package(), C_PATH: c_header(), TB_C_PATH: tb_header(), HOST_OPS_C_PATH: host_ops_header()}


def stale_files() -> list[Path]:
    def current(p: Path) -> str | None:
        return (ROOT / p).read_text() if (ROOT / p).exists() else None

    return [p for p, text in generated_files().items() if current(p) != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atalla.codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for p in stale:
            print(f"stale generated file: {p} (run `make generate`)", file=sys.stderr)
        return 1 if stale else 0
    for p, text in generated_files().items():
        (ROOT / p).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / p).write_text(text)
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
