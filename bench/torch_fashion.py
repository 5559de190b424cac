#!/usr/bin/python3
"""One Fashion-MNIST epoch in PyTorch, the twin of `nnc train examples/fashion_mlp.nn --epochs 1`.

Same data (/usr/share/datasets/fashion-mnist/*.gz, pixels scaled to [0, 1]), model
(784-256-128-10 ReLU, dropout 0.2 after the first layer), optimizer (SGD, lr 0.1, Nesterov
momentum 0.9; nnc's cosine schedule keeps lr 0.1 through a 1-epoch run), batch 128 (468 full
minibatches and a final one of 96) and work: train one shuffled epoch, evaluate the test set,
then the whole training and test sets (evaluation in minibatches of 128, as nnc does). The
minibatches are gathered from tensors in memory with a random permutation (faster than a
DataLoader). Prints one JSON object with the seconds of each phase and the accuracies.

    /usr/bin/python3 bench/torch_fashion.py [--threads 1] [--data DIR]
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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    xtr = torch.from_numpy(idx(f"{a.data}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
    ytr = torch.from_numpy(idx(f"{a.data}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xte = torch.from_numpy(idx(f"{a.data}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
    yte = torch.from_numpy(idx(f"{a.data}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    t_load = time.perf_counter() - t0

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    batch = 128

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
        "train_accuracy": train_acc, "test_accuracy": test_acc, "threads": torch.get_num_threads(),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
