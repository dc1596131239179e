"""The `atalla` command as users drive it: exit codes, reports, one-line errors."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from compiler.serialize import serialize
from runtime.loader import load

ROOT = Path(__file__).resolve().parents[1]


def atalla(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def mlp_blob(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blob") / "mlp.atb"
    assert main(["compile", "mlp", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("model", ["mlp", "attention", "host_fallback"])
def test_run_zoo_model_passes(model, tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main(["run", model, "--backend", "emulator", "--json", str(report)]) == 0
    assert f"model {model} on emulator (config small): PASS" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["backend"] == "emulator" and data["config"] == "small"
    for out in data["outputs"]:
        assert {"name", "cosine", "max_abs_err", "max_rel_err"} <= set(out) and out["cosine"] >= 0.999


def test_user_model_with_odd_shapes(tmp_path, capsys):
    model = tmp_path / "odd.py"
    model.write_text(textwrap.dedent("""
        import torch
        def build():
            torch.manual_seed(1)
            net = torch.nn.Sequential(torch.nn.Linear(37, 53), torch.nn.ReLU(), torch.nn.Linear(53, 11))
            return net, (torch.randn(5, 37),)
    """))
    assert main(["run", f"{model}:build", "--config", "atalla32"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_inaccurate_model_fails_with_exit_1(tmp_path, capsys):
    model = tmp_path / "cancel.py"
    model.write_text(textwrap.dedent("""
        import torch
        class Cancel(torch.nn.Module):
            def forward(self, x):
                return (x + 1000.0) - 1000.0   # bf16 keeps 8 bits: x is lost
        def build():
            torch.manual_seed(0)
            return Cancel(), (torch.randn(4, 8),)
    """))
    assert main(["run", f"{model}:build"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "first bad element" in out


def test_inspect_shows_the_blob(mlp_blob, capsys):
    assert main(["inspect", str(mlp_blob)]) == 0
    out = capsys.readouterr().out
    for text in ("model 'mlp'", "config small: array 8x8", "constant     fc1.weight", "commands (", "GEMM",
                 "memory plan: peak"):
        assert text in out


def _corrupt(blob: bytes, how: str) -> bytes:
    data = bytearray(blob)
    if how == "truncated":
        return bytes(data[: len(data) // 2])
    if how == "flipped":
        data[-40] ^= 0x10
    if how == "version":
        struct.pack_into("<H", data, 4, 99)
    return bytes(data)


@pytest.mark.parametrize("how,words", [("truncated", "truncated"), ("flipped", "CRC"), ("version", "version 99")])
def test_corrupt_blob_is_a_one_line_error(mlp_blob, tmp_path, how, words):
    bad = tmp_path / "bad.atb"
    bad.write_bytes(_corrupt(mlp_blob.read_bytes(), how))
    result = atalla("inspect", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atalla: error: ") and words in lines[0]


def test_offset_outside_dram_is_a_one_line_error(tmp_path):
    """A well-formed blob (CRCs right) whose tensor lies outside DRAM."""
    blob = tmp_path / "m.atb"
    assert main(["compile", "host_fallback", "-o", str(blob)]) == 0
    p = load(blob.read_bytes())
    p.tensors[0] = dataclasses.replace(p.tensors[0], dram_offset=p.config.dram_bytes)
    blob.write_bytes(serialize(p))
    result = atalla("inspect", str(blob))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "tensor 0 ('x'): DRAM range [0x1000000, 0x1000400) is outside DRAM" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_model_is_a_one_line_error():
    result = atalla("run", "nosuchmodel")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown model 'nosuchmodel'" in result.stderr


# ---- running a blob on its own ------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_io(tmp_path_factory) -> Path:
    """attention.atb with the example inputs and PyTorch's outputs beside it (compile --save-io)."""
    blob = tmp_path_factory.mktemp("io") / "attention.atb"
    assert main(["compile", "attention", "-o", str(blob), "--save-io"]) == 0
    return blob


def test_a_saved_blob_runs_with_its_inputs_and_golden_and_writes_outputs(saved_io, tmp_path, capsys):
    inputs, golden = saved_io.with_suffix(".inputs.npz"), saved_io.with_suffix(".golden.npz")
    assert set(np.load(inputs).files) == {"x"} and set(np.load(golden).files) == {"output0"}
    outputs = tmp_path / "out.npz"
    assert main(["run", str(saved_io), "--inputs", str(inputs), "--golden", str(golden),
                 "--outputs", str(outputs)]) == 0
    out = capsys.readouterr().out
    assert f"blob {saved_io} on emulator (config small): PASS" in out and "cosine 0.99" in out
    # The same bits as the model run gives.
    assert main(["run", "attention", "--outputs", str(tmp_path / "model.npz")]) == 0
    np.testing.assert_array_equal(np.load(outputs)["output0"].view(np.uint32),
                                  np.load(tmp_path / "model.npz")["output0"].view(np.uint32))


def test_a_blob_without_a_golden_runs_and_says_so(saved_io, tmp_path, capsys):
    positional = tmp_path / "positional.npz"
    np.savez(positional, np.load(saved_io.with_suffix(".inputs.npz"))["x"])  # saved as arr_0
    assert main(["run", str(saved_io), "--inputs", str(positional)]) == 0
    assert "no golden given (--golden FILE.npz): outputs not compared with PyTorch" in capsys.readouterr().out


@pytest.mark.parametrize("arrays, words", [
    ({"y": np.zeros((2, 16, 32), np.float32)}, "the program has no input tensor named y (its inputs: x)"),
    ({"x": np.zeros((2, 16, 31), np.float32)}, "input 'x' has shape [2, 16, 31]; the program was compiled for "
                                               "[2, 16, 32]"),
    ({"x": np.zeros((2, 16, 32))}, "input 'x' is float64; the program takes float32"),
    ({}, "no array for input 'x' (name it so, or give every input in order as arr_0)"),
])
def test_bad_blob_inputs_are_one_line_errors_naming_the_tensor(saved_io, tmp_path, capsys, arrays, words):
    path = tmp_path / "in.npz"
    np.savez(path, **arrays)
    assert main(["run", str(saved_io), "--inputs", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_blob_run_errors(saved_io, capsys):
    assert main(["run", str(saved_io)]) == 2
    assert "needs --inputs FILE.npz" in capsys.readouterr().err
    inputs = str(saved_io.with_suffix(".inputs.npz"))
    assert main(["run", str(saved_io), "--inputs", inputs, "--config", "atalla32"]) == 2
    assert "compiled for config 'small' but this run uses 'atalla32'" in capsys.readouterr().err
    assert main(["run", "mlp", "--inputs", inputs]) == 2
    assert "--inputs and --golden are for blob runs" in capsys.readouterr().err


EMBEDDING_MODEL = """
import torch
def build():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(100, 20), torch.nn.Linear(20, 7))
    return net, (torch.randint(0, 100, (2, 9)),)
"""


def test_a_blob_of_token_ids_runs_and_refuses_an_id_outside_its_table(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emb.py").write_text(EMBEDDING_MODEL)
    assert main(["compile", "emb.py:build", "-o", "emb.atb", "--save-io"]) == 0
    assert main(["inspect", "emb.atb"]) == 0
    assert "int32 row ids < 100" in capsys.readouterr().out
    ids = np.load("emb.inputs.npz")["input"]
    assert ids.dtype == np.int64
    assert main(["run", "emb.atb", "--inputs", "emb.inputs.npz", "--golden", "emb.golden.npz"]) == 0
    np.savez("int32.npz", ids.astype(np.int32))
    assert main(["run", "emb.atb", "--inputs", "int32.npz", "--golden", "emb.golden.npz"]) == 0
    bad = ids.copy()
    bad[1, 3] = 100
    np.savez("bad.npz", input=bad)
    capsys.readouterr()
    assert main(["run", "emb.atb", "--inputs", "bad.npz"]) == 2
    err = capsys.readouterr().err
    assert "input 'input': row id 100 at [1, 3] is out of range: the table it indexes has 100 rows" in err
    np.savez("floats.npz", input=ids.astype(np.float32))
    assert main(["run", "emb.atb", "--inputs", "floats.npz"]) == 2
    assert "input 'input' is float32; the program takes integer row ids" in capsys.readouterr().err
