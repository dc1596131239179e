"""The one check of a run: a backend's outputs against a functional reference bit for bit (outputs,
the firmware's calls, and on a mismatch the first intermediate that differs) and against PyTorch's
fp32 goldens within the bf16 tolerance (golden.reference). The command-line tool, the bench and
the tests all judge runs with it.

The reference is the emulator, the readable specification, except for RTL runs: those are judged
by the C model, which agrees with the emulator bit for bit (tests/test_cmodel.py holds it on every
zoo model and on random commands) and runs about a hundred times faster, so a long RTL run does
not wait on Python. `reference="emulator"` asks for the emulator there too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atalla.config import HardwareConfig
from atalla.program import Program
from golden.reference import Comparison, compare
from runtime.cmodel.backend import CModelBackend
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import Backend

REFERENCES = ("emulator", "cmodel")


@dataclass
class RunCheck:
    backend: str
    reference: str  # the functional model the backend was compared with
    program: Program
    outputs: list[np.ndarray]
    comparisons: list[Comparison]  # each output against PyTorch
    mismatches: list[str]  # where the backend differs from the reference; empty when it is its own reference
    firmware_calls: int  # the reference's count
    firmware_calls_equal: bool
    stats: dict  # the backend's

    @property
    def bit_exact(self) -> bool:
        return not self.mismatches

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons) and not self.mismatches


def reference_for(backend: Backend | None, reference: str | None = None) -> Backend:
    """The functional model a run on `backend` is judged by (the module docstring says which); a
    functional model asked to be its own reference is."""
    if reference is not None and reference not in REFERENCES:
        raise ValueError(f"reference {reference!r}: one of {', '.join(REFERENCES)}")
    functional = backend is None or isinstance(backend, (EmulatorBackend, CModelBackend))
    kind = reference or ("emulator" if functional else "cmodel")
    if backend is not None and backend.name == kind:
        return backend
    return EmulatorBackend() if kind == "emulator" else CModelBackend()


def check(blob: bytes, inputs: list[np.ndarray], goldens: list[np.ndarray] | None, backend: Backend | None = None,
          expect_config: HardwareConfig | None = None, reference: str | None = None) -> RunCheck:
    """Run the blob on the reference (reference_for) and, unless `backend` is its own reference, on
    `backend` (default: the emulator); compare, with PyTorch's outputs too unless goldens is None.
    Raises BlobError for a bad blob and RunError when a run cannot finish."""
    reference = reference_for(backend, reference)
    program = reference.init(blob, expect_config)
    expected = reference.execute(inputs)  # first: it names bad inputs and misbehaving programs exactly
    calls = reference.firmware_calls()
    if backend is None or backend is reference:
        backend, outputs, mismatches = reference, expected, []
    else:
        backend.init(blob, expect_config)
        outputs = backend.execute(inputs)
        mismatches = _differences(program, backend, reference, outputs, expected)
    got_calls = backend.firmware_calls()
    if got_calls != calls:
        at = next((i for i, (a, b) in enumerate(zip(got_calls, calls)) if a != b), min(len(got_calls), len(calls)))
        mismatches.append(f"firmware call sequences differ at call {at} ({len(got_calls)} on the {backend.name}, "
                          f"{len(calls)} on the {reference.name})")
    comparisons = [compare(f"output{i}", got, ref) for i, (got, ref) in enumerate(zip(outputs, goldens or []))]
    return RunCheck(backend.name, reference.name, program, outputs, comparisons, mismatches, len(calls), got_calls == calls,
                    backend.stats())


def _differences(program: Program, backend: Backend, reference: Backend, outputs: list[np.ndarray],
                 expected: list[np.ndarray]) -> list[str]:
    """Outputs that differ bit for bit; if any, the first intact intermediate that differs too."""
    problems = [f"output{i}: {diff}" for i, (got, want) in enumerate(zip(outputs, expected))
                if (diff := first_difference(got, want, backend.name, reference.name)) is not None]
    if problems:
        for name in intact_intermediates(program):
            diff = first_difference(backend.read_tensor(name), reference.read_tensor(name), backend.name,
                                    reference.name)
            if diff is not None:
                source = program.metadata["tensor_sources"].get(name, name)
                problems.append(f"first wrong intermediate: {name} (node {source}): {diff}")
                break
    return problems


def intact_intermediates(program: Program) -> list[str]:
    """Intermediates no later tensor overwrote, in the order they were produced: their final DRAM
    bytes are their values, so two backends can be compared on them after the run."""
    lifetimes = program.metadata.get("lifetimes", {})
    tensors = sorted((t for t in program.tensors if t.name in lifetimes), key=lambda t: lifetimes[t.name][0])
    intact = []
    for t in tensors:
        born = lifetimes[t.name][0]
        if not any(lifetimes[u.name][0] > born and u.dram_offset < t.dram_offset + t.nbytes
                   and t.dram_offset < u.dram_offset + u.nbytes for u in tensors):
            intact.append(t.name)
    return intact


def first_difference(got: np.ndarray, want: np.ndarray, backend: str = "rtl", reference: str = "emulator") -> str | None:
    """Where two arrays first differ bit for bit, and the values there, or None."""
    diff = np.argwhere(got.view(np.uint32) != want.view(np.uint32))
    if not len(diff):
        return None
    at = tuple(int(i) for i in diff[0])
    return f"{len(diff)} elements differ, first {list(at)}: {backend} {got[at]!r}, {reference} {want[at]!r}"
