"""`make bench-gpt2`: all of GPT-2 small (zoo `gpt2`: Hugging Face GPT2Model from GPT2Config(), 12
layers, 124M random parameters, 128 token ids) on atalla32's RTL, checked bit for bit against the
C model and within tolerance of PyTorch, as `atalla run gpt2 --backend rtl --config atalla32` does.

Prints its cycles, array utilization, the simulation's wall time and simulated cycles per second,
and writes bench/gpt2.json. A long run: the busy 32x32 array simulates at about 11-12k cycles/s
(docs/performance.md), so it is its own target beside `make bench`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from atalla.config import CONFIGS
from bench.run import OUT, checked, table
from compiler.driver import compile_model
from golden.zoo import ZOO
from runtime.rtl.backend import RtlBackend


def main() -> int:
    cfg = CONFIGS["atalla32"]
    started = time.perf_counter()
    module, inputs = ZOO["gpt2"]()
    compiled = compile_model(module, inputs, cfg, "gpt2")
    compile_seconds = time.perf_counter() - started
    host_ops = len(compiled.program.host_ops)
    print(f"compiled gpt2 for atalla32 in {compile_seconds:.0f} s ({len(compiled.program.commands)} commands, "
          f"{host_ops} host ops); running the C model, then the RTL...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        checked_at = time.perf_counter()
        run = checked(compiled.blob(), module, inputs, RtlBackend(Path(tmp) / "gpt2", quiet=True), "gpt2 on atalla32")
        check_seconds = time.perf_counter() - checked_at
    result = {"model": "gpt2", "config": cfg.name, "host_ops": host_ops, "commands": len(compiled.program.commands),
              "cycles": run["cycles"], "array_utilization": run["array_utilization"],
              "rtl_wall_seconds": run["wall_seconds"], "sim_cycles_per_second": run["sim_cycles_per_second"],
              "compile_seconds": compile_seconds, "check_seconds": check_seconds}
    (OUT / "gpt2.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table("GPT-2 small (12 layers, 128 tokens) on the atalla32 RTL: bit-exact with the C model, within "
                "tolerance of PyTorch",
                ["cycles", "array utilization", "host ops", "RTL wall s", "simulated cycles/s", "compile s",
                 "C model + RTL s"],
                [[result["cycles"], f"{result['array_utilization']:.1%}", host_ops, f"{result['rtl_wall_seconds']:.0f}",
                  f"{result['sim_cycles_per_second']:,.0f}", f"{compile_seconds:.0f}", f"{check_seconds:.0f}"]]))
    print(f"wrote {OUT / 'gpt2.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
