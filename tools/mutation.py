"""Mutation testing of skmixal's core with cosmic-ray, one module at a time.

Each module in ``MODULES`` is mutated by cosmic-ray (all its operators: binary,
comparison and unary operators, numbers, booleans, ``and``/``or``, ``not``,
loops) and each mutant is tested with that module's own test files only.
Everything happens in a copy of the repository in a temporary folder: the
checkout this script is run from is never written to.

    python tools/mutation.py skmixal/scoring.py skmixal/selection.py \\
        --output benchmarks/results/mutation.txt
    python tools/mutation.py                # every module in MODULES (hours)
    python tools/mutation.py --rev HEAD ... # mutate a commit, not the work tree
    python tools/mutation.py --explain F    # re-read F's survivors' reasons

Two ways to run a mutant's tests (``--runner``):

- ``fork`` (default): this process imports NumPy, SciPy, scikit-learn, torch,
  skorch, modAL and pytest once, then for every mutant forks a child that runs
  ``pytest.main`` on the mutated copy (skmixal itself is imported afresh in the
  child). About 1-2 s a mutant instead of 7-10 s, most of which is torch's import.
- ``subprocess``: cosmic-ray's own test runner, one new Python process per
  mutant (what ``cosmic-ray exec`` does). Slower; the reference the fork runner
  was checked against.

Per module it prints mutants, killed (a test failed), timeouts (counted as
killed: the mutant hangs or slows the tests past the limit), survived, score =
(killed + timeouts) / mutants, and the diff of every survivor with the reason it
is harmless, read from ``tools/mutation_survivors.py`` (``UNEXPLAINED`` when
there is none). It exits 1 when a module scores under ``--target`` or a survivor
is unexplained. Needs ``pip install cosmic-ray`` (8.7.0 was used).
"""

import argparse
import importlib
import json
import os
import runpy
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

STRATEGY_TESTS = [
    "tests/test_strategies_methods.py",
    "tests/test_package.py::test_every_documented_default_is_the_signatures"]
# module -> test files run against each of its mutants (pytest, stop at the first
# failure). Keep them to the module's own tests: every mutant runs them once.
MODULES = {
    "skmixal/scoring.py": ["tests/test_scoring.py"],
    "skmixal/selection.py": ["tests/test_selection.py"],
    "skmixal/mixup.py": ["tests/test_mixup.py"],
    # its pure functions' tests and the few fits that use them (the others
    # train full models: minutes a mutant, and they test other modules)
    "skmixal/semi_supervised.py": [
        "tests/test_semi_supervised.py", "tests/test_fixmatch.py", "-k",
        "sharpen or formula or hand_written or guesses or class_prior or "
        "alignment or bad_semi_supervised or ramps_up"],
    "skmixal/augment.py": ["tests/test_augment.py"],
    # what robust semi-supervised training (issue 14) added: the training
    # methods, the collapse guard and the strong augmentation
    "skmixal/training/mixmatch.py": ["tests/test_semi_supervised.py"],
    "skmixal/training/fixmatch.py": ["tests/test_fixmatch.py"],
    "skmixal/training/guard.py": ["tests/test_guard.py"],
    "skmixal/randaugment.py": ["tests/test_randaugment.py",
                               "tests/test_fixmatch.py"],
    # the query strategies' own arithmetic (BALD, BatchBALD, BADGE, coreset,
    # TypiClust, ALFA-Mix, Mixup consistency): their hand-computed tests, and
    # their documented defaults (some, as ALFA-Mix's 20,000 candidates, no
    # query test can reach)
    "skmixal/strategies/bayesian.py": [*STRATEGY_TESTS],
    "skmixal/strategies/diversity.py": [*STRATEGY_TESTS],
    "skmixal/strategies/mixing.py": [*STRATEGY_TESTS],
}
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider"]
# imported once by the fork runner; never skmixal, which the mutants change
PRELOAD = ["numpy", "scipy.special", "scipy.stats", "scipy.spatial", "sklearn",
           "sklearn.datasets", "sklearn.metrics", "sklearn.model_selection",
           "torch", "skorch", "modAL", "pytest"]
# one thread per test run: the machines this runs on are shared
THREAD_ENV = dict.fromkeys(
    ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), "1")

ROOT = Path(__file__).resolve().parents[1]
SURVIVORS = ROOT / "tools" / "mutation_survivors.py"


def _git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True,
                          capture_output=True).stdout


def copy_tree(dest, rev=None):
    """Copy the repository into ``dest``: the work tree as it is, or ``rev``."""
    if rev is not None:
        subprocess.run(["tar", "-x", "-C", str(dest)], input=_git("archive", rev),
                       check=True)
        return _git("rev-parse", "--short", rev).decode().strip()
    # tracked and untracked-but-not-ignored files, as they are on disk
    for name in _git("ls-files", "-co", "--exclude-standard", "-z").split(b"\0"):
        src = ROOT / os.fsdecode(name)
        if name and src.is_file():
            (dest / src.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / src.relative_to(ROOT))
    dirty = " + uncommitted changes" if _git("status", "--porcelain") else ""
    return _git("rev-parse", "--short", "HEAD").decode().strip() + dirty


def test_command(module):
    return [sys.executable, "-m", "pytest", *MODULES[module], *PYTEST_ARGS]


def run_forked(command, timeout):
    """cosmic-ray's ``run_tests``, in a fork of this warmed-up process.

    Same contract: ``(TestOutcome, output)``, KILLED when pytest fails or the
    run passes ``timeout`` seconds (output "timeout"), SURVIVED when it passes.
    The child runs in the current directory (the copy) in its own process
    group, so a timeout kills whatever it started too.
    """
    from cosmic_ray.work_item import TestOutcome

    args = shlex.split(command)
    pytest_args = args[args.index("pytest") + 1:]
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out:
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 3
            try:
                os.setpgid(0, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                sys.path.insert(0, os.getcwd())
                import pytest

                code = int(pytest.main(pytest_args))
                where = getattr(sys.modules.get("skmixal"), "__file__", "")
                if not where.startswith(os.getcwd()):
                    print(f"skmixal was imported from {where!r}, not the copy")
                    code = 4
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + (timeout or float("inf"))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                return TestOutcome.KILLED, "timeout"
            time.sleep(0.02)
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    passed = os.waitstatus_to_exitcode(status) == 0
    return (TestOutcome.SURVIVED if passed else TestOutcome.KILLED), output


def baseline(copy, module, runner, env):
    """Seconds the unmutated tests take in the copy; they must pass there."""
    from cosmic_ray.testing import run_tests
    from cosmic_ray.work_item import TestOutcome

    start = time.perf_counter()
    if runner == "fork":
        outcome, output = run_forked(shlex.join(test_command(module)), None)
    else:
        check = [sys.executable, "-c", "import skmixal; print(skmixal.__file__)"]
        where = subprocess.run(check, cwd=copy, env=env, capture_output=True,
                               text=True).stdout.strip()
        if not where.startswith(str(copy)):
            sys.exit(f"skmixal imports from {where!r}, not the copy {copy}")
        start = time.perf_counter()
        outcome, output = run_tests(shlex.join(test_command(module)), None)
    if outcome != TestOutcome.SURVIVED:
        sys.exit(f"{module}: the unmutated tests fail in the copy, nothing to "
                 f"measure:\n{output[-3000:]}")
    return time.perf_counter() - start


class _Progress:
    """A line every ``every`` mutants. No thread: the fork runner must not fork
    while another thread may hold a lock (stdout's, sqlite's)."""

    def __init__(self, label, total, every=50):
        self.label, self.total, self.every, self.done = label, total, every, 0

    def __call__(self, run):
        def counted(command, timeout):
            result = run(command, timeout)
            self.done += 1
            if self.done % self.every == 0:
                print(f"  {self.label}: {self.done}/{self.total} mutants tested",
                      flush=True)
            return result
        return counted


def mutate(copy, work, module, timeout, runner, env):
    """Run cosmic-ray on one module; return its results as dicts."""
    stem = module.replace("/", "_").removesuffix(".py")
    config, db = work / f"{stem}.toml", work / f"{stem}.sqlite"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(shlex.join(test_command(module)))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n')
    cosmic = [sys.executable, "-m", "cosmic_ray.cli"]
    subprocess.run([*cosmic, "init", str(config), str(db)], cwd=copy, env=env,
                   check=True)
    with sqlite3.connect(db) as con:
        total = con.execute("select count(*) from work_items").fetchone()[0]
    print(f"  {module}: {total} mutants, {timeout:.0f} s limit each", flush=True)
    # cosmic-ray's local distributor, with its test runner replaced by the fork
    # runner or kept (each mutant then runs in a new Python process)
    import cosmic_ray.mutating
    from cosmic_ray.commands import execute
    from cosmic_ray.config import load_config
    from cosmic_ray.testing import run_tests
    from cosmic_ray.work_db import WorkDB, use_db

    runner = run_forked if runner == "fork" else run_tests
    cosmic_ray.mutating.run_tests = _Progress(module, total)(runner)
    with use_db(str(db), WorkDB.Mode.open) as work_db:
        execute(work_db, load_config(str(config)))
    dump = subprocess.run([*cosmic, "dump", str(db)], cwd=copy, env=env,
                          check=True, capture_output=True, text=True).stdout
    results = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        spec = item["mutations"][0]
        results.append({
            "operator": spec["operator_name"],
            "line": spec["start_pos"][0],
            "function": spec.get("definition_name") or "",
            "outcome": ("timeout" if result and result["output"] == "timeout"
                        else result and result["test_outcome"]),
            "diff": (result or {}).get("diff") or "",
        })
    return results


def _changed(diff):
    """The (removed, added) source lines of a one-line mutant, stripped."""
    body = [ln for ln in diff.splitlines() if not ln.startswith(("---", "+++"))]
    # blank lines are left out: a removed decorator takes the one above it along
    old = " | ".join(ln[1:].strip() for ln in body
                     if ln.startswith("-") and ln[1:].strip())
    new = " | ".join(ln[1:].strip() for ln in body
                     if ln.startswith("+") and ln[1:].strip())
    return old, new


def load_reasons():
    """{(module, removed line, added line): why the mutant is harmless}."""
    if not SURVIVORS.exists():
        return {}
    entries = runpy.run_path(str(SURVIVORS))["SURVIVORS"]
    return {(e["module"], e["before"].strip(), e["after"].strip()): e["why"]
            for e in entries}


def report(module, results, reasons, out):
    counts = {k: sum(r["outcome"] == k for r in results)
              for k in ("killed", "timeout", "survived", "incompetent")}
    n = len(results)
    score = (counts["killed"] + counts["timeout"]) / n if n else float("nan")
    out.append(f"{module:<28} {n:>7} {counts['killed']:>6} {counts['timeout']:>8} "
               f"{counts['survived']:>8} {counts['incompetent']:>11} {score:>6.1%}")
    notes, unexplained = [], 0
    for r in sorted(results, key=lambda r: (r["line"], r["operator"])):
        if r["outcome"] in ("killed", "timeout"):
            continue
        old, new = _changed(r["diff"])
        why = reasons.get((module, old, new))
        unexplained += why is None
        notes += [f"{module}:{r['line']} {r['function']} {r['operator']} "
                  f"[{r['outcome']}]",
                  f"    - {old}", f"    + {new}",
                  f"    why: {why or 'UNEXPLAINED'}"]
    return score, notes, unexplained


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES),
                        help=f"modules to mutate (default: all of {list(MODULES)})")
    parser.add_argument("--rev", help="mutate this commit instead of the work tree")
    parser.add_argument("--runner", choices=["fork", "subprocess"], default="fork",
                        help="how each mutant's tests run (default: fork)")
    parser.add_argument("--output", type=Path,
                        help="also write the report here, e.g. "
                             "benchmarks/results/mutation.txt")
    parser.add_argument("--target", type=float, default=0.9,
                        help="lowest acceptable score per module (default 0.9)")
    parser.add_argument("--timeout-factor", type=float, default=4.0,
                        help="limit per mutant: this times the unmutated run, "
                             "at least --min-timeout (default 4)")
    parser.add_argument("--min-timeout", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary copy and the cosmic-ray sessions")
    parser.add_argument("--explain", type=Path, metavar="REPORT",
                        help="mutate nothing: rewrite the reasons of the survivors "
                             "in REPORT (an --output of this script) from "
                             "tools/mutation_survivors.py as it is now")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}; add them to MODULES first")
    return args


def explain(path, target):
    """Rewrite the ``why:`` lines of a saved report; 1 if a module scores under
    ``target`` or a survivor is still unexplained."""
    reasons = load_reasons()
    lines = path.read_text().splitlines()
    failed = False
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) == 7 and fields[0].endswith(".py") and fields[6][-1] == "%":
            failed |= float(fields[6][:-1]) / 100 < target
        if line.startswith("    why: "):
            module = lines[i - 3].split(":", 1)[0]
            # as _changed joins them: stripped lines, blank ones left out
            old, new = (" | ".join(part.strip() for part in text[6:].split(" | ")
                                   if part.strip()) for text in lines[i - 2:i])
            why = reasons.get((module, old, new))
            failed |= why is None
            lines[i] = f"    why: {why or 'UNEXPLAINED'}"
    if lines[1].startswith("# exit "):
        lines[1] = f"# exit {int(failed)}" + lines[1][len("# exit 0"):]
    path.write_text("\n".join(lines) + "\n")
    print(f"{path}: {sum('UNEXPLAINED' in ln for ln in lines)} unexplained")
    return int(failed)


def main():
    args = parse_args()
    if args.explain:
        return explain(args.explain, args.target)
    output = args.output.resolve() if args.output else None
    try:
        tool = f"cosmic-ray {version('cosmic-ray')}"
    except PackageNotFoundError:
        sys.exit("cosmic-ray is not installed: pip install cosmic-ray")

    start = time.time()
    os.environ.update(THREAD_ENV, PYTHONDONTWRITEBYTECODE="1")
    sys.dont_write_bytecode = True  # a stale .pyc must never stand in for a mutant
    if args.runner == "fork":
        for name in PRELOAD:
            importlib.import_module(name)
        if "skmixal" in sys.modules:
            sys.exit("preloading imported skmixal: the mutants would not be seen")
    work = Path(tempfile.mkdtemp(prefix="skmixal-mutation-"))
    copy = work / "repo"
    copy.mkdir()
    here = os.getcwd()
    try:
        source = copy_tree(copy, args.rev)
        env = {**os.environ, "PYTHONPATH": str(copy)}
        os.environ["PYTHONPATH"] = str(copy)
        os.chdir(copy)
        out = [f"{tool} on {source}; {args.runner} runner; each mutant tested "
               f"with `pytest <tests> {' '.join(PYTEST_ARGS)}`, one thread",
               "",
               f"{'module':<28} {'mutants':>7} {'killed':>6} {'timeouts':>8} "
               f"{'survived':>8} {'incompetent':>11} {'score':>6}"]
        tests, notes, failed = [], [], False
        reasons = load_reasons()
        for module in args.modules:
            base = baseline(copy, module, args.runner, env)
            timeout = max(args.min_timeout, args.timeout_factor * base)
            print(f"{module}: unmutated tests pass in {base:.1f} s", flush=True)
            original = (copy / module).read_bytes()
            results = mutate(copy, work, module, timeout, args.runner, env)
            if (copy / module).read_bytes() != original:
                sys.exit(f"{module} was left mutated in the copy {copy}")
            score, lines, unexplained = report(module, results, reasons, out)
            tests.append(f"  {module}: {' '.join(MODULES[module])} "
                         f"({base:.1f} s unmutated, {timeout:.0f} s limit)")
            notes += lines
            failed |= score < args.target or unexplained > 0
        n_notes = sum(ln.startswith("    why") for ln in notes)
        out += ["", "score = (killed + timeouts) / mutants; tests per module:",
                *tests, "", f"survivors ({n_notes}):", *(notes or ["  none"])]
    finally:
        os.chdir(here)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(out)
    print(text)
    if output:
        cmd = shlex.join(["python", "tools/mutation.py", *sys.argv[1:]])
        output.write_text(
            f"$ {cmd}\n# exit {int(failed)}, {time.time() - start:.0f} s, "
            f"{time.strftime('%Y-%m-%d %H:%M')}\n{text}\n")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
