"""Reads the benchmark models of bench/models/*.nn (a small subset of the .nn language).

Every benchmark model has the same form: dense layers `name = dense(prev, units, act = ...)`,
the last one linear, mean softmax cross-entropy, and `optimizer sgd(...)` or `adam(...)` and
`batch N` in the train block; the CNN starts with `name = conv2d(x, filters, kernel = k,
pad = p, act = relu)` layers on NCHW input and one `maxpool(prev, size)`, then
`dense(flatten(prev), ...)`.
"""
import re


def parse_model(text):
    """Returns a dict: layers [(name, units, act or None)], optimizer (kind, {arg: value}),
    batch, conv (whether the model has a conv2d layer)."""
    text = re.sub(r"#[^\n]*", "", text)
    layers = []
    for m in re.finditer(r"(\w+)\s*=\s*dense\(\s*[\w()]+\s*,\s*(\d+)\s*(?:,\s*act\s*=\s*(\w+))?\s*\)", text):
        layers.append((m.group(1), int(m.group(2)), m.group(3)))
    opt = re.search(r"optimizer\s+(\w+)\s*(?:\(([^)]*)\))?", text)
    args = {}
    for a in (opt.group(2) or "").split(","):
        if "=" in a:
            k, v = a.split("=")
            v = v.strip()
            args[k.strip()] = {"true": 1.0, "false": 0.0}.get(v, None) if v in ("true", "false") else float(v)
    batch = int(re.search(r"batch\s+(\d+)", text).group(1))
    convs = []
    for m in re.finditer(r"(\w+)\s*=\s*conv2d\(\s*\w+\s*,\s*(\d+)\s*,\s*kernel\s*=\s*(\d+)\s*,\s*pad\s*=\s*(\d+)"
                         r"\s*,\s*act\s*=\s*(\w+)\s*\)", text):
        convs.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5)))
    pool = re.search(r"maxpool\(\s*\w+\s*,\s*(\d+)\s*\)", text)
    shape = re.search(r"input\s+\w+\s*:\s*f32\[B,\s*([\d,\s]+)\]", text)
    return {"layers": layers, "optimizer": (opt.group(1), args), "batch": batch,
            "conv": "conv2d(" in text, "convs": convs, "pool": int(pool.group(1)) if pool else None,
            "input": [int(d) for d in shape.group(1).split(",")] if shape else None}


def step_gemms(features, layers, batch):
    """The matrix products of one train step of an MLP, as (label, M, N, K, flags) with flags
    1 = op(A) transposed, 2 = op(B) transposed: forward X·W per layer; backward Xᵀ·dY (the
    weight gradient) per layer and dY·Wᵀ (the input gradient) for every layer but the first."""
    gemms = []
    n = features
    for i, (name, units, _) in enumerate(layers):
        gemms.append((f"{name} fwd", batch, units, n, 0))
        gemms.append((f"{name} dW", n, units, batch, 1))
        if i > 0:
            gemms.append((f"{name} dX", batch, n, units, 2))
        n = units
    return gemms


def step_flops(features, layers, batch):
    """2·M·N·K summed over step_gemms."""
    return sum(2.0 * m * n * k for _, m, n, k, _ in step_gemms(features, layers, batch))


def model_flops(spec):
    """(FLOPs of one train step, features of the dense part's input) for a parsed model: the
    dense layers' step_flops, plus per conv2d layer (stride 1) its forward product counted as a
    GEMM, 2·B·H·W·Cout·Cin·k², its weight gradient the same, and its input gradient the same
    unless it is the first layer. (Pooling, activations and the optimizer are not counted.)"""
    batch, flops = spec["batch"], 0.0
    dims = list(spec["input"])
    for i, (_, filters, k, pad, _) in enumerate(spec["convs"]):
        c, h, w = dims
        h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
        flops += (2 if i == 0 else 3) * 2.0 * batch * h * w * filters * c * k * k
        dims = [filters, h, w]
    if spec["convs"] and spec["pool"]:
        dims = [dims[0], dims[1] // spec["pool"], dims[2] // spec["pool"]]
    features = 1
    for d in dims:
        features *= d
    dense = step_flops(features, spec["layers"], batch)
    if spec["convs"]:  # the first dense layer's input gradient is needed here
        name, units, _ = spec["layers"][0]
        dense += 2.0 * batch * units * features
    return flops + dense, features
