"""Independent GEMM cycle reference from SCALE-Sim 3.0.0 (weight-stationary dataflow).

SCALE-Sim crashes under numpy >= 2.4, so it lives in its own virtualenv
(``/work/main/.venv-scalesim``, see :func:`ensure_venv`) and is driven through
``bench/scalesim_runner.py`` in a subprocess with JSON in/out.  Nothing in the
project imports ``scalesim``.

Conventions: C[M x N] = A[M x K] @ B[K x N] on an R x C array, K mapped to rows,
N to columns, M rows streamed.  SCALE-Sim's per-layer "Total Cycles" is the index of
the last modelled cycle, so one is added to get a cycle count.  (The "incl. prefetch"
column is ignored.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".venv-scalesim"
VENV_PYTHON = VENV_DIR / "bin" / "python"
RUNNER = Path(__file__).resolve().parent / "scalesim_runner.py"
SCALESIM_REQUIREMENTS = ("numpy<2.4", "scalesim==3.0.0")

Shape = tuple[int, int, int]  # (M, K, N)

# Filled by scalesim_cycles(): (rows, cols) -> {"seconds": wall time of the subprocess,
# "layers": {(M, K, N): seconds spent simulating that layer}}.
last_timings: dict[tuple[int, int], dict] = {}


class ScaleSimError(RuntimeError):
    pass


def _tail(text: str, n: int = 30) -> str:
    return "\n".join(text.splitlines()[-n:])


def venv_ready() -> bool:
    """True when the SCALE-Sim virtualenv exists and can import scalesim."""
    if not VENV_PYTHON.exists():
        return False
    r = subprocess.run([str(VENV_PYTHON), "-c", "import scalesim.scale_sim"],
                       capture_output=True, text=True)
    return r.returncode == 0


def ensure_venv() -> Path:
    """Create ``.venv-scalesim`` with numpy<2.4 and scalesim==3.0.0 if missing.

    Returns the venv's python.  Raises ScaleSimError with pip's output if the
    install fails.
    """
    if venv_ready():
        return VENV_PYTHON
    if not VENV_PYTHON.exists():
        r = subprocess.run(["python3", "-m", "venv", str(VENV_DIR)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ScaleSimError(
                f"could not create the SCALE-Sim virtualenv at {VENV_DIR}:\n"
                f"{r.stdout}{r.stderr}")
    r = subprocess.run([str(VENV_DIR / "bin" / "pip"), "install", "-q",
                        *SCALESIM_REQUIREMENTS], capture_output=True, text=True)
    if r.returncode != 0 or not venv_ready():
        raise ScaleSimError(
            f"installing {' '.join(SCALESIM_REQUIREMENTS)} into {VENV_DIR} failed "
            f"(pip exit {r.returncode}); the SCALE-Sim reference is unavailable.\n"
            f"Remove {VENV_DIR} and retry, or check the package index.\n"
            f"--- pip output (tail) ---\n{_tail(r.stdout + r.stderr)}")
    return VENV_PYTHON


def scalesim_cycles(shapes: list[Shape], rows: int, cols: int, *,
                    timeout: float | None = None) -> dict[Shape, int]:
    """SCALE-Sim weight-stationary cycle counts for GEMMs (M, K, N) on a rows x cols array.

    All shapes run in one SCALE-Sim subprocess (one topology with one layer per
    distinct shape).  Returns {(M, K, N): cycles} with cycles = "Total Cycles" + 1.
    Requires the venv (call :func:`ensure_venv` first).
    """
    uniq: list[Shape] = []
    for s in shapes:
        s = tuple(int(x) for x in s)
        if len(s) != 3 or min(s) <= 0:
            raise ValueError(f"bad GEMM shape {s!r}; expected positive (M, K, N)")
        if s not in uniq:
            uniq.append(s)
    if not uniq:
        return {}
    if not VENV_PYTHON.exists():
        raise ScaleSimError(f"SCALE-Sim virtualenv missing at {VENV_DIR}; call ensure_venv()")

    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        req_path = os.path.join(tmp, "request.json")
        out_path = os.path.join(tmp, "result.json")
        with open(req_path, "w") as f:
            json.dump({"rows": int(rows), "cols": int(cols),
                       "shapes": [list(s) for s in uniq],
                       "workdir": os.path.join(tmp, "run")}, f)
        t0 = time.perf_counter()
        r = subprocess.run([str(VENV_PYTHON), str(RUNNER), req_path, out_path],
                           capture_output=True, text=True, timeout=timeout, cwd=tmp)
        wall = time.perf_counter() - t0
        if r.returncode != 0 or not os.path.exists(out_path):
            tail = _tail(r.stdout + r.stderr, 40)
            raise ScaleSimError(
                f"SCALE-Sim run failed (exit {r.returncode}) for {rows}x{cols}, "
                f"shapes {uniq}:\n{tail}")
        with open(out_path) as f:
            result = json.load(f)

    layers = result["layers"]
    if len(layers) != len(uniq):
        raise ScaleSimError(f"SCALE-Sim returned {len(layers)} layers for {len(uniq)} shapes")
    cycles: dict[Shape, int] = {}
    per_layer: dict[Shape, float] = {}
    for s, layer in zip(uniq, layers):
        if (layer["M"], layer["K"], layer["N"]) != s:
            raise ScaleSimError(f"layer order mismatch: {layer} vs {s}")
        if layer["stall_cycles"]:
            raise ScaleSimError(f"SCALE-Sim reported {layer['stall_cycles']} stall cycles "
                                f"for {s}; the reference expects a stall-free run")
        cycles[s] = layer["total_cycles"] + 1
        per_layer[s] = layer["seconds"]
    last_timings[(int(rows), int(cols))] = {"seconds": wall, "layers": per_layer}
    return cycles


def _main(argv: list[str]) -> int:
    """python -m bench.scalesim_reference R C M,K,N [M,K,N ...]"""
    if len(argv) < 3:
        print(_main.__doc__, file=sys.stderr)
        return 2
    rows, cols = int(argv[0]), int(argv[1])
    shapes = [tuple(int(x) for x in a.split(",")) for a in argv[2:]]
    ensure_venv()
    res = scalesim_cycles(shapes, rows, cols)
    t = last_timings[(rows, cols)]
    for s, c in res.items():
        print(f"{rows}x{cols} M={s[0]} K={s[1]} N={s[2]}: {c} cycles "
              f"({t['layers'][s]:.2f} s)")
    print(f"subprocess wall time: {t['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
