"""Reads the benchmark models of bench/models/*.nn (a small subset of the .nn language).

Every benchmark model has the same form: dense layers `name = dense(prev, units, act = ...)`,
the last one linear, mean softmax cross-entropy, and `optimizer sgd(...)` or `adam(...)` and
`batch N` in the train block; the CNN starts with `name = conv2d(x, filters, kernel = k,
pad = p, act = relu)` layers on NCHW input and one `maxpool(prev, size)`, then
`dense(flatten(prev), ...)`.
"""
import re


def parse_features(text):
    """The feature layers before the first dense layer, in order, as tuples:
    ("conv", name, filters, kernel, pad, act or None, bias), ("batchnorm", name, momentum, eps),
    ("relu", name), ("maxpool", name, size). Each is one statement `name = op(prev, ...)`."""
    ops = []
    for m in re.finditer(r"(\w+)\s*=\s*(conv2d|batchnorm|relu|maxpool)\(([^)]*)\)", text):
        name, op, args = m.group(1), m.group(2), [a.strip() for a in m.group(3).split(",")]
        kw = dict(a.split("=", 1) for a in args if "=" in a)
        kw = {k.strip(): v.strip() for k, v in kw.items()}
        pos = [a for a in args if "=" not in a]
        if op == "conv2d":
            ops.append(("conv", name, int(pos[1]), int(kw.get("kernel", 3)), int(kw.get("pad", 0)), kw.get("act"),
                        kw.get("bias", "true") != "false"))
        elif op == "batchnorm":
            ops.append(("batchnorm", name, float(kw.get("momentum", 0.9)), float(kw.get("eps", 1e-5))))
        elif op == "relu":
            ops.append(("relu", name))
        else:
            ops.append(("maxpool", name, int(pos[1]) if len(pos) > 1 else 2))
    return ops


def parse_model(text):
    """Returns a dict: layers [(name, units, act or None)], optimizer (kind, {arg: value}),
    batch, conv (whether the model has a conv2d layer), convs [(name, filters, kernel, pad,
    act)], features (parse_features), input (the NCHW input's [C, H, W], if any)."""
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
    features = parse_features(text)
    convs = [(f[1], f[2], f[3], f[4], f[5]) for f in features if f[0] == "conv"]
    shape = re.search(r"input\s+\w+\s*:\s*f32\[B,\s*([\d,\s]+)\]", text)
    return {"layers": layers, "optimizer": (opt.group(1), args), "batch": batch,
            "conv": "conv2d(" in text, "convs": convs, "features": features,
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


def conv_products(spec):
    """The convolutions' matrix products of one train step, as (label, M, N, K): per conv2d
    layer (stride 1) the forward product w·col (O × B·OH·OW × C·k²), the weight gradient (O ×
    C·k² × B·OH·OW), and the input gradient (C·k² × B·OH·OW × O) unless it is the first layer."""
    batch, gemms = spec["batch"], []
    dims = list(spec["input"])
    first = True
    for f in spec["features"]:
        c, h, w = dims
        if f[0] == "conv":
            _, name, filters, k, pad = f[:5]
            h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            gemms.append((f"{name} fwd", filters, batch * h * w, c * k * k))
            gemms.append((f"{name} dW", filters, c * k * k, batch * h * w))
            if not first:
                gemms.append((f"{name} dX", c * k * k, batch * h * w, filters))
            first = False
            dims = [filters, h, w]
        elif f[0] == "maxpool":
            dims = [c, h // f[2], w // f[2]]
    return gemms, dims


def model_flops(spec):
    """(FLOPs of one train step, features of the dense part's input) for a parsed model: the
    dense layers' step_flops plus the convolutions' products (conv_products), 2·M·N·K each.
    (Pooling, normalization, activations and the optimizer are not counted.)"""
    batch = spec["batch"]
    if not spec["convs"]:
        features = int(spec["input"][0]) if spec["input"] else 0
        return step_flops(features, spec["layers"], batch), features
    gemms, dims = conv_products(spec)
    flops = sum(2.0 * m * n * k for _, m, n, k in gemms)
    features = dims[0] * dims[1] * dims[2]
    dense = step_flops(features, spec["layers"], batch)
    name, units, _ = spec["layers"][0]
    dense += 2.0 * batch * units * features  # the first dense layer's input gradient is needed here
    return flops + dense, features
