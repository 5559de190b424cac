#!/usr/bin/python3
"""Times PyTorch's train step for the same model, data and initial parameters as nnc_bench.

Run by bench/run.sh after nnc_bench has written DIR (param.<name>.npy, x.npy, y.npy):

    /usr/bin/python3 bench/torch_bench.py MODEL.nn --dir DIR [--threads 1] [--nnc-json FILE]

The model is rebuilt from the .nn file of bench/models/ (see nnmodel.py for the form): conv2d,
batchnorm, relu and maxpool layers, then dense layers. The
step is the usual PyTorch loop: zero_grad, forward, cross_entropy, backward, optimizer.step.
The first --check steps' losses are compared with nnc's (same parameters, same minibatches),
then the step is timed like nnc_bench does (warm-up, then --reps repetitions of about
--rep-ms each, wall and CPU seconds per step). Prints one JSON object.
"""
import argparse
import json
import os
import re
import resource
import sys
import time

import numpy as np
import torch

import nnmodel
from nnmodel import parse_model


class Net(torch.nn.Module):
    """The model of a parsed .nn file: its feature layers (conv2d, batchnorm, relu, maxpool) in
    order, then flatten and the dense layers."""

    def __init__(self, features, layers, spec=None):
        super().__init__()
        self.features = torch.nn.ModuleList()
        self.kinds = []
        channels = spec["input"][0] if spec and spec["convs"] else 0
        for f in (spec["features"] if spec and spec["convs"] else []):
            if f[0] == "conv":
                _, _, filters, k, pad, act, bias = f
                self.features.append(torch.nn.Conv2d(channels, filters, k, padding=pad, bias=bias))
                self.kinds.append("conv")
                if act:
                    assert act == "relu", f"torch_bench: conv activation {act} not supported"
                    self.features.append(torch.nn.ReLU())
                    self.kinds.append("relu")
                channels = filters
            elif f[0] == "batchnorm":  # nnc's running = m·running + (1−m)·batch is torch's 1 − m
                self.features.append(torch.nn.BatchNorm2d(channels, eps=f[3], momentum=1 - f[2]))
                self.kinds.append("batchnorm")
            elif f[0] == "relu":
                self.features.append(torch.nn.ReLU())
                self.kinds.append("relu")
            else:
                self.features.append(torch.nn.MaxPool2d(f[2]))
                self.kinds.append("maxpool")
        self.linears = torch.nn.ModuleList()
        self.acts = []
        n = features
        for _, units, act in layers:
            self.linears.append(torch.nn.Linear(n, units))
            self.acts.append(act)
            n = units

    def forward(self, x):
        for layer in self.features:
            x = layer(x)
        if len(self.features):
            x = torch.flatten(x, 1)
        for linear, act in zip(self.linears, self.acts):
            x = linear(x)
            if act == "relu":
                x = torch.relu(x)
            elif act == "sigmoid":
                x = torch.sigmoid(x)
            elif act is not None:
                raise SystemExit(f"torch_bench: activation {act} not supported")
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup-ms", type=float, default=1000)
    ap.add_argument("--rep-ms", type=float, default=150)
    ap.add_argument("--nnc-json", help="nnc_bench's output, to compare the check losses with")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    spec = parse_model(open(a.model).read())
    layers, (opt_kind, opt_args), batch = spec["layers"], spec["optimizer"], spec["batch"]
    x_all = torch.from_numpy(np.load(f"{a.dir}/x.npy"))
    if spec["convs"]:
        x_all = x_all.reshape([x_all.shape[0]] + spec["input"])
    y_all = torch.from_numpy(np.load(f"{a.dir}/y.npy").astype(np.int64))
    features = nnmodel.model_flops(spec)[1]
    nbatches = x_all.shape[0] // batch
    xs = [x_all[i * batch:(i + 1) * batch].contiguous() for i in range(nbatches)]
    ys = [y_all[i * batch:(i + 1) * batch].contiguous() for i in range(nbatches)]

    model = Net(features, layers, spec)
    with torch.no_grad():
        modules = [m for m, k in zip(model.features, model.kinds) if k in ("conv", "batchnorm")]
        specs = [f for f in spec["features"] if f[0] in ("conv", "batchnorm")] if spec["convs"] else []
        for f, m in zip(specs, modules):
            load = lambda what: torch.from_numpy(np.load(f"{a.dir}/param.{f[1]}.{what}.npy"))  # noqa: E731
            if f[0] == "conv":  # both OIHW
                m.weight.copy_(load("weight"))
                if f[6]:
                    m.bias.copy_(load("bias"))
            else:
                m.weight.copy_(load("gamma"))
                m.bias.copy_(load("beta"))
                for what in ("running_mean", "running_var"):  # zeros and ones unless written
                    if os.path.exists(f"{a.dir}/param.{f[1]}.{what}.npy"):
                        getattr(m, what).copy_(load(what))
        for (name, _, _), linear in zip(layers, model.linears):
            w = np.load(f"{a.dir}/param.{name}.weight.npy")  # nnc: [in, out]; torch: [out, in]
            b = np.load(f"{a.dir}/param.{name}.bias.npy")
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b))

    if opt_kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=opt_args["lr"], momentum=opt_args.get("momentum", 0.0),
                              nesterov=bool(opt_args.get("nesterov", 0)))
    elif opt_kind == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=opt_args["lr"], betas=(opt_args.get("beta1", 0.9),
                               opt_args.get("beta2", 0.999)), eps=opt_args.get("eps", 1e-8))
    else:
        raise SystemExit(f"torch_bench: optimizer {opt_kind} not supported")

    counter = [0]

    def step():
        i = counter[0] % nbatches
        counter[0] += 1
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(xs[i]), ys[i])
        loss.backward()
        opt.step()
        return loss

    losses = [float(step()) for _ in range(a.check)]

    warm = 0
    start = time.perf_counter()
    while time.perf_counter() - start < a.warmup_ms * 1e-3 or warm < 3:
        step()
        warm += 1
    per_step = (time.perf_counter() - start) / warm
    steps_per_rep = max(1, int(a.rep_ms * 1e-3 / per_step))
    times, cpu_times = [], []
    for _ in range(a.reps):
        s, c = time.perf_counter(), time.process_time()
        for _ in range(steps_per_rep):
            step()
        times.append((time.perf_counter() - s) / steps_per_rep)
        cpu_times.append((time.process_time() - c) / steps_per_rep)
    last = float(step())

    out = {"model": a.model, "batch": batch, "threads": torch.get_num_threads(), "steps_per_rep": steps_per_rep,
           "step_s": times, "step_cpu_s": cpu_times, "check_losses": losses, "last_loss": last,
           "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if a.nnc_json:
        theirs = json.load(open(a.nnc_json))["check_losses"]
        out["check_max_rel_diff"] = max(abs(p - q) / max(abs(q), 1e-12) for p, q in zip(losses, theirs))
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
