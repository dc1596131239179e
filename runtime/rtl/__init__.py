"""The RTL backend: the co-simulation harness that runs a blob on the Verilator-simulated design.

build.py builds and runs cocotb benches (cached per content); cosim.py runs a program on the whole
design (run_rtl); tb_cosim.py is the cocotb bench inside the simulator, serving the firmware over
the mailbox; recording.py and replay.py replay a run without Python (the speed baseline); trace.py
and waves.py turn a run into a timeline, a mailbox log and a GTKWave save file.
"""
