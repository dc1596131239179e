"""Verification tools: constrained-random command programs (generator.py) run on the emulator and
the RTL in one simulation and compared bit for bit (batch.py, tb_batch.py inside the simulator)."""
