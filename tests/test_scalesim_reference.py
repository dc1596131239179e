"""SCALE-Sim reference set-up check: its weight-stationary cycle counts (plus one) must equal
the closed form (2R + C + M - 2) * ceil(K/R) * ceil(N/C).  The closed form is only a check
that the SCALE-Sim run is configured right; bench uses SCALE-Sim's own figures."""

from __future__ import annotations

import math

import pytest

from bench.scalesim_reference import scalesim_cycles, venv_ready

pytestmark = pytest.mark.skipif(
    not venv_ready(),
    reason="SCALE-Sim virtualenv .venv-scalesim not built (CI does not build it; "
           "`make bench` does via bench.scalesim_reference.ensure_venv())",
)


def closed_form_ws(m: int, k: int, n: int, rows: int, cols: int) -> int:
    return (2 * rows + cols + m - 2) * math.ceil(k / rows) * math.ceil(n / cols)


CASES = {
    (8, 8): [(64, 64, 64), (100, 300, 70), (8, 8, 8), (5, 9, 17)],
    (32, 32): [(100, 300, 70), (64, 64, 64), (33, 31, 65)],
    (4, 16): [(20, 10, 40)],  # non-square array: K on rows, N on columns
}


@pytest.mark.parametrize("array", list(CASES), ids=lambda a: f"{a[0]}x{a[1]}")
def test_scalesim_matches_closed_form(array):
    rows, cols = array
    shapes = CASES[array]
    got = scalesim_cycles(shapes, rows, cols)
    assert set(got) == set(shapes)
    for m, k, n in shapes:
        assert got[(m, k, n)] == closed_form_ws(m, k, n, rows, cols), (m, k, n, rows, cols)


def test_duplicate_shapes_collapse():
    got = scalesim_cycles([(16, 16, 16), (16, 16, 16)], 8, 8)
    assert got == {(16, 16, 16): closed_form_ws(16, 16, 16, 8, 8)}
