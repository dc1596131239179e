"""Shared contracts of the Atalla toolchain: hardware config, ISA, mailbox, blob layout, numerics,
the co-simulation testbench formats, and the generator of the files RTL and C include (codegen)."""

__version__ = "0.1.0"
