class CompileError(Exception):
    """A model the compiler cannot take, with a message naming the model, node or tensor."""
