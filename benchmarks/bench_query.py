"""Query speed and memory of skmixal strategies on a large np.memmap pool.

Fits an MLP 784-256-10 briefly on seeded random (blob) data, writes a float32
memmap pool in a temporary directory and prints, side by side:

* time: a bare torch forward pass in 4,096-row chunks with entropy + top-k,
  skmixal entropy / margin / least-confidence, and modAL's
  ``modAL.uncertainty.entropy_sampling`` on the same fitted net, on the memmap
  pool and on an in-memory pool; ratios against the bare pass (goal <= 1.25x);
* memory: peak anonymous memory (RssAnon sampled every 5 ms, so file-backed
  memmap pages are not counted) of each strategy in a fresh subprocess, on the
  memmap pool (goals: < 1 GB for entropy/margin/BALD, < 2 GB for
  coreset/BADGE/TypiClust), with its wall time.

Usage::

    python benchmarks/bench_query.py                      # 1,000,000 x 784
    python benchmarks/bench_query.py --pool-size 200000 --memory-pool 100000
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import torch

N_FEATURES, N_CLASSES = 784, 10
MEMORY_STRATEGIES = ["entropy", "margin", "bald", "coreset", "badge", "typiclust"]


def _rss_anon_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class PeakAnon:
    """Sample RssAnon in a thread; ``peak_mb`` after the block."""

    def __enter__(self):
        self.peak = _rss_anon_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_anon_kb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon_kb())
        self.peak_mb = self.peak / 1024


def make_blobs(n, rng_seed, centers):
    rng = np.random.RandomState(rng_seed)
    y = rng.randint(N_CLASSES, size=n)
    X = centers[y] + rng.normal(scale=1.0, size=(n, N_FEATURES)).astype(np.float32)
    return X.astype(np.float32), y


def write_pool(path, n, seed, centers, chunk=50_000):
    pool = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, N_FEATURES))
    for s in range(0, n, chunk):
        pool[s : s + chunk] = make_blobs(min(chunk, n - s), seed + 1 + s, centers)[0]
    pool.flush()
    del pool
    return np.memmap(path, dtype=np.float32, mode="r", shape=(n, N_FEATURES))


def bare_entropy_topk(net, pool, k, chunk=4096):
    """The baseline: hand-written forward, entropy, top-k; scores only.

    Chunks are not copied (``torch.from_numpy`` on the slice, read-only
    memmap slices included: this loop only reads them), so the baseline is
    the cheapest correct pass, not a straw man.
    """
    module = net.module_.eval()
    scores = torch.empty(len(pool))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*")
        for s in range(0, len(pool), chunk):
            x = torch.from_numpy(np.asarray(pool[s : s + chunk]))
            p = torch.softmax(module(x), dim=1)
            scores[s : s + len(x)] = -(p * torch.log(p.clamp_min(1e-12))).sum(1)
    return torch.topk(scores, k).indices.numpy()


def timed(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def time_table(net, pool, k, repeat, label):
    from modAL.uncertainty import entropy_sampling as modal_entropy

    from skmixal.strategies import (
        entropy_sampling,
        least_confidence_sampling,
        margin_sampling,
    )

    rows = [("bare torch loop (4,096 rows)", lambda: bare_entropy_topk(net, pool, k))]
    rows += [
        (f"skmixal {f.__name__}", lambda f=f: f(net, pool, k, random_state=0))
        for f in (entropy_sampling, margin_sampling, least_confidence_sampling)
    ]
    rows.append(("modAL entropy_sampling", lambda: modal_entropy(net, pool, k)))
    print(f"\n## Time, {label}: {len(pool):,} x {N_FEATURES} (best of {repeat}, "
          "rounds interleaved so that machine noise hits every row alike)")
    bare_entropy_topk(net, pool, k)  # warm-up: map the pool's pages, load kernels
    best = {name: np.inf for name, _ in rows}
    for _ in range(repeat):
        for name, fn in rows:
            best[name] = min(best[name], timed(fn, 1))
    base = best[rows[0][0]]
    for name, _ in rows:
        print(f"{name:<40s} {best[name]:8.2f} s   {best[name] / base:5.2f}x")


def child(args):
    """Run one strategy on the memmap pool and print its peak RssAnon."""
    import skmixal  # noqa: F401
    from skmixal.strategies import STRATEGIES

    with open(args.net, "rb") as f:
        net, X_lab, y_lab = pickle.load(f)
    pool = np.memmap(args.pool, dtype=np.float32, mode="r",
                     shape=(args.pool_size, N_FEATURES))
    kwargs = {}
    if args.child in ("coreset", "typiclust"):
        kwargs = {"X_labeled": X_lab, "y_labeled": y_lab}
    start_mb = _rss_anon_kb() / 1024
    t = time.perf_counter()
    with PeakAnon() as peak:
        idx, _ = STRATEGIES[args.child](net, pool, args.n_instances,
                                        random_state=0, **kwargs)
    print(f"{args.child} {peak.peak_mb:.0f} {start_mb:.0f} "
          f"{time.perf_counter() - t:.1f} {len(idx)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-size", type=int, default=1_000_000)
    parser.add_argument("--memory-pool", type=int, default=100_000,
                        help="rows of the in-memory pool")
    parser.add_argument("--n-instances", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory", nargs="*", default=MEMORY_STRATEGIES,
                        help="strategies whose peak memory is measured")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    import skmixal  # noqa: F401 -- makes modAL work on current sklearn
    from skmixal import MixupNetClassifier

    torch.manual_seed(args.seed)
    centers = np.random.RandomState(args.seed).normal(
        scale=0.3, size=(N_CLASSES, N_FEATURES)).astype(np.float32)
    X_lab, y_lab = make_blobs(2000, args.seed, centers)
    t = time.perf_counter()
    net = MixupNetClassifier(module__hidden_units=(256,), max_epochs=2, min_steps=0,
                             random_state=args.seed, device="cpu").fit(X_lab, y_lab)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"fit on 2,000 rows in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        pool = write_pool(os.path.join(tmp, "pool.dat"), args.pool_size, args.seed,
                          centers)
        secs = time.perf_counter() - t
        print(f"memmap pool {args.pool_size:,} x {N_FEATURES} "
              f"({pool.nbytes / 1e9:.1f} GB) written in {secs:.0f} s")
        time_table(net, pool, args.n_instances, args.repeat, "np.memmap pool")
        in_memory = np.array(pool[: args.memory_pool])
        time_table(net, in_memory, args.n_instances, max(args.repeat, 3),
                   "in-memory pool")
        del in_memory
        if not args.memory:
            return
        net_path = os.path.join(tmp, "net.pkl")
        with open(net_path, "wb") as f:
            pickle.dump((net, X_lab[:200], y_lab[:200]), f)
        print(f"\n## Peak anonymous memory on the {args.pool_size:,}-row memmap "
              "(fresh process each)")
        print(f"{'strategy':<12s} {'peak MB':>8s} {'at start':>9s} {'time s':>7s}")
        for name in args.memory:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--net", net_path,
                 "--pool", os.path.join(tmp, "pool.dat"), "--pool-size",
                 str(args.pool_size), "--n-instances", str(args.n_instances)],
                capture_output=True, text=True, check=False)
            if out.returncode:
                print(f"{name:<12s} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            _, peak, start, secs, _ = out.stdout.split()[-5:]
            print(f"{name:<12s} {float(peak):8.0f} {float(start):9.0f} "
                  f"{float(secs):7.1f}")


if __name__ == "__main__":
    main()
