"""The blob fuzzer (runtime/verify/fuzz.py): 10,000 mutated blobs per run, each refused by the loader,
stopped by the emulator's error or run to END, with the C loader's verdict equal; every crash it
ever found replayed from tests/fuzz_corpus/; and the fuzzer's own reporting (crash, hang, reproduce)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from atalla.blob_format import Role
from atalla.isa import Opcode, command, make_ref
from atalla.runtime_abi import MAX_LISTED_ELEMENTS, LoadError
from cli.main import main
from compiler.serialize import serialize
from runtime.cmodel.backend import CModelBackend, CModelError
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import RunError
from runtime.verify import SEED_ENV, fuzz, run_seed

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fuzz_corpus"
CASES = 10_000


@pytest.fixture(scope="module")
def judge() -> fuzz.Judge:
    c_loader = fuzz.c_loader()
    assert not isinstance(c_loader, str), c_loader  # make test builds the C runtime
    return fuzz.Judge(c_loader)


def test_ten_thousand_mutated_blobs_end_in_a_documented_verdict(judge, tmp_path):
    """A seed from the clock (printed; ATALLA_VERIFY_SEED=S reruns one): no crash, no hang, the C loader
    agreeing on every blob, and the mutations reaching every check of the loader and the emulator."""
    seed = run_seed()
    print(f"fuzz seed {seed} (rerun: {SEED_ENV}={seed})")
    result = fuzz.run_fuzz(seed, range(CASES), judge, tmp_path)
    assert not result.crashes, f"seed {seed}: {len(result.crashes)} crashes; first:\n" + "\n".join(
        f"{case.describe()}\n  {verdict.describe()}\n  reproduce: atalla verify fuzz --seed {seed} --start "
        f"{case.index} --count 1" for case, verdict, _ in result.crashes[:5])
    assert result.c_compared == CASES
    refused = {kind for (outcome, kind) in result.verdicts if outcome == fuzz.REFUSED}
    assert refused == {e.name for e in LoadError} - {"OK", "HOST_MEMORY", "CONFIG_MISMATCH"}
    faults = {kind for (outcome, kind) in result.verdicts if outcome == fuzz.FAULT}
    assert {"FIRMWARE", "UNBOUND_HANDLE", "BAD_TICKET", "OUT_OF_BUFFER", "BAD_SHAPE", "RACE", "UNINDEXED"} <= faults
    ran = result.verdicts[fuzz.RAN, "OK"]
    assert CASES // 20 < ran < CASES // 2, result.verdicts


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
def test_every_crash_found_replays_to_its_verdict(judge, case):
    expected = json.loads(case.read_text())["verdict"]
    assert judge(case.with_suffix(".atb").read_bytes()).as_dict() == expected


def test_the_corpus_holds_each_crash_found():
    assert len(list(CORPUS.glob("*.json"))) >= 5 and {p.stem for p in CORPUS.glob("*.atb")} == {
        p.stem for p in CORPUS.glob("*.json")}


def test_a_case_is_a_function_of_seed_and_index():
    assert fuzz.make_case(5, 17) == fuzz.make_case(5, 17)
    blobs = [fuzz.make_case(5, i).blob for i in range(200)]
    assert len(set(blobs)) > 150
    assert sum(b in fuzz.seed_blobs().values() for b in blobs) < 10  # a mutation may write back the old value
    assert sum(fuzz.make_case(5, i).blob != fuzz.make_case(6, i).blob for i in range(50)) > 40


def test_the_seeds_load_and_run(judge):
    for name, blob in fuzz.seed_blobs().items():
        assert judge(blob) == fuzz.Verdict(fuzz.RAN, "OK", ""), name


def test_a_crash_is_printed_with_the_command_that_reproduces_it(tmp_path, capsys, monkeypatch):
    """A loader that raises the wrong exception on one blob: the run exits 1, names the case and the
    mutation, writes the blob, and --replay of that file earns the same crash."""
    victim = fuzz.make_case(11, 3).blob
    real_load = fuzz.load

    def load(data, expect_config=None):
        if data == victim:
            raise ZeroDivisionError("integer division or modulo by zero")
        return real_load(data, expect_config)

    monkeypatch.setattr(fuzz, "load", load)
    out = tmp_path / "crashes"
    assert main(["verify", "fuzz", "--count", "5", "--seed", "11", "--out", str(out), "--no-c-loader"]) == 1
    text = capsys.readouterr().out
    assert "seed 11: cases 0..4: " in text and "1 crashes, 0 hangs" in text
    assert f"case 3: {fuzz.make_case(11, 3).seed_name}: {fuzz.make_case(11, 3).mutation}" in text
    assert "crash loader raised ZeroDivisionError: integer division or modulo by zero" in text
    blob_file = out / "fuzz-11-3.atb"
    assert f"reproduce: atalla verify fuzz --replay {blob_file}" in text
    assert "--seed 11 --start 3 --count 1" in text
    assert blob_file.read_bytes() == victim
    written = json.loads(blob_file.with_suffix(".json").read_text())
    assert (written["seed"], written["case"], written["verdict"]["kind"]) == (11, 3, "loader raised ZeroDivisionError")
    assert main(["verify", "fuzz", "--replay", str(blob_file), "--no-c-loader"]) == 1
    assert "crash loader raised ZeroDivisionError" in capsys.readouterr().out


def test_a_clean_run_exits_0_and_prints_its_seed(capsys):
    assert main(["verify", "fuzz", "--count", "40", "--shard", "1/2"]) == 0
    text = capsys.readouterr().out
    seed = re.match(r"seed (\d+): cases 20\.\.39 ", text).group(1)
    assert f"seed {seed}: cases 20..39: " in text and "C loader compared on 20; 0 crashes, 0 hangs" in text


def test_a_run_past_its_bound_is_a_hang(monkeypatch):
    def forever(program, inputs):
        while True:
            time.sleep(1)

    monkeypatch.setattr(fuzz, "_run", forever)
    monkeypatch.setattr(fuzz, "HANG_SECONDS", 0.2)
    verdict = fuzz.Judge()(fuzz.seed_blobs()["tiny"])
    assert verdict == fuzz.Verdict(fuzz.CRASH, "hang", "the run did not end within 0.2 s")


def test_a_dma_block_too_large_to_list_races_alike_on_the_emulator_and_the_c_model():
    """A load of 2**28 elements over DRAM a store in flight owns: both models take it as a race (the
    emulator once listed its elements, out of memory) before the firmware refuses its width."""
    program = fuzz.tiny_program(commands=[
        command(Opcode.ALLOC, handle=0, bytes=256), command(Opcode.ALLOC, handle=1, bytes=256),
        command(Opcode.DMA_STORE, sp=make_ref(0), dram_addr=320, rows=2, cols=8, row_stride=8, col_stride=1, ticket=0),
        command(Opcode.DMA_LOAD, sp=make_ref(1), dram_addr=320, rows=1, cols=1 << 28, row_stride=8, col_stride=1,
                ticket=1),
        command(Opcode.END)], host_ops=[])
    assert 1 << 28 > MAX_LISTED_ELEMENTS
    messages = []
    for backend in (EmulatorBackend(), CModelBackend()):
        loaded = backend.init(serialize(program))
        with pytest.raises(RunError) as e:
            backend.execute([np.zeros(t.shape, np.float32) for t in loaded.by_role(Role.INPUT)])
        messages.append(str(e.value))
    assert messages[0] == messages[1] == ("command 3 (DMA_LOAD): touches DRAM that DMA command 2 (ticket 0) still "
                                          "owns: WAIT for it first")


def test_the_c_model_lists_blocks_up_to_the_same_bound():
    source = (ROOT / "runtime" / "c" / "cmodel.c").read_text()
    value = re.search(r"#define MAX_LISTED_ELEMENTS \(1u << (\d+)\)", source).group(1)
    assert 1 << int(value) == MAX_LISTED_ELEMENTS


def test_a_program_that_stores_over_its_own_stream_is_refused_alike():
    """A DMA store over the END at command 14: the firmware refuses it, on the emulator and the C
    model alike (the command processor fetches the stream ahead; the functional models run the blob's)."""
    program = fuzz.tiny_program()
    commands = list(program.commands)
    commands[8] = command(Opcode.DMA_STORE, sp=make_ref(0, 4), dram_addr=program.program_dram_offset + 32 * 14, rows=2,
                          cols=8, row_stride=8, col_stride=1, ticket=2)
    blob = serialize(fuzz.tiny_program(commands=commands))
    verdict = fuzz.Judge()(blob)
    assert (verdict.outcome, verdict.kind) == (fuzz.FAULT, "FIRMWARE")
    assert "DMA_OUT_OF_BOUNDS" in verdict.message and "overlaps the command stream" in verdict.message, verdict.message
    backend = CModelBackend()
    backend.init(blob)
    with pytest.raises(CModelError) as e:
        backend.execute([np.zeros(t.shape, np.float32) for t in backend.program.by_role(Role.INPUT)])
    assert str(e.value) == verdict.message
