"""The same model compiles to the same bytes and runs to the same bits in every process, whatever
Python's string-hash seed (set and dict orders must never leak into a blob or a schedule). RTL cycle
counts are held by cocotb_tests/test_cosim.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT = """
import hashlib, numpy as np
from atalla.config import CONFIGS
from compiler.driver import compile_model
from golden.zoo import REGRESSION_MODELS, ZOO
from runtime.emulator import Emulator
for name in REGRESSION_MODELS:
    for config in ("small", "atalla32"):
        module, inputs = ZOO[name]()
        compiled = compile_model(module, inputs, CONFIGS[config], name)
        outputs = Emulator(compiled.program).run([x.numpy() for x in inputs])
        print(name, config, hashlib.sha256(compiled.blob()).hexdigest(),
              hashlib.sha256(b"".join(o.tobytes() for o in outputs)).hexdigest())
"""


def fingerprints(*hash_seeds: str) -> list[str]:
    """The FINGERPRINT script's output under each seed, the processes run side by side."""
    runs = [subprocess.Popen([sys.executable, "-c", FINGERPRINT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed}) for seed in hash_seeds]
    outputs = []
    for seed, run in zip(hash_seeds, runs):
        out, err = run.communicate()
        assert run.returncode == 0, f"PYTHONHASHSEED={seed}: {err}"
        outputs.append(out)
    return outputs


def test_blobs_and_outputs_do_not_depend_on_the_process():
    first, second = fingerprints("0", "4242")
    assert first.count("\n") >= 6
    assert second == first
