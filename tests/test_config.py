"""Hardware configs from a file: every field, validated with errors naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from atalla.config import CONFIGS, get_config, load_config
from cli.main import main

ROOT = Path(__file__).resolve().parents[1]
ATALLA16 = ROOT / "configs" / "atalla16.json"


def test_the_16x16_example_config_loads():
    cfg = get_config(str(ATALLA16))
    assert (cfg.name, cfg.array_rows, cfg.array_cols, cfg.lanes) == ("atalla16", 16, 16, 16)


def test_a_built_in_config_round_trips_through_a_file(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(CONFIGS["small"].as_dict()))
    assert load_config(path) == CONFIGS["small"]


@pytest.mark.parametrize("change, words", [
    (lambda d: d.pop("sp_banks"), "missing sp_banks"),
    (lambda d: d.update(sp_bank=8), "unknown field sp_bank"),
    (lambda d: d.update(array_rows=0), "array_rows must be positive"),
    (lambda d: d.update(sp_row_bytes=17), "sp_row_bytes must hold whole bf16 elements"),
    (lambda d: d.update(dram_latency=2.5), "dram_latency must be a non-negative integer"),
    (lambda d: d.update(num_tickets=True), "num_tickets must be a non-negative integer"),
    (lambda d: d.update(name="a-name-longer-than-16"), "name must be 1..16 bytes"),
    (lambda d: d.update(vec_div_latency=0), "vec_div_latency must be 1..26"),
    (lambda d: d.update(vec_div_latency=27), "vec_div_latency must be 1..26"),
    (lambda d: d.update(vec_reduce_latency=8), "vec_reduce_latency must be 1..max(1, lanes - 1)"),  # 8 lanes
])
def test_bad_config_files_name_the_file_and_the_field(tmp_path, change, words):
    data = CONFIGS["small"].as_dict()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bad.json|hardware config") as e:
        load_config(path)
    assert words in str(e.value)


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ValueError, match=r"hardware config file .*nope.json: .*No such file"):
        get_config(str(tmp_path / "nope.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="a JSON object of the fields name, array_rows"):
        get_config(str(tmp_path / "list.json"))


def test_compile_and_emulate_on_a_config_from_a_file(tmp_path, capsys):
    blob, outputs = tmp_path / "m.atb", tmp_path / "o.npz"
    assert main(["compile", "attention", "-o", str(blob), "--config", str(ATALLA16), "--save-io"]) == 0
    assert main(["run", str(blob), "--inputs", str(blob.with_suffix(".inputs.npz")),
                 "--golden", str(blob.with_suffix(".golden.npz")), "--outputs", str(outputs)]) == 0
    assert "blob" in capsys.readouterr().out and np.load(outputs)["output0"].shape == (2, 16, 32)
    assert main(["run", "attention", "--config", str(tmp_path / "missing.json")]) == 2
