#!/usr/bin/python3
"""One Fashion-MNIST epoch in PyTorch, the twin of `nnc train examples/fashion_mlp.nn --epochs 1`
(`--model mlp`, the default) or of `nnc train examples/fashion_cnn.nn --epochs 1` (`--model cnn`).

Same data (/usr/share/datasets/fashion-mnist/*.gz, pixels scaled to [0, 1]) and work: train one
shuffled epoch, evaluate the test set, then the whole training and test sets (evaluation in
minibatches of the training batch, as nnc does). The minibatches are gathered from tensors in
memory with a random permutation (faster than a DataLoader). Prints one JSON object with the
seconds of each phase and the accuracies.

mlp: 784-256-128-10 ReLU, dropout 0.2 after the first layer; SGD, lr 0.1, Nesterov momentum 0.9
(nnc's cosine schedule counts whole epochs, so it keeps lr 0.1 through a 1-epoch run); batch 128
(468 full minibatches and a final one of 96).

cnn: each minibatch augmented as nnc's random_flip(random_shift(x, 1)) does it (every image moved
by dy, dx drawn uniformly from -1..1 with zeros coming in, a crop of the zero-padded batch by
indexing; then mirrored left to right with probability 1/2); two blocks of 3x3 convolution
(padding 1, no bias), batch normalization (PyTorch's momentum 0.1 is nnc's 0.9, eps 1e-5,
unbiased running variance in both), ReLU and 2x2 max pooling, with 32 then 64 filters; dropout
0.25, dense 128 ReLU, dropout 0.25, dense 10; Adam lr 0.002 (betas 0.9, 0.999, eps 1e-8; the
cosine schedule keeps lr 0.002 through a 1-epoch run); batch 64 (937 full minibatches and a
final one of 32).

    /usr/bin/python3 bench/torch_fashion.py [--model mlp|cnn] [--threads 1] [--data DIR]
"""
import argparse
import gzip
import json
import resource
import time

t_start = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402

t_import = time.perf_counter() - t_start


def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                    help="the twin of examples/fashion_mlp.nn (default) or of examples/fashion_cnn.nn")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    shape = (-1, 784) if a.model == "mlp" else (-1, 1, 28, 28)
    t0 = time.perf_counter()
    xtr = torch.from_numpy(idx(f"{a.data}/train-images-idx3-ubyte.gz", 16).reshape(shape).astype(np.float32) / 255)
    ytr = torch.from_numpy(idx(f"{a.data}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xte = torch.from_numpy(idx(f"{a.data}/t10k-images-idx3-ubyte.gz", 16).reshape(shape).astype(np.float32) / 255)
    yte = torch.from_numpy(idx(f"{a.data}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    t_load = time.perf_counter() - t0

    nn = torch.nn
    if a.model == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        batch = 128
        augment = None
    else:
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5),
                    nn.ReLU(), nn.MaxPool2d(2)]
        model = nn.Sequential(
            *block(1, 32), *block(32, 64), nn.Flatten(),
            nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Dropout(0.25), nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=0.002, betas=(0.9, 0.999), eps=1e-8)
        batch = 64
        pad, span = 1, torch.arange(28)

        def augment(xb):
            # random_shift(x, 1): a 28x28 crop at offset (dy, dx) in 0..2 of the batch zero-padded by 1
            # (a move by dy - 1, dx - 1); then random_flip: mirror along W where a coin says so.
            n = len(xb)
            padded = torch.nn.functional.pad(xb, (pad, pad, pad, pad))
            dy = torch.randint(0, 2 * pad + 1, (n,))
            dx = torch.randint(0, 2 * pad + 1, (n,))
            rows = (dy[:, None] + span)[:, :, None]
            cols = (dx[:, None] + span)[:, None, :]
            xb = padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
            flip = torch.rand(n) < 0.5
            return torch.where(flip[:, None, None, None], xb.flip(3), xb)

    def evaluate(x, y):
        model.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x), batch):
                logits = model(x[i:i + batch])
                loss += float(torch.nn.functional.cross_entropy(logits, y[i:i + batch], reduction="sum"))
                correct += int((logits.argmax(1) == y[i:i + batch]).sum())
        return loss / len(x), correct / len(x)

    t0 = time.perf_counter()
    model.train()
    order = torch.randperm(len(xtr))
    loss_sum = 0.0
    for i in range(0, len(xtr), batch):
        ids = order[i:i + batch]
        xb, yb = xtr[ids], ytr[ids]
        if augment is not None:
            xb = augment(xb)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        loss_sum += float(loss) * len(ids)
    t_epoch = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_loss, test_acc = evaluate(xte, yte)
    t_test = time.perf_counter() - t0
    train_loss, train_acc = evaluate(xtr, ytr)
    test_loss, test_acc = evaluate(xte, yte)
    t_final = time.perf_counter() - t0
    print(json.dumps({
        "import_s": t_import, "load_s": t_load, "epoch_s": t_epoch, "eval_s": t_test + t_final,
        "total_s": time.perf_counter() - t_start, "epoch_train_loss": loss_sum / len(xtr),
        "train_accuracy": train_acc, "test_accuracy": test_acc, "threads": torch.get_num_threads(), "model": a.model,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
