"""How a bench gets its hardware config and settings: build.run() writes them into one JSON file in
the test directory, and the cocotb test reads them inside the simulation with bench_config() and
bench_settings() (never at import, so a module imports without a simulation around it)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atalla.config import HardwareConfig

FILE_NAME = "bench.json"
FILE_ENV = "ATALLA_BENCH_FILE"  # the simulation's environment names the file run() wrote


class BenchSettings(dict):
    """A bench's settings: what run(settings=...) gave over the bench's defaults."""

    def __missing__(self, name: str) -> Any:
        given = ", ".join(sorted(self)) or "none"
        raise LookupError(f"bench setting {name!r} is not set (set: {given}); "
                          f"run(..., settings={{{name!r}: ...}}) sets it")


def write_bench_file(test_dir: Path, config: HardwareConfig | None,
                     settings: Mapping[str, Any] | None) -> dict[str, str]:
    """Write the bench file into test_dir; returns the environment that names it to the simulation
    (none when there is nothing to pass: bench_settings() then gives the bench's defaults)."""
    if config is None and not settings:
        return {}
    path = test_dir / FILE_NAME
    path.write_text(json.dumps({"config": config.as_dict() if config else None, "settings": dict(settings or {})},
                               indent=1))
    return {FILE_ENV: str(path)}


def _read() -> dict[str, Any]:
    path = os.environ.get(FILE_ENV)
    return json.loads(Path(path).read_text()) if path else {"config": None, "settings": {}}


def bench_config() -> HardwareConfig:
    """The hardware config the bench was run with (run(..., config=...))."""
    config = _read()["config"]
    if config is None:
        raise LookupError("this bench needs a hardware config: run(..., config=...) gives it")
    return HardwareConfig(**config)


def bench_settings(**defaults: Any) -> BenchSettings:
    """The settings the bench was run with (run(..., settings=...)) over `defaults`."""
    return BenchSettings({**defaults, **_read()["settings"]})
