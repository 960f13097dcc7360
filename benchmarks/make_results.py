"""Regenerate benchmarks/RESULTS.md from the benchmarks' saved outputs.

Every benchmark writes what it printed (and, where it has them, its JSON and
tables) under ``benchmarks/results/``; this script assembles them into one page.
``--run`` runs the benchmarks first (hours on 2 CPU cores, minutes on a GPU):

    python benchmarks/make_results.py                          # assemble only
    python benchmarks/make_results.py --run label_efficiency semi_supervised
    python benchmarks/make_results.py --run all --jobs 2

A benchmark that has no saved output yet is listed as not run.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results"

# name -> (arguments, what it measures)
BENCHMARKS = {
    "label_efficiency": (["--jobs", "{jobs}"],
                         "simulated campaigns on digits, MNIST and CIFAR-10"),
    "semi_supervised": (["--data", "digits", "mnist", "cifar10", "--per-class", "2",
                         "5", "10", "--jobs", "{jobs}", "--threads", "1",
                         "--seeds", "0,1,2", "--out",
                         str(OUT / "semi_supervised.jsonl"),
                         "--markdown", str(OUT / "semi_supervised.md")],
                        "FixMatch and MixMatch against supervised training with "
                        "the same labels, by the worst seed"),
    "ssl_speed": (["--seeds", "0,1,2"],
                  "time against accuracy on MNIST with 100 labels"),
    "cnn_step": (["--repeats", "5", "--steps", "20"],
                 "one MixMatch step of the MNIST network by kernel route "
                 "(layout, torch.compile, a narrower network)"),
    "warm_rounds": (["--data", "digits", "--seeds", "0,1,2"],
                    "warm rounds against refits from scratch"),
    "guard_threshold": ([], "what each collapse-guard line would catch among "
                        "semi_supervised.py's paired fits (trains nothing)"),
    "learned_line": (["--seeds", "0,1,2", "--cifar", "250"],
                     "where a supervised fit's \"did not learn its labels\" "
                     "line falls (digits; CIFAR-10 from scratch)"),
    "embedding_speed": ([], "pretrained embeddings: time against accuracy"),
    "embedding_ssl": ([], "semi-supervised learning on frozen features (CIFAR-10 "
                      "subset): LabelSpreading, FixMatch and MixMatch heads"),
    "embedding_floor": (["--jobs", "{jobs}"],
                        "issue 15's per-seed floor on frozen features: label "
                        "draws against fit noise"),
    "bench_epoch": ([], "seconds per epoch against a hand-written loop"),
    "bench_query": ([], "query time and memory on a 1,000,000-row pool"),
    "mixup_alpha": (["--layouts", "image", "--labels", "20", "50", "100", "200",
                     "--alphas", "0", "0.1", "0.2", "0.4", "--seeds", "3"],
                    "accuracy against mixup_alpha"),
    "compare_strategies": ([], "strategies on digits"),
    "gpu": ([], "the GPU benchmark (exits at once without CUDA)"),
    "finetune": (["--sizes", "96", "--steps", "400", "--seeds", "0,1,2"],
                 "fine-tuning EfficientNet-Lite0 against its frozen features"),
}
RECIPE_LINE = (
    "`ActiveLearner(estimator=MixupNetClassifier(classes=...), query_strategy="
    "margin_sampling, X_training=X_seed, y_training=y_seed, X_unlabeled=pool)`, "
    "then `teach(rows, labels, X_unlabeled=rest_of_pool)`; on the command line "
    "`skmixal run --strategies margin --semi-supervised` or `skmixal init "
    "--strategy margin --semi-supervised`")


def run(names, jobs):
    OUT.mkdir(exist_ok=True)
    for name in names:
        args = [a.format(jobs=jobs) for a in BENCHMARKS[name][0]]
        print(f"running {name} {' '.join(args)}", flush=True)
        start = time.time()
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args],
                              capture_output=True, text=True)
        text = proc.stdout + (f"\n[stderr]\n{proc.stderr[-3000:]}" if proc.returncode
                              else "")
        (OUT / f"{name}.txt").write_text(
            f"$ python benchmarks/{name}.py {' '.join(args)}\n"
            f"# exit {proc.returncode}, {time.time() - start:.0f} s, "
            f"{time.strftime('%Y-%m-%d %H:%M')}\n{text}")
        print(f"  exit {proc.returncode} after {time.time() - start:.0f} s")


def _label_efficiency_section():
    lines = []
    root = OUT / "label_efficiency"
    for name in ("digits", "mnist", "cifar10", "cifar10+efficientnet_lite0",
                 "cifar10+efficientnet_lite0+typiclust-start",
                 "cifar10+efficientnet_lite0+fixmatch",
                 "cifar10+efficientnet_lite0+flip",
                 "cifar10+efficientnet_lite0+flip+typiclust-start",
                 "digits+efficientnet_lite0", "mnist+efficientnet_lite0",
                 "cifar10+efficientnet_lite2", "cifar10+efficientnet_lite2+flip",
                 "cifar10+efficientnet_lite2+typiclust-start",
                 "digits+efficientnet_lite2", "mnist+efficientnet_lite2"):
        path = root / name / "summary.json"
        if not path.exists():
            lines.append(f"### {name}\n\nNot run yet.\n")
            continue
        s = json.loads(path.read_text())
        sched = s["schedule"]
        budgets = s["budgets"]
        lines.append(f"### {name}\n")
        if s.get("flip_average"):
            lines.append(f"On the frozen {s['backbone']} features of the images, "
                         "each averaged with its mirror image's (standardised), as "
                         "`skmixal run --backbone --flip-average` trains.\n")
        elif s.get("backbone"):
            lines.append(f"On the frozen {s['backbone']} features of the images "
                         "(standardised), as `skmixal run --backbone` trains.\n")
        lines.append(
            f"{s['shape'][0]:,} images {tuple(s['shape'][1:])}, test share "
            f"{sched['test_size']}, {sched['n_initial']} labels chosen by "
            f"{sched.get('initial_strategy') or 'random'} sampling, then rounds of "
            f"{sched['query_size']} to {sched['budget']}; seeds {s['seeds']}; "
            f"{s['compute_s'] / 60:.0f} min of fits and queries "
            f"({s['wall_s'] / 60:.0f} min wall in the last invocation, which "
            f"resumes saved rounds) on {s['machine']}. Versions: "
            + ", ".join(f"{k} {v}" for k, v in s["versions"].items()) + ".\n")
        worst = s.get("worst_seed", {})
        if worst:
            lines.append("Mean ± std over seeds (worst seed).\n")
        lines.append("| arm | " + " | ".join(str(n) for n in budgets) + " |")
        lines.append("| --- |" + " --- |" * len(budgets))
        for arm, row in s["table"].items():
            low = worst.get(arm, {})
            cells = [f"{row[str(n)][0]:.3f} ± {row[str(n)][1]:.3f}"
                     + (f" ({low[str(n)]:.3f})" if str(n) in low else "")
                     if str(n) in row else "" for n in budgets]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
        if "target_labels" in s:
            acc = s["recipe_at_target_labels"]
            lines.append(f"- recipe at {s['target_labels']} labels: **{acc:.3f}** "
                         f"(target ≥ 0.97: {'met' if acc >= 0.97 else 'missed'})")
        reach, quarter = s["recipe_labels_to_match"], s["quarter_of_largest"]
        ok = reach is not None and reach <= quarter
        recipe = s.get("recipe", "the recipe")
        if "random" in s["table"]:  # a plan without the arm has no such target
            lines.append(
                f"- random sampling, plain training, at {budgets[-1]} labels: "
                f"{s['random_at_largest']:.3f}; {recipe} matches it with "
                f"**{reach}** labels (target ≤ {quarter:.0f}: "
                f"{'met' if ok else 'missed'})")
        lines.append(f"\n![{name} learning curves](results/label_efficiency/{name}/"
                     "learning_curve.png)\n")
    return "\n".join(lines)


def _text(name):
    path = OUT / f"{name}.txt"
    if not path.exists():
        return f"Not run yet: `python benchmarks/{name}.py`.\n"
    return "```\n" + path.read_text().rstrip() + "\n```\n"


def assemble():
    parts = [
        "# Results\n",
        "Every figure below is regenerated by `python benchmarks/make_results.py "
        "--run all` (the raw outputs are in `benchmarks/results/`); nothing here "
        "is typed by hand. Fashion-MNIST and KMNIST, reserved for independent "
        "evaluation, are not used.\n",
        f"Assembled on {platform.node() or 'this machine'} at "
        f"{time.strftime('%Y-%m-%d %H:%M')}.\n",
        "## The default recipe\n",
        f"When in doubt: {RECIPE_LINE}. Margin sampling with Mixup and "
        "semi-supervised training on the rest of the pool with the estimator's "
        "`semi_supervised='auto'` (the collapse guard on): MixMatch for grey "
        "images and vectors (distribution alignment over the last 128 steps, "
        "K=4, 2,000 steps), FixMatch for colour images (threshold 0.95, "
        "RandAugment, 1,000 steps); the methods chosen by the worst seed "
        "below.\n",
        "## Label efficiency (`label_efficiency.py`)\n",
        _label_efficiency_section(),
    ]
    semi = OUT / "semi_supervised.md"
    parts += ["## Semi-supervised training (`semi_supervised.py`)\n",
              semi.read_text() if semi.exists() else "",
              "### An earlier run, before issue 14 (MixMatch with the old "
              "alignment; the source of the README's 100-label MNIST numbers)\n",
              _text("semi_supervised_before")]
    for name in ("ssl_speed", "cnn_step", "warm_rounds", "guard_threshold",
                 "learned_line"):
        parts += [f"### `{name}.py`: {BENCHMARKS[name][1]}\n", _text(name)]
    parts += ["### bfloat16 against float32 (`precision='bfloat16'`; `ssl_speed.py`, "
              "`cnn_step.py` and `semi_supervised.py` on a CPU with bfloat16 units)\n",
              _text("precision")]
    parts += ["## Mutation testing (`tools/mutation.py`)\n",
              "Share of the mutants of each module that its own tests kill; each "
              "survivor is listed with why it is equivalent.\n", _text("mutation")]
    for name in ("embedding_speed", "embedding_ssl", "embedding_floor", "bench_epoch",
                 "bench_query", "mixup_alpha", "compare_strategies", "gpu", "finetune"):
        parts += [f"## `{name}.py`: {BENCHMARKS[name][1]}\n", _text(name)]
    parts += ["### On a GPU: fine-tuning at 224 px, with and without FixMatch "
              "(a lent H200; `--run` does not rerun it)\n", _text("finetune_gpu")]
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print(f"wrote {HERE / 'RESULTS.md'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="*", default=None,
                        help=f"benchmarks to run first: 'all' or of {list(BENCHMARKS)}")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if args.run:
        names = list(BENCHMARKS) if args.run == ["all"] else args.run
        unknown = set(names) - set(BENCHMARKS)
        if unknown:
            parser.error(f"unknown benchmarks {sorted(unknown)}")
        run(names, args.jobs)
    assemble()


if __name__ == "__main__":
    main()
