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
``channels-last``, and how far each is from its floor: the step's
floating-point operations (convolutions and matrix products, forward and
backward, counted by torch's ``FlopCounterMode``) at the rate of a large
square matrix product in the contender's precision on this machine, the most
a convolution kernel can hope for. A 2,000-step fit cannot take less than
2,000 times the floor, whatever the kernels.

    python benchmarks/cnn_step.py --repeats 5 --steps 20
"""

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

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


def count_flops(module, optimizer, guess_rows, train_rows, targets, bf16):
    """Operations of one step, counted on the eager module (a compiled one
    does the same arithmetic)."""
    with FlopCounterMode(display=False) as counter:
        step(module, module, optimizer, guess_rows, train_rows, targets, bf16=bf16)
    return counter.get_total_flops()


def matmul_rate(dtype, size=2048, repeats=10, rounds=3):
    """Best FLOP/s of a ``size`` x ``size`` matrix product over ``rounds``."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(dtype)
    b = torch.randn(size, size, generator=gen).to(dtype)
    a @ b
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start))
    return best


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
    nets, flops = {}, {}
    for name in names:
        nets[name] = make(name)
        module, _, optimizer = nets[name]
        # counted on the eager module, before the timed steps (one more step of
        # warm-up for them: the weights' values do not change a step's cost)
        flops[name] = count_flops(module, optimizer, guess_rows, train_rows, targets,
                                  bf16=name.startswith("bf16"))
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
    rates = {bf16: matmul_rate(torch.bfloat16 if bf16 else torch.float32)
             for bf16 in {name.startswith("bf16") for name in names}}
    base = statistics.median(times.get("channels-last") or times[names[0]])
    print(f"{'contender':<15}{'ms/step':>9}{'min':>9}{'max':>9}  vs channels-last"
          f"{'GFLOP':>8}{'floor ms':>10}{'vs floor':>10}")
    for name in names:
        t = times[name]
        median = statistics.median(t)
        floor = 1000 * flops[name] / rates[name.startswith("bf16")]
        print(f"{name:<15}{median:9.1f}{min(t):9.1f}{max(t):9.1f}"
              f"  {median / base:6.2f}x{' ' * 9}"
              f"{flops[name] / 1e9:8.2f}{floor:10.1f}{median / floor:9.2f}x")
    for bf16, rate in sorted(rates.items()):
        print(f"{'bfloat16' if bf16 else 'float32'} matrix product (2048 x 2048): "
              f"{rate / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
