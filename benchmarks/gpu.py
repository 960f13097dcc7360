"""GPU benchmark: training overhead, query throughput and reproducibility on CUDA.

One run prints, side by side:

1. **Epoch time, MLP 784-256-10** on 10,000 MNIST images (batch 128): a
   hand-written loop on the device, plain ``skorch.NeuralNetClassifier``,
   ``MixupNetClassifier(mixup_alpha=0)``, and ``mixup_alpha=1`` against a
   hand-written mixup loop. Ratios against the hand loops.
2. **Epoch time, ResNet-18 (torchvision, 10 classes) on 32 x 32 x 3** CIFAR-10
   images with bf16 autocast and channels_last, ``MixupNetClassifier``
   (alpha=1) against a hand-written mixup loop with the same settings; and
   fine-tuning through ``PretrainedClassifier`` (a ResNet-18 trunk and a new
   head at 96 px), ``precision='auto'`` (bf16 + channels_last on CUDA)
   against ``precision='float32'``.
3. **Query throughput** on a 1,000,000 x 784 float32 pool in host memory: a
   bare chunked forward pass with entropy and top-k against skmixal's entropy,
   margin and least-confidence sampling (goal <= 1.25x).
4. **Reproducibility**: two fits with the same ``random_state`` (default MLP
   and default CNN); max |delta proba| and whether they are bit-identical.

Without a CUDA device it says so and exits 0. ``--smoke`` runs every part on
the CPU with tiny sizes, to check the script itself (its numbers mean nothing).
Meant to finish in under 5 minutes on one H100/H200::

    python benchmarks/gpu.py
"""

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# --- data ---


def mnist(n):
    images = DATA / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not images.exists():
        rng = np.random.RandomState(0)
        return rng.rand(n, 784).astype(np.float32), rng.randint(0, 10, n), "random"
    X = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16)
    y = np.frombuffer(gzip.open(DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").read(),
                      np.uint8, offset=8)
    X = X.reshape(-1, 784)[:n] / np.float32(255)
    return X.astype(np.float32), y[:n].astype(np.int64), "MNIST"


def cifar(n):
    path = DATA / "cifar10" / "cifar10-test-subset2000-jpeg75.npz"
    if not path.exists():
        rng = np.random.RandomState(0)
        return rng.rand(n, 3, 32, 32).astype(np.float32), rng.randint(0, 10, n)
    data = np.load(path)
    # the file is sorted by class: shuffle once, so any prefix has every class
    order = np.random.RandomState(0).permutation(len(data["y"]))
    X = data["x"][order].transpose(0, 3, 1, 2).astype(np.float32) / 255
    reps = -(-n // len(X))  # the subset repeated up to n images
    return np.tile(X, (reps, 1, 1, 1))[:n], np.tile(data["y"][order], reps)[
        :n].astype(np.int64)


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# --- hand-written loops ---


def hand_loop(make_module, X, y, *, epochs, batch_size, device, alpha=0.0,
              bf16=False, channels_last=False):
    """Data resident on the device, randperm batches, AdamW, loss.item() per
    batch (skorch records every batch loss, so this loop does too)."""
    torch.manual_seed(0)
    model = make_module().to(device)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        Xt = Xt.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    beta = torch.distributions.Beta(alpha, alpha) if alpha > 0 else None
    kind = torch.device(device).type
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(Xt), device=device)
        for i in range(0, len(Xt), batch_size):
            idx = perm[i : i + batch_size]
            xb, yb = Xt[idx], yt[idx]
            target = F.one_hot(yb, 10).float()
            if beta is not None:
                lam = beta.sample().to(device)
                partner = torch.randperm(len(xb), device=device)
                xb = lam * xb + (1 - lam) * xb[partner]
                target = lam * target + (1 - lam) * target[partner]
            opt.zero_grad(set_to_none=True)
            with torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), target)
            loss.backward()
            opt.step()
            loss.item()
    sync(device)
    return (time.perf_counter() - start) / epochs


def timed_fit(net, X, y, epochs):
    torch.manual_seed(0)
    sync(net.device)
    start = time.perf_counter()
    net.fit(X, y)
    sync(net.device)
    return (time.perf_counter() - start) / epochs


def table(title, times, rows):
    """times: name -> list of s/epoch; rows: (label, name, baseline name)."""
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n## {title}")
    print(f"{'contender':<34}{'s/epoch':>10}{'baseline':>26}{'ratio':>8}")
    for label, name, base in rows:
        ratio = f"{median[name] / median[base]:.2f}x" if base else ""
        print(f"{label:<34}{median[name]:>10.4f}{base or '':>26}{ratio:>8}")
    return median


# --- 1. MLP epochs ---


def mlp_epochs(device, n, epochs, repeats):
    from skorch import NeuralNetClassifier

    from skmixal import MLP, MixupNetClassifier

    X, y, source = mnist(n)

    def module():
        return MLP(784, 10, hidden_units=(256,), dropout=0.0)

    common = dict(criterion=nn.CrossEntropyLoss, optimizer=torch.optim.AdamW,
                  lr=1e-3, max_epochs=epochs, batch_size=128, train_split=None,
                  verbose=0, device=device)
    nets = {
        "skorch": lambda: NeuralNetClassifier(module(), iterator_train__shuffle=True,
                                              **common),
        "skmixal a=0": lambda: MixupNetClassifier(module=module(), mixup_alpha=0.0,
                                                  min_steps=0, **common),
        "skmixal a=1": lambda: MixupNetClassifier(module=module(), mixup_alpha=1.0,
                                                  min_steps=0, **common),
    }
    loops = {"hand loop": 0.0, "hand mixup loop": 1.0}
    times = {name: [] for name in [*loops, *nets]}
    hand_loop(module, X, y, epochs=1, batch_size=128, device=device)  # warm-up
    for _ in range(repeats):  # interleaved: noise hits every contender alike
        for name, alpha in loops.items():
            times[name].append(hand_loop(module, X, y, epochs=epochs, batch_size=128,
                                         device=device, alpha=alpha))
        for name, make in nets.items():
            times[name].append(timed_fit(make(), X, y, epochs))
    table(f"Epoch time, MLP 784-256-10, {len(X):,} {source}, batch 128 "
          f"(median of {repeats})", times, [
              ("hand loop", "hand loop", None),
              ("plain skorch", "skorch", "hand loop"),
              ("MixupNetClassifier a=0", "skmixal a=0", "hand loop"),
              ("hand mixup loop", "hand mixup loop", "hand loop"),
              ("MixupNetClassifier a=1", "skmixal a=1", "hand mixup loop"),
              ("MixupNetClassifier a=1 vs a=0", "skmixal a=1", "skmixal a=0"),
          ])
    print("goals: a=0 / hand loop <= 1.15; a=1 / a=0 <= 1.05")


# --- 2. ResNet-18, bf16 autocast, channels_last ---


def resnet_epochs(device, n, epochs, repeats):
    from torchvision.models import resnet18

    from skmixal import MixupNetClassifier

    class FastMixupNet(MixupNetClassifier):
        """bf16 autocast and channels_last, the settings of the hand loop."""

        def initialize_module(self):
            super().initialize_module()
            self.module_ = self.module_.to(memory_format=torch.channels_last)
            return self

        def infer(self, x, **fit_params):
            x = x.contiguous(memory_format=torch.channels_last)
            kind = torch.device(self.device).type
            with torch.autocast(kind, dtype=torch.bfloat16):
                return super().infer(x, **fit_params).float()

    X, y = cifar(n)

    def module():
        return resnet18(num_classes=10)

    times = {"hand mixup loop": [], "skmixal a=1": []}
    hand_loop(module, X[:512], y[:512], epochs=1, batch_size=128, device=device,
              alpha=1.0, bf16=True, channels_last=True)  # warm-up: cuDNN autotune
    for _ in range(repeats):
        times["hand mixup loop"].append(hand_loop(
            module, X, y, epochs=epochs, batch_size=128, device=device, alpha=1.0,
            bf16=True, channels_last=True))
        net = FastMixupNet(module=module(), mixup_alpha=1.0, min_steps=0,
                           criterion=nn.CrossEntropyLoss, optimizer=torch.optim.AdamW,
                           lr=1e-3, max_epochs=epochs, batch_size=128,
                           train_split=None, verbose=0, device=device)
        times["skmixal a=1"].append(timed_fit(net, X, y, epochs))
    table(f"Epoch time, ResNet-18 on {len(X):,} x 3 x 32 x 32 CIFAR-10, bf16 "
          f"autocast + channels_last, batch 128 (median of {repeats})", times, [
              ("hand mixup loop", "hand mixup loop", None),
              ("MixupNetClassifier a=1", "skmixal a=1", "hand mixup loop"),
          ])


# --- 2b. fine-tuning through PretrainedClassifier: bf16 + channels_last ---


def finetune_epochs(device, n, epochs, repeats):
    """PretrainedClassifier's precision='auto' (on CUDA: the backbone in bf16
    autocast on channels-last tensors) against precision='float32'."""
    from torchvision.models import resnet18

    from skmixal import MixupNetClassifier, PretrainedClassifier
    from skmixal.backbones import Backbone

    def trunk():  # random weights: what is timed is the arithmetic, not ImageNet
        net = resnet18()
        net.fc = nn.Identity()
        return net

    backbone = Backbone(trunk, input_size=96, name="resnet18 (random weights)",
                        channels_last=True)
    X, y = cifar(n)
    times = {"float32": [], "auto": []}
    for _ in range(repeats):
        for precision in times:
            net = MixupNetClassifier(
                module=PretrainedClassifier, module__n_classes=10,
                module__backbone=backbone, module__precision=precision,
                optimizer__param_groups=[("backbone.*", {"lr": 1e-4})],
                mixup_alpha=1.0, min_steps=0, lr=1e-3, max_epochs=epochs,
                batch_size=128, train_split=None, verbose=0, device=device)
            times[precision].append(timed_fit(net, X, y, epochs))
    table(f"Epoch time, fine-tuning ResNet-18 + new head at 96 px on {len(X):,} "
          f"CIFAR-10 images, Mixup, batch 128, 'auto': bf16 + channels_last on "
          f"CUDA (median of {repeats})", times, [
              ("precision='float32'", "float32", None),
              ("precision='auto'", "auto", "float32"),
          ])


# --- 3. query throughput ---


def bare_entropy_topk(net, pool, k, device, rows=4096):
    """The baseline: chunk -> device, forward, softmax, entropy; top-k at the end."""
    module = net.module_.eval()
    scores = torch.empty(len(pool), device=device)
    with torch.no_grad():
        for s in range(0, len(pool), rows):
            x = torch.from_numpy(pool[s : s + rows]).to(device)
            p = torch.softmax(module(x), dim=1)
            scores[s : s + len(x)] = -(p * torch.log(p.clamp_min(1e-12))).sum(1)
    return torch.topk(scores, k).indices.cpu().numpy()


def query_throughput(device, n_pool, repeats):
    from skmixal import MixupNetClassifier
    from skmixal.strategies import (
        entropy_sampling,
        least_confidence_sampling,
        margin_sampling,
    )

    X, y, _ = mnist(2000)
    net = MixupNetClassifier(module__hidden_units=(256,), max_epochs=2, min_steps=0,
                             random_state=0, device=device).fit(X, y)
    gen = torch.Generator(device=device).manual_seed(0)
    pool = torch.rand(n_pool, 784, device=device, generator=gen).cpu().numpy()
    rows = [("bare chunked pass + entropy + top-k",
             lambda: bare_entropy_topk(net, pool, 10, device))]
    rows += [(f"skmixal {f.__name__}",
              lambda f=f: f(net, pool, 10, random_state=0))
             for f in (entropy_sampling, margin_sampling, least_confidence_sampling)]
    rows[0][1]()  # warm-up
    print(f"\n## Query time, {n_pool:,} x 784 float32 pool in host memory, "
          f"MLP 784-256-10 (best of {repeats})")
    base = None
    for label, fn in rows:
        best = np.inf
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            best = min(best, time.perf_counter() - start)
        base = base or best
        print(f"{label:<40}{best:>8.3f} s{best / base:>8.2f}x")
    print("goal: <= 1.25x for entropy, margin and least confidence")


# --- 4. reproducibility ---


def reproducibility(device, n, min_steps):
    from skmixal import MixupNetClassifier

    X, y, _ = mnist(n)
    print(f"\n## Reproducibility: two fits, random_state=0, {n} MNIST images, "
          f"{min_steps} steps")
    print(f"{'model':<26}{'max |delta proba|':>20}{'bit-identical':>15}")
    for label, data in (("default MLP (vectors)", X),
                        ("default CNN (28 x 28)", X.reshape(-1, 28, 28))):
        for alpha in (0.0, 1.0):
            probas = [MixupNetClassifier(random_state=0, mixup_alpha=alpha,
                                         max_epochs=3, min_steps=min_steps,
                                         device=device)
                      .fit(data, y).predict_proba(data) for _ in range(2)]
            delta = float(np.abs(probas[0] - probas[1]).max())
            print(f"{label + f', a={alpha:g}':<26}{delta:>20.3g}"
                  f"{str(bool(np.array_equal(*probas))):>15}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes on the CPU: checks the script, not speed")
    args = parser.parse_args(argv)
    if args.smoke:
        device = "cpu"
        sizes = dict(mlp=(512, 1, 1), resnet=(128, 1, 1), finetune=(64, 1, 1),
                     pool=(20_000, 1), repro=(64, 5))
    elif torch.cuda.is_available():
        device = "cuda"
        sizes = dict(mlp=(10_000, 5, 3), resnet=(10_000, 2, 2),
                     finetune=(5_000, 1, 2), pool=(1_000_000, 3), repro=(1000, 300))
    else:
        print("No CUDA device found: benchmarks/gpu.py measures GPUs only; nothing "
              "run. (--smoke checks the script on the CPU.)")
        return 0
    start = time.perf_counter()
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run)"
    print(f"device: {name}; torch {torch.__version__}, CUDA {torch.version.cuda}")
    mlp_epochs(device, *sizes["mlp"])
    resnet_epochs(device, *sizes["resnet"])
    finetune_epochs(device, *sizes["finetune"])
    query_throughput(device, *sizes["pool"])
    reproducibility(device, *sizes["repro"])
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
