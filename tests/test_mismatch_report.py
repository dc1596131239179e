"""How an RTL/emulator mismatch is located: the first differing element, and which intermediates
still hold their own values in the final DRAM image."""

import numpy as np
import torch

from atalla.config import get_config
from compiler.driver import compile_model
from golden.zoo import ZOO
from runtime.check import first_difference, intact_intermediates
from tests.helpers import Fn, randn


def test_first_difference_names_the_element():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = a.copy()
    assert first_difference(a, b) is None
    b[1, 2] = -1.0
    b[2, 0] = -2.0
    assert first_difference(a, b) == "2 elements differ, first [1, 2]: rtl np.float32(6.0), emulator np.float32(-1.0)"


def test_intact_intermediates_excludes_overwritten_ones():
    chain = Fn(lambda t: torch.relu(torch.relu(torch.relu(torch.relu(t) * 2) * 2) * 2))
    program = compile_model(chain, (randn(64, 64),), get_config("small"), "chain").program
    lifetimes = program.metadata["lifetimes"]
    intact = intact_intermediates(program)
    last_born = max(lifetimes, key=lambda n: lifetimes[n][0])
    assert last_born in intact  # nothing comes after it
    assert len(intact) < len(lifetimes)  # the planner reused the memory of early ones
    births = [lifetimes[n][0] for n in intact]
    assert births == sorted(births)


def test_zoo_models_keep_some_intermediates_intact():
    module, inputs = ZOO["attention"]()
    program = compile_model(module, inputs, get_config("small"), "attention").program
    assert intact_intermediates(program)
