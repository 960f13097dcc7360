"""Epoch time of MixupNetClassifier against a hand-written PyTorch loop.

Runs, side by side and interleaved (so machine noise hits all alike), on an MLP
784-256-10 over 10,000 MNIST test images (random data if MNIST is absent):

* ``torch``: a hand-written loop (tensor data, randperm batches, AdamW);
* ``torch mixup``: the same loop with input mixup (lambda ~ Beta(1, 1), a
  permuted partner, soft-target cross-entropy);
* ``skorch``: plain ``skorch.NeuralNetClassifier`` with its DataLoader;
* ``skmixal a=0``: MixupNetClassifier, mixup off;
* ``skmixal a=1``: MixupNetClassifier, mixup on (alpha=1).

Prints the median seconds per epoch over ``--repeats`` runs and the ratios the
project tracks: skmixal a=0 / torch (goal <= 1.15) and a=1 / a=0 (goal <= 1.05).

    python benchmarks/bench_epoch.py --epochs 5 --repeats 5
"""

import argparse
import gzip
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skmixal import MLP, MixupNetClassifier

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(n):
    images = MNIST / "t10k-images-idx3-ubyte.gz"
    if images.exists():
        raw = gzip.open(images).read()
        X = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784)[:n]
        y = np.frombuffer(gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz").read(),
                          np.uint8, offset=8)[:n]
        return (X / 255.0).astype(np.float32), y.astype(np.int64), "MNIST"
    rng = np.random.RandomState(0)
    return (rng.rand(n, 784).astype(np.float32), rng.randint(0, 10, n),
            "random")


def make_module():
    return MLP(784, 10, hidden_units=(256,), dropout=0.0)


def run_torch(X, y, epochs, batch_size):
    torch.manual_seed(0)
    model = make_module()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            # index_select, as TensorLoader does: Xt[idx] costs 6x more on the CPU
            xb, yb = Xt.index_select(0, idx), yt.index_select(0, idx)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()  # skorch records every batch loss; so does this loop
    return (time.perf_counter() - start) / epochs


def run_torch_mixup(X, y, epochs, batch_size, alpha=1.0):
    """The hand-written loop with input mixup: the same work skmixal does."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = make_module()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = Xt.index_select(0, idx), yt.index_select(0, idx)
            lam = float(rng.beta(alpha, alpha))
            partner = torch.randperm(len(xb))
            mixed = torch.lerp(xb.index_select(0, partner), xb, lam)
            target = torch.lerp(nn.functional.one_hot(yb[partner], 10).float(),
                                nn.functional.one_hot(yb, 10).float(), lam)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(mixed), target)
            loss.backward()
            opt.step()
            loss.item()
    return (time.perf_counter() - start) / epochs


def run_net(net, X, y, epochs):
    torch.manual_seed(0)
    start = time.perf_counter()
    net.fit(X, y)
    assert len(net.history) == epochs
    return (time.perf_counter() - start) / epochs


def contenders(epochs, batch_size):
    common = dict(module=make_module(), criterion=nn.CrossEntropyLoss,
                  optimizer=torch.optim.AdamW, lr=1e-3, max_epochs=epochs,
                  batch_size=batch_size, train_split=None, verbose=0, device="cpu")
    return {
        "skorch": lambda: NeuralNetClassifier(iterator_train__shuffle=True, **common),
        "skmixal a=0": lambda: MixupNetClassifier(mixup_alpha=0.0, min_steps=0,
                                                  **common),
        "skmixal a=1": lambda: MixupNetClassifier(mixup_alpha=1.0, min_steps=0,
                                                  **common),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    X, y, source = load_data(args.samples)
    print(f"data: {source} {X.shape}, batch_size={args.batch_size}, "
          f"epochs={args.epochs}, repeats={args.repeats}, "
          f"torch threads={torch.get_num_threads()}")
    makers = contenders(args.epochs, args.batch_size)
    times = {"torch": [], "torch mixup": []} | {name: [] for name in makers}
    run_torch(X, y, 1, args.batch_size)  # warm-up: allocator, thread pool
    for _ in range(args.repeats):
        times["torch"].append(run_torch(X, y, args.epochs, args.batch_size))
        times["torch mixup"].append(run_torch_mixup(X, y, args.epochs,
                                                    args.batch_size))
        for name, make in makers.items():
            times[name].append(run_net(make(), X, y, args.epochs))

    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{'contender':<14}{'s/epoch (median)':>18}{'min':>10}{'max':>10}"
          f"{'vs torch':>10}")
    for name, t in times.items():
        print(f"{name:<14}{median[name]:>18.4f}{min(t):>10.4f}{max(t):>10.4f}"
              f"{median[name] / median['torch']:>9.2f}x")
    print(f"\nskmixal a=0 / torch loop: {median['skmixal a=0'] / median['torch']:.3f}"
          "  (goal <= 1.15)")
    print(f"skmixal a=1 / a=0:        "
          f"{median['skmixal a=1'] / median['skmixal a=0']:.3f}  (goal <= 1.05)")
    print(f"skmixal a=1 / torch mixup loop: "
          f"{median['skmixal a=1'] / median['torch mixup']:.3f}")
    print(f"torch mixup loop / torch loop: "
          f"{median['torch mixup'] / median['torch']:.3f}")
    print(f"plain skorch / torch loop: {median['skorch'] / median['torch']:.3f}")


if __name__ == "__main__":
    main()
