"""The ops the host may run for a program: the one allow-list that the partitioner, the loader and
the firmware share.

A blob may come from anyone, and its host-op table names ATen ops that the firmware runs with the
blob's arguments. So only pure tensor ops are allowed, each with tensors, numbers, booleans, None
and lists of them as arguments, and strings only from the small set of enum values the op takes.
Their results must be the program's own tensors (the firmware checks each result's shape on
PyTorch's meta device before it computes anything). Ops that read files (aten.from_file), allocate
by a size argument (aten.empty, aten.full), name devices or dtypes, or write their arguments in
place are not on the list: the partitioner never sends them to the host, and the loader refuses a
blob that names them, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator

_NO_STRINGS: frozenset[str] = frozenset()

# ATen overload -> the string values (enum choices) its arguments may take.
HOST_OPS: dict[str, frozenset[str]] = {
    **{f"aten.{op}.default": _NO_STRINGS for op in (
        # elementwise
        "abs", "neg", "exp", "exp2", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "sin", "cos",
        "tan", "tanh", "sigmoid", "relu", "silu", "erf", "sign", "floor", "ceil", "round", "trunc", "clamp",
        "hardtanh", "leaky_relu", "elu", "softplus", "hardswish", "hardsigmoid", "mish", "maximum", "minimum",
        "atan2",
        # reductions
        "sum", "mean", "amax", "amin", "argmax", "argmin", "prod", "cumsum", "logsumexp",
        # normalisation, linear algebra, convolution, pooling, attention
        "_softmax", "_log_softmax", "layer_norm", "native_layer_norm", "group_norm", "native_group_norm",
        "_native_batch_norm_legit_no_training", "batch_norm", "linear", "addmm", "mm", "bmm", "matmul", "baddbmm",
        "conv1d", "conv2d", "convolution", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d",
        "adaptive_avg_pool2d", "_adaptive_avg_pool2d", "scaled_dot_product_attention",
        # layout and copies
        "cat", "stack", "split_with_sizes", "chunk", "permute", "view", "reshape", "_unsafe_view", "clone",
        "contiguous", "squeeze", "unsqueeze", "expand", "flip", "roll", "t", "alias", "tril", "triu",
        "constant_pad_nd", "repeat")},
    "aten.gelu.default": frozenset({"none", "tanh"}),
    "aten.pad.default": frozenset({"constant", "reflect", "replicate", "circular"}),
    **{f"aten.{op}.{overload}": _NO_STRINGS for op, overload in (
        ("add", "Tensor"), ("add", "Scalar"), ("sub", "Tensor"), ("sub", "Scalar"), ("rsub", "Tensor"),
        ("rsub", "Scalar"), ("mul", "Tensor"), ("mul", "Scalar"), ("div", "Tensor"), ("div", "Scalar"),
        ("pow", "Tensor_Scalar"), ("pow", "Tensor_Tensor"), ("pow", "Scalar"), ("clamp", "Tensor"),
        ("remainder", "Tensor"), ("remainder", "Scalar"), ("fmod", "Tensor"), ("fmod", "Scalar"),
        ("eq", "Tensor"), ("eq", "Scalar"), ("ne", "Tensor"), ("ne", "Scalar"), ("lt", "Tensor"), ("lt", "Scalar"),
        ("le", "Tensor"), ("le", "Scalar"), ("gt", "Tensor"), ("gt", "Scalar"), ("ge", "Tensor"), ("ge", "Scalar"),
        ("sum", "dim_IntList"), ("mean", "dim"), ("max", "dim"), ("min", "dim"), ("max", "default"),
        ("min", "default"), ("var", "correction"), ("var", "dim"), ("std", "correction"), ("std", "dim"),
        ("prod", "dim_int"), ("softmax", "int"), ("log_softmax", "int"), ("split", "Tensor"),
        ("transpose", "int"), ("flatten", "using_ints"), ("squeeze", "dim"), ("squeeze", "dims"),
        ("slice", "Tensor"), ("select", "int"), ("round", "decimals"))},
    "aten.div.Tensor_mode": frozenset({"trunc", "floor"}),
    "aten.div.Scalar_mode": frozenset({"trunc", "floor"}),
}


def host_op_problem(target: str, args: list, kwargs: dict) -> str | None:
    """Why the host may not run this op with these arguments, or None. Arguments as the blob holds
    them: {"tensor": id} for a tensor (any id here: the caller checks ids against its tensors)."""
    if target not in HOST_OPS:
        return "not an op the host may run (the allow-list is atalla/host_ops.py)"
    for path, value in _leaves(args, kwargs):
        if isinstance(value, str):
            if value not in HOST_OPS[target]:
                allowed = ", ".join(sorted(HOST_OPS[target])) or "none"
                return f"argument {path} is the string {value!r}; the op's string arguments are only: {allowed}"
        elif not (value is None or isinstance(value, (bool, int, float)) or _is_tensor_ref(value)):
            return f"argument {path} is a {type(value).__name__}, not a tensor, number, boolean or None"
    return None


def tensor_refs(args: list, kwargs: dict) -> Iterator[object]:
    """The tensor ids of {"tensor": id} arguments, wherever they nest."""
    for _, value in _leaves(args, kwargs):
        if _is_tensor_ref(value):
            yield value["tensor"]


def _is_tensor_ref(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"tensor"}


def _leaves(args: list, kwargs: dict) -> Iterator[tuple[str, object]]:
    """(where, value) for every argument that is not a list, lists opened to any depth."""
    stack = [(f"{i}", a) for i, a in enumerate(args)] + [(k, v) for k, v in kwargs.items()]
    while stack:
        path, value = stack.pop(0)
        if isinstance(value, list):
            stack[:0] = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            yield path, value
