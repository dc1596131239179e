"""Shared contracts of the Atalla toolchain: hardware config, ISA, mailbox, blob layout, numerics."""

__version__ = "0.1.0"
