"""runtime.check judges a run: bit for bit against a functional reference (outputs, firmware calls,
the first wrong intermediate) and within tolerance of PyTorch, whichever backend ran it. The
reference is the emulator, except for backends other than the two functional models (the RTL):
those are judged by the C model."""

from __future__ import annotations

import numpy as np
import pytest

from atalla.blob_format import Role
from atalla.config import get_config
from compiler.driver import compile_model
from golden.reference import golden_outputs
from golden.zoo import ZOO
from runtime.check import check, intact_intermediates
from runtime.emulator import EmulatorError
from runtime.emulator.backend import EmulatorBackend


class FlippedBackend:
    """A backend (an emulator inside) that gets one bit wrong in each of the chosen tensors, as a
    broken backend would."""

    name = "flipped"

    def __init__(self, *tensors: str):
        self.inner, self.tensors = EmulatorBackend(), tensors

    def init(self, blob, expect_config=None):
        self.program = self.inner.init(blob, expect_config)
        return self.program

    def read_tensor(self, name: str) -> np.ndarray:
        value = self.inner.read_tensor(name).copy()
        if name in self.tensors:
            value.view(np.uint32).ravel()[0] ^= 1 << 20
        return value

    def execute(self, inputs):
        self.inner.execute(inputs)
        return [self.read_tensor(t.name) for t in self.program.by_role(Role.OUTPUT)]

    def firmware_calls(self):
        return self.inner.firmware_calls()

    def stats(self):
        return self.inner.stats()


@pytest.fixture(scope="module")
def attention():
    module, inputs = ZOO["attention"]()
    compiled = compile_model(module, inputs, get_config("small"), "attention")
    return compiled, [x.numpy() for x in inputs], golden_outputs(module, inputs)


def test_the_emulator_is_its_own_reference(attention):
    compiled, inputs, goldens = attention
    result = check(compiled.blob(), inputs, goldens)
    assert result.passed and result.bit_exact and result.firmware_calls_equal
    assert result.backend == "emulator" and result.stats["firmware_calls_by_kind"]["DMA"] > 0


def test_a_wrong_output_names_the_element_and_the_first_wrong_intermediate(attention):
    compiled, inputs, goldens = attention
    program = compiled.program
    output = program.by_role(Role.OUTPUT)[0].name
    first = intact_intermediates(program)[1]
    result = check(compiled.blob(), inputs, goldens, FlippedBackend(output, first))
    assert not result.passed and not result.bit_exact
    assert result.mismatches[0].startswith("output0: 1 elements differ, first [0, 0, 0]: flipped ")
    assert result.mismatches[1].startswith(f"first wrong intermediate: {first} (node ")
    assert result.firmware_calls_equal  # the calls were right; only the bits were not


def test_a_program_that_cannot_run_is_a_run_error(attention):
    compiled, inputs, goldens = attention
    with pytest.raises(EmulatorError, match=r"^the program takes 1 inputs, 0 given$"):
        check(compiled.blob(), [], goldens)


def test_a_backend_other_than_the_functional_models_is_judged_by_the_c_model(attention):
    compiled, inputs, goldens = attention
    output = compiled.program.by_role(Role.OUTPUT)[0].name
    result = check(compiled.blob(), inputs, goldens, FlippedBackend(output))
    assert result.reference == "cmodel"
    assert ", cmodel np.float32(" in result.mismatches[0]
    on_emulator = check(compiled.blob(), inputs, goldens, FlippedBackend(output), reference="emulator")
    assert on_emulator.reference == "emulator"
    assert on_emulator.mismatches == [m.replace(", cmodel ", ", emulator ") for m in result.mismatches]


def test_the_c_model_is_judged_by_the_emulator(attention):
    from runtime.cmodel.backend import CModelBackend

    compiled, inputs, goldens = attention
    result = check(compiled.blob(), inputs, goldens, CModelBackend())
    assert (result.backend, result.reference) == ("cmodel", "emulator") and result.passed


def test_an_unknown_reference_is_refused(attention):
    compiled, inputs, goldens = attention
    with pytest.raises(ValueError, match=r"^reference 'spice': one of emulator, cmodel$"):
        check(compiled.blob(), inputs, goldens, FlippedBackend(), reference="spice")
