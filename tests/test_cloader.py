"""The C loader (runtime/c/blob.c) against the Python loader (runtime/loader.py): the same verdict,
failure class and message, on every blob of a mutation corpus, with the C side built with
AddressSanitizer and UBSan (no crash, no finding); and the mutants both accept, run on the emulator
and the C model alike.

The corpus is the blob fuzzer's (runtime/verify/fuzz.py, which also compares the two loaders on its
10,000 cases in tests/test_fuzz.py, without the sanitizers): valid seed blobs and their mutations,
most with the CRCs recomputed so that they reach the deep checks (config rules, tensor records,
UTF-8, the JSON of METADATA and of host-op arguments, every command field).
"""

from __future__ import annotations

import re
import struct
import subprocess
from functools import cache

import numpy as np
import pytest

from atalla.blob_format import Role
from atalla.config import CONFIGS
from atalla.runtime_abi import LoadError, RunFailure
from runtime.cmodel import build
from runtime.cmodel.backend import CModelBackend
from runtime.cmodel.native import lib, load_verdict
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import RunError
from runtime.loader import BlobError, load
from runtime.verify.fuzz import cases, seed_blobs

CFG = CONFIGS["small"]
SEED = 14
CORPUS_CASES = 4500


@cache
def corpus() -> tuple[bytes, ...]:
    """The fuzzer's seed blobs and its first cases of one seed (runtime/verify/fuzz.py: bit flips,
    truncations, header, section-table and record edits, JSON, names and command words, most with
    their CRCs recomputed)."""
    return (*seed_blobs().values(), *(case.blob for case in cases(SEED, range(CORPUS_CASES))))


def python_verdict(blob: bytes) -> tuple[int, str]:
    try:
        load(blob)
    except BlobError as e:
        return int(e.kind), str(e)
    return int(LoadError.OK), ""


def c_verdicts(blobs: tuple[bytes, ...], tmp_path) -> list[tuple[int, str]]:
    path = tmp_path / "corpus.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(b)) + b for b in blobs))
    result = subprocess.run([str(build.verdicts(sanitize=True)), str(path)], capture_output=True, timeout=120,
                            env={"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert result.returncode == 0 and not result.stderr, f"the C loader crashed or a sanitizer fired:\n" \
                                                         f"{result.stderr.decode(errors='replace')[-3000:]}"
    lines = result.stdout.decode("utf-8", errors="surrogateescape").split("\n")[:-1]
    assert len(lines) == len(blobs)
    out = []
    for line in lines:
        code, message, run = line.rsplit("\t", 1)[0].split("\t", 1) + [line.rsplit("\t", 1)[1]]
        out.append((int(code), re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), message),
                    int(run)))
    return out


def test_c_and_python_loaders_give_the_same_verdict_on_a_mutation_corpus(tmp_path):
    blobs = corpus()
    assert len(blobs) > 3000
    python = [python_verdict(b) for b in blobs]
    c_runs = c_verdicts(blobs, tmp_path)
    c = [(code, message) for code, message, _ in c_runs]
    differ = [(i, LoadError(p[0]).name, p[1], LoadError(q[0]).name, q[1]) for i, (p, q) in enumerate(zip(python, c))
              if p != q]
    assert not differ, f"{len(differ)} of {len(blobs)} verdicts differ; first: " + "\n".join(map(str, differ[:5]))
    # The corpus reaches the deep checks: every failure class but out-of-memory turns up.
    seen = {LoadError(code) for code, _ in python}
    assert seen == set(LoadError) - {LoadError.HOST_MEMORY, LoadError.CONFIG_MISMATCH}  # the next test: mismatch
    # The C model ran every blob that loads, under the sanitizers too: to the end, or to a fault.
    runs = {RunFailure(run) for code, _, run in c_runs if code == LoadError.OK}
    assert RunFailure.OK in runs and RunFailure.FIRMWARE in runs and len(runs) > 3


def test_c_loader_refuses_another_config_as_python_does():
    blob = seed_blobs()["tiny"]
    for other in (CONFIGS["atalla32"], CFG.__class__(**{**CFG.as_dict(), "name": "other"}),
                  CFG.__class__(**{**CFG.as_dict(), "dram_latency": 7})):
        with pytest.raises(BlobError) as info:
            load(blob, expect_config=other)
        code, message, handle = load_verdict(blob, other)
        assert (code, message, handle) == (info.value.kind, str(info.value), None)
    code, message, handle = load_verdict(blob, CFG)
    assert code == LoadError.OK and message == "" and handle
    lib().atalla_program_free(handle)


def test_the_accepted_mutants_run_alike_on_the_emulator_and_the_c_model():
    """Blobs that load but whose commands were mutated: the C model runs them to the emulator's bits or
    stops them with the emulator's fault, with the same firmware calls (a sample of a quarter)."""
    accepted = [b for b in corpus() if python_verdict(b)[0] == LoadError.OK][::4]
    ran = 0
    for blob in accepted:
        outcomes = []
        for backend in (EmulatorBackend(), CModelBackend()):
            program = backend.init(blob)
            inputs = [np.linspace(-2, 2, t.numel, dtype=np.float32).reshape(t.shape)
                      for t in program.by_role(Role.INPUT)]
            try:
                result = [o.view(np.uint32).tobytes() for o in backend.execute(inputs)]
            except RunError as e:
                result = str(e)
            outcomes.append((result, backend.firmware_calls()))
        assert outcomes[0] == outcomes[1]
        ran += not isinstance(outcomes[0][0], str)
    assert len(accepted) > 200 and 0 < ran < len(accepted)  # both ends and faults
