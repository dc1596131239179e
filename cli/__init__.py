"""The `atalla` command, the top of the stack: it parses arguments, calls the compiler and the
runtime, and prints reports."""
