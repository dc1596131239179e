"""The emulator: the bit-exact functional model of Atalla, in NumPy, and the reference every other
backend is checked against. machine.py executes commands, units.py is the arithmetic of the GEMM
and vector units (also the block benches' reference model), dma.py the immediate DMA engine."""

from runtime.emulator.machine import Emulator, EmulatorError

__all__ = ["Emulator", "EmulatorError"]
