"""cocotb test of the fp32 units (rtl/fp/) against atalla.numerics, bit for bit.

Runs inside the simulator on rtl/tb/fp_tb.sv: every operation gets an edge-case set and
N_RANDOM random operand pairs, loaded into rtl/tb/fp_vectors.cpp with one ctypes call; the
testbench walks them (one pair per clock) and raises done; the results come back with one
ctypes call per operation and must equal the model exactly.
"""

from __future__ import annotations

import ctypes

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from atalla import numerics as nm
from runtime.rtl.settings import bench_settings

OPS = ("add", "sub", "mul", "div", "max", "min", "round", "ldexp", "to_bf16", "sqrt", "exp")  # op codes of fp_tb.sv
BINARY = ("add", "sub", "mul", "div", "max", "min")
N_RANDOM = 100_000
SEED = 20240613  # unless run(settings={"seed": ...}) says otherwise
SHOW = 5  # mismatches reported per operation
U32 = np.uint32

# Edge values as bit patterns (both signs are added): zeros and denormals, the normal range's
# ends, the flush boundary, infinities and NaNs, rounding ties, mul/div boundaries, round and
# ldexp, exp and bf16 specials.
EDGE_BITS = [
    0x00000000, 0x00000001, 0x007FFFFF,  # zero, smallest and largest denormal
    0x00800000, 0x00800001, 0x00C00000, 0x00FFFFFE, 0x00FFFFFF, 0x01000000, 0x01000001,  # around 2^-126
    0x7F7FFFFF, 0x7F7FFFFE, 0x7F000000, 0x7E800000,  # near the top
    0x7F800000, 0x7FC00000, 0x7F800001, 0x7FFFFFFF,  # inf, quiet and signalling NaNs
    0x3F800001, 0x3F7FFFFF, 0x3F000001, 0x3EFFFFFF,  # 1 + ulp, 1 - ulp/2, around 1/2
    0x33000001, 0x34000000,  # 2^-25 + ulp, 2^-23
    0x1FFFFFFF, 0x20000001, 0x5F7FFFFF,  # around 2^-63 and 2^64: products at the boundaries
    0x4AFFFFFF, 0x4B7FFFFF, 0x4A800001,  # 8388607.5, 2^24 - 1, 4194304.5
    0x3F808000, 0x3F818000, 0x3F808001, 0x7F7F7FFF, 0x7F7F8000,  # bf16 ties and overflow
]
EDGE_VALUES = [
    1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 0.5, 0.4, 0.6, 1 / 3, 0.1, 1e30, 1e-30,
    2.0**-24, 2.0**-25, 2.0**-63, 2.0**63, 2.0**64, 2.0**-125, 2.0**23, 2.0**24, 2.0**127,
    126.0, 127.0, 128.0, 254.0, 255.0, 255.9, 256.0, 300.0, 0.99, 1e9,  # ldexp scales
    4.0, 9.0, 16.0, 2.25, 0.25, 1.0 - 2.0**-24, 4.0 - 2.0**-21, 16777215.0 ** 2,  # sqrt: exact, below a square
    88.7, 89.0, 103.9, 104.0, 87.3, 0.34657359,  # exp: overflow, clamps, flush, the first rounding step of n
]


def edge_set() -> np.ndarray:
    bits = np.array(EDGE_BITS, dtype=U32)
    values = np.array(EDGE_VALUES, dtype=np.float32).view(U32)
    one_sign = np.unique(np.concatenate([bits, values]))
    return np.concatenate([one_sign, one_sign | U32(0x80000000)])


def edge_pairs(op: str) -> tuple[np.ndarray, np.ndarray]:
    e = edge_set()
    if op in BINARY or op == "ldexp":
        a, b = np.meshgrid(e, e)
        return a.ravel(), b.ravel()
    return e, np.zeros_like(e)


def pack(sign, exp, frac) -> np.ndarray:
    return ((np.asarray(sign, dtype=U32) << 31) | (np.clip(exp, 0, 255).astype(U32) << 23)
            | (np.asarray(frac, dtype=U32) & U32(0x7FFFFF))).astype(U32)


def random_pairs(op: str, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A mixture per op: uniform bit patterns, plus draws aimed at where the op is delicate."""
    bits = lambda: rng.integers(0, 2**32, n, dtype=np.uint64).astype(U32)  # noqa: E731
    sign = lambda: rng.integers(0, 2, n)  # noqa: E731
    frac = lambda: rng.integers(0, 2**23, n)  # noqa: E731
    # Few significant bits make exact results and exact rounding ties common.
    short = lambda: frac() & ~((1 << rng.integers(0, 24, n)) - 1)  # noqa: E731
    kind = rng.integers(0, 4, n)
    a, b = bits(), bits()
    if op in BINARY:
        ea = rng.integers(1, 255, n)
        near = ea + rng.integers(-26, 27, n)  # exponents a binade or a few dozen apart
        if op == "mul":  # products whose exponent lands at the flush or the overflow boundary
            target = np.where(sign() == 1, 1, 254) + 127 - ea + rng.integers(-2, 3, n)
        elif op == "div":
            target = ea + 127 - np.where(sign() == 1, 1, 254) + rng.integers(-2, 3, n)
        else:  # sums near 2^-126: both operands small
            ea = np.where(sign() == 1, rng.integers(1, 28, n), ea)
            target = np.where(ea < 28, rng.integers(1, 28, n), near)
        a = np.where(kind > 0, pack(sign(), ea, np.where(kind == 3, short(), frac())), a)
        b = np.where(kind == 1, pack(sign(), near, frac()), b)
        b = np.where(kind == 2, pack(sign(), target, frac()), b)
        b = np.where(kind == 3, pack(sign(), near, short()), b)
        # Close operands: massive cancellation, quotients near 1, near-ties of MAX/MIN.
        close = (kind == 1) & (sign() == 1)
        b = np.where(close, (a ^ (rng.integers(0, 2**32, n, dtype=np.uint64).astype(U32)
                                  & ((U32(1) << rng.integers(0, 25, n).astype(U32)) - U32(1)))
                             ^ (sign().astype(U32) << 31)).astype(U32), b)
    elif op == "round":
        halves = (rng.integers(-2**23, 2**23, n) + 0.5).astype(np.float32).view(U32)
        a = np.where(kind == 1, pack(sign(), rng.integers(118, 155, n), frac()), a)
        a = np.where(kind == 2, pack(sign(), rng.integers(118, 155, n), short()), a)
        a = np.where(kind == 3, halves, a)
    elif op == "ldexp":
        a = np.where(kind > 0, pack(sign(), rng.integers(1, 255, n), frac()), a)
        b = np.where(kind == 1, rng.integers(-300, 301, n).astype(np.float32).view(U32), b)
        b = np.where(kind == 2, rng.uniform(-300, 300, n).astype(np.float32).view(U32), b)
    elif op == "sqrt":
        # Squares of short significands are exact roots; one ulp either side of them, nearly exact.
        roots = pack(0, rng.integers(64, 191, n), short()).view(np.float32)
        squares = (roots.astype(np.float64) ** 2).astype(np.float32).view(U32)
        a = np.where(kind == 1, pack(0, rng.integers(0, 256, n), frac()), a)
        a = np.where(kind == 2, squares, a)
        a = np.where(kind == 3, squares + rng.integers(-1, 2, n).astype(U32), a)
    elif op == "exp":
        # Across the clamps and the flush and overflow ends, dense where exp's result changes
        # binade (n = round(x * log2 e) steps), and tiny arguments (exp(x) rounds to 1).
        a = np.where(kind == 1, rng.uniform(-110.0, 95.0, n).astype(np.float32).view(U32), a)
        steps = (rng.integers(-151, 129, n) + 0.5) / nm.LOG2E.astype(np.float64)
        a = np.where(kind == 2, (steps + rng.uniform(-1e-6, 1e-6, n)).astype(np.float32).view(U32), a)
        a = np.where(kind == 3, pack(sign(), rng.integers(90, 127, n), frac()), a)
    elif op == "to_bf16":
        low = rng.choice(np.array([0x8000, 0x7FFF, 0x8001, 0x0000, 0xFFFF], dtype=U32), n)
        a = np.where(kind > 1, (a & U32(0xFFFF0000)) | low, a)
        b = np.zeros(n, dtype=U32)
    if op in ("round", "to_bf16", "sqrt", "exp"):
        b = np.zeros(n, dtype=U32)
    return a.astype(U32), b.astype(U32)


def model(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The expected result bits of atalla.numerics."""
    x, y = a.view(np.float32), b.view(np.float32)
    funcs = {"add": nm.add, "sub": nm.sub, "mul": nm.mul, "div": nm.div, "max": nm.maximum,
             "min": nm.minimum, "ldexp": nm.ldexp}
    if op in funcs:
        return funcs[op](x, y).view(U32)
    if op == "round":
        return nm.round_even(x).view(U32)
    if op == "sqrt":
        return nm.sqrt(x).view(U32)
    if op == "exp":
        return nm.exp(x).view(U32)
    return nm.f32_to_bf16_bits(x).astype(U32)


def library() -> ctypes.CDLL:
    """The DPI-C vector store, linked into the simulator (exported with --export-dynamic)."""
    lib = ctypes.CDLL(None)
    u32p = ctypes.POINTER(ctypes.c_uint32)
    lib.fp_vectors_load.argtypes = [ctypes.c_int, u32p, u32p, ctypes.c_int]
    lib.fp_vectors_results.argtypes = [ctypes.c_int, u32p]
    return lib


def ptr(x: np.ndarray):
    return x.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32))


@cocotb.test()
async def fp_units_match_model(dut):
    lib = library()
    seed = bench_settings(seed=SEED)["seed"]
    rng = np.random.default_rng(seed)
    cases = {}
    for code, op in enumerate(OPS):
        ra, rb = random_pairs(op, rng, N_RANDOM)
        ea, eb = edge_pairs(op)
        a, b = np.ascontiguousarray(np.concatenate([ea, ra])), np.ascontiguousarray(np.concatenate([eb, rb]))
        lib.fp_vectors_load(code, ptr(a), ptr(b), len(a))
        cases[op] = (a, b, len(ea))

    dut.start.value = 1
    await RisingEdge(dut.done)

    failed = []
    for code, op in enumerate(OPS):
        a, b, n_edge = cases[op]
        got = np.empty_like(a)
        lib.fp_vectors_results(code, ptr(got))
        want = model(op, a, b)
        bad = np.flatnonzero(got != want)
        dut._log.info(f"fp32 {op}: {len(a) - n_edge:,} random + {n_edge:,} edge pairs, {len(bad):,} mismatches"
                      f" (seed {seed})")
        for i in bad[:SHOW]:
            dut._log.error(f"  {op}(0x{a[i]:08X}, 0x{b[i]:08X}): rtl 0x{got[i]:08X}, model 0x{want[i]:08X}")
        if len(bad):
            failed.append(op)
    assert not failed, f"mismatches in {', '.join(failed)}"
