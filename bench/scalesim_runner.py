"""Runner executed by the SCALE-Sim virtualenv's python (never imported by the project).

Usage: python scalesim_runner.py REQUEST.json RESULT.json

REQUEST: {"rows": R, "cols": C, "shapes": [[M, K, N], ...], "workdir": "/tmp/..."}
RESULT:  {"layers": [{"M":.., "K":.., "N":.., "total_cycles": .., "stall_cycles": ..,
                      "seconds": ..}, ...], "seconds": ..}

"total_cycles" is SCALE-Sim's raw per-layer "Total Cycles" (COMPUTE_REPORT column 3),
i.e. the index of the last modelled cycle; the caller adds one.

SCALE-Sim prints a lot (banner, progress bars, per-layer stats) even with verbose=False in
places, so stdout is redirected to stderr at the file-descriptor level while it runs; the
caller captures stderr and only shows it on failure.
"""

import json
import os
import sys
import time

CONFIG_TEMPLATE = """\
[general]
run_name = atalla_ref

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = 6144
FilterSramSzkB = 6144
OfmapSramSzkB = 2048
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = ws
Bandwidth = 10
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""

# GEMM topology: "Layer, M, N, K," -- every row needs the trailing comma (the parser drops
# the last comma-separated field).
TOPO_HEADER = "Layer, M, N, K,\n"

# Layout file: required by v3 even when custom layouts are disabled (it is parsed, not used).
# Header + one row per layer: name, 6 intraline factors, ifmap intra/inter orders (3+3),
# filter intra/inter orders (4+4).
LAYOUT_HEADER = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, "
    "Num Filter Intraline Factor, IFMAP Height Intraline Order, IFMAP Width Intraline Order, "
    "Channel Intraline Order, IFMAP Height Interline Order, IFMAP Width Interline Order, "
    "Channel Interline Order, Num Filter Intraline Order, Channel Intraline Order, "
    "Filter Height Intraline Order, Filter Width Intraline Order, Num Filter Interline Order, "
    "Channel Interline Order, Filter Height Interline Order, Filter Width Interline Order,\n"
)
LAYOUT_ROW_TAIL = "1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3,\n"


def _drop_disabled_progress_bars() -> None:
    """Speed-up that leaves the model untouched: SCALE-Sim wraps its per-cycle loops in
    ``tqdm(range(n), disable=True)``; constructing a disabled tqdm per call still costs
    about a quarter of the run time, because write_buffer.service_writes builds one per
    modelled cycle. Replace it, in the memory modules only, by the bare iterable."""
    import scalesim.memory.double_buffered_scratchpad_mem as dbsp
    import scalesim.memory.read_buffer as rb
    import scalesim.memory.write_buffer as wb

    real_tqdm = wb.tqdm

    def quiet_tqdm(iterable=None, *args, **kwargs):
        if iterable is not None:
            return iterable
        kwargs["disable"] = True
        return real_tqdm(*args, **kwargs)

    for mod in (dbsp, rb, wb):
        mod.tqdm = quiet_tqdm


def main() -> int:
    req_path, out_path = sys.argv[1], sys.argv[2]
    with open(req_path) as f:
        req = json.load(f)
    rows, cols = int(req["rows"]), int(req["cols"])
    shapes = [tuple(int(x) for x in s) for s in req["shapes"]]
    workdir = req["workdir"]
    os.makedirs(workdir, exist_ok=True)

    cfg = os.path.join(workdir, "scalesim.cfg")
    topo = os.path.join(workdir, "gemms.csv")
    layout = os.path.join(workdir, "layout.csv")
    with open(cfg, "w") as f:
        f.write(CONFIG_TEMPLATE.format(rows=rows, cols=cols))
    with open(topo, "w") as f:
        f.write(TOPO_HEADER)
        for i, (m, k, n) in enumerate(shapes):
            f.write(f"L{i}, {m}, {n}, {k},\n")
    with open(layout, "w") as f:
        f.write(LAYOUT_HEADER)
        for i in range(len(shapes)):
            f.write(f"L{i}, " + LAYOUT_ROW_TAIL)

    # Silence SCALE-Sim: route fd 1 to fd 2 (the caller keeps stderr for error reports).
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    t_all = time.perf_counter()
    try:
        from scalesim.scale_sim import scalesim
        from scalesim.single_layer_sim import single_layer_sim
        _drop_disabled_progress_bars()

        sim = scalesim(save_disk_space=True, verbose=False, config=cfg,
                       topology=topo, layout=layout, input_type_gemm=True)
        # Time each layer: wrap single_layer_sim.run (the simulator runs layers in order).
        layer_secs = []
        orig_run = single_layer_sim.run

        def timed_run(self):
            t0 = time.perf_counter()
            orig_run(self)
            layer_secs.append(time.perf_counter() - t0)

        single_layer_sim.run = timed_run
        sim.run_scale(top_path=workdir)

        layers = []
        for i, obj in enumerate(sim.runner.single_layer_sim_object_list):
            items = obj.get_compute_report_items()
            m, k, n = shapes[i]
            layers.append({"M": m, "K": k, "N": n,
                           "total_cycles": int(items[1]),
                           "stall_cycles": int(items[2]),
                           "seconds": layer_secs[i] if i < len(layer_secs) else None})
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)

    # Cross-check against the CSV report SCALE-Sim wrote (column "Total Cycles").
    report = os.path.join(workdir, "atalla_ref", "COMPUTE_REPORT.csv")
    if os.path.exists(report):
        with open(report) as f:
            lines = [ln for ln in f.read().splitlines()[1:] if ln.strip()]
        for ln, layer in zip(lines, layers):
            csv_total = int(float(ln.split(",")[2]))
            if csv_total != layer["total_cycles"]:
                raise SystemExit(f"COMPUTE_REPORT mismatch: {ln!r} vs {layer}")

    with open(out_path, "w") as f:
        json.dump({"layers": layers, "seconds": time.perf_counter() - t_all}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
