"""Time of one MixMatch-shaped step of the default MNIST network, by kernel route.

Issue 14 asks for a default MixMatch fit on MNIST (2,000 steps) in 60 s on 2
CPU threads, "through the method, step count and kernels". This measures the
kernel routes on the step's own shapes (4 views of a 64-row unlabeled batch
guessed without gradient, then 64 + 256 mixed rows forward and backward, AdamW),
interleaved over ``--repeats`` rounds so machine noise hits every contender
alike:

* ``nchw``: the default :class:`~skmixal.SmallCNN` in PyTorch's default layout;
* ``channels-last``: the same with channels-last weights (what the estimator
  does on the CPU);
* ``compile``: ``torch.compile`` (inductor) of the channels-last network, and
  ``compile nchw`` of the default-layout one (compilation time excluded);
* ``narrow``: ``channels=(16, 32)`` instead of ``(32, 64)``, channels-last: a
  smaller network, not a kernel (its accuracy is a separate question);
* ``bf16`` and ``bf16 nchw``: the channels-last and default-layout networks
  under ``torch.autocast('cpu', dtype=torch.bfloat16)`` (fast only on CPUs
  with bf16 units, such as AVX512-BF16 or AMX).

Prints the median milliseconds a step and each contender's ratio to
``channels-last``.

    python benchmarks/cnn_step.py --repeats 5 --steps 20
"""

import argparse
import statistics
import time

import torch

from skmixal.modules import default_module

CONTENDERS = ["nchw", "channels-last", "compile", "compile nchw", "narrow",
              "bf16", "bf16 nchw"]


def make(name):
    torch.manual_seed(0)
    channels = (16, 32) if name == "narrow" else (32, 64)
    module = default_module((1, 28, 28), 10, channels=channels)
    if "nchw" not in name:
        module = module.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    forward = torch.compile(module) if name.startswith("compile") else module
    return module, forward, optimizer


def step(module, forward, optimizer, guess_rows, train_rows, targets, bf16=False):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        with torch.no_grad():
            module.eval()
            forward(guess_rows)
            module.train()
        logits = forward(train_rows).float()
    loss = -(targets * torch.log_softmax(logits, 1)).sum(1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    guess_rows = torch.randn(4 * 64, 1, 28, 28, generator=gen)
    train_rows = torch.randn(64 + 4 * 64, 1, 28, 28, generator=gen)
    targets = torch.softmax(torch.randn(len(train_rows), 10, generator=gen), 1)
    names = args.contenders.split(",")
    nets = {}
    for name in names:
        nets[name] = make(name)
        start = time.perf_counter()
        for _ in range(2):  # compiles, and warms the allocator for all
            step(*nets[name], guess_rows, train_rows, targets,
                 bf16=name.startswith("bf16"))
        print(f"{name}: warm-up {time.perf_counter() - start:.1f} s", flush=True)
    times = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            start = time.perf_counter()
            for _ in range(args.steps):
                step(*nets[name], guess_rows, train_rows, targets,
                     bf16=name.startswith("bf16"))
            times[name].append(1000 * (time.perf_counter() - start) / args.steps)
    print(f"\ntorch {torch.__version__}, {args.threads} threads, {args.repeats} "
          f"rounds of {args.steps} steps (64 labeled + 4 x 64 unlabeled rows)")
    base = statistics.median(times.get("channels-last") or times[names[0]])
    print(f"{'contender':<15}{'ms/step':>9}{'min':>9}{'max':>9}  vs channels-last")
    for name in names:
        t = times[name]
        print(f"{name:<15}{statistics.median(t):9.1f}{min(t):9.1f}{max(t):9.1f}"
              f"  {statistics.median(t) / base:6.2f}x")


if __name__ == "__main__":
    main()
