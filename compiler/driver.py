"""The compiler's front door: nn.Module + example inputs -> Program (and blob bytes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from atalla.config import HardwareConfig
from atalla.program import Program
from compiler.capture import capture
from compiler.fold import fold
from compiler.lower import Lowering
from compiler.partition import Placement, format_partition, partition
from compiler.serialize import serialize


@dataclass
class Compiled:
    model: str
    program: Program
    placements: list[Placement]
    exported: object  # torch.export.ExportedProgram

    def blob(self) -> bytes:
        return serialize(self.program)

    def partition_report(self) -> str:
        return format_partition(self.model, self.placements)


def compile_model(module: torch.nn.Module, example_inputs: tuple, config: HardwareConfig, model: str = "model",
                  decompose: bool = False) -> Compiled:
    return compile_exported(capture(module, example_inputs, model, decompose=decompose), config, model)


def compile_exported(exported, config: HardwareConfig, model: str = "model") -> Compiled:
    """An ATen-graph ExportedProgram (compiler.capture's, or an ExecuTorch delegate's subgraph
    mapped back to ATen by compiler.executorch) -> Program: fold, partition, lower."""
    folded = fold(exported, model)
    placements = partition(exported.graph, folded)
    program = Lowering(exported, config, model, folded).run(placements)
    return Compiled(model, program, placements, exported)
