"""The `skmixal run` command: defaults, outputs, errors, kill-and-resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from skmixal.cli import build_parser, main

TINY = ["--seeds", "1", "--initial", "10", "--query-size", "10", "--budget", "30",
        "--max-epochs", "2", "--min-steps", "10", "--n-jobs", "1", "--quiet",
        "--mixup-alpha", "0.4"]


def test_default_run_arguments():
    args = build_parser().parse_args(["run"])
    assert args.data == "digits" and args.strategies == ["random", "entropy"]
    assert args.seeds == [0, 1, 2] and args.budget == 200 and args.target == 0.9
    assert args.out == "skmixal-results" and args.mixup_alpha == "auto"
    assert args.torch_threads == 1
    assert build_parser().parse_args(["run", "--seeds", "4,7"]).seeds == [4, 7]


def test_run_writes_table_and_files(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", *TINY, "--out", str(out), "--target", "0.5"]) == 0
    table = capsys.readouterr().out
    for arm in ("random", "random+mixup", "entropy", "entropy+mixup"):
        assert arm in table
    assert "to reach 0.5" in table
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["budget"] == 30 and len(saved["records"]) == 4 * 3
    assert (out / "results.csv").exists() and (out / "learning_curve.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "--data", "npz:/nonexistent.npz"], "Cannot load dataset"),
    (["run", "--strategies", "nope"], "Unknown strategy"),
    (["run", "--initial", "50", "--budget", "20"],
     "--budget (20) must be at least --initial (50)"),
])
def test_user_errors_exit_2_without_traceback(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet", "--n-jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_python_dash_m_help():
    done = subprocess.run([sys.executable, "-m", "skmixal", "--help"],
                          capture_output=True, text=True, check=True)
    assert "run" in done.stdout and "teach" in done.stdout


def _run_cli(out, *extra):
    return [sys.executable, "-m", "skmixal", "run", *TINY, "--budget", "60",
            "--out", str(out), *extra]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    reference, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_run_cli(reference), check=True, capture_output=True)
    proc = subprocess.Popen(_run_cli(killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(killed.glob("runs/*/seed_0/round_0001.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list(killed.glob("runs/*/seed_0/round_*.json")))
    assert 0 < partial < 4 * 6
    subprocess.run(_run_cli(killed), check=True, capture_output=True)

    def records(path):
        return [{k: v for k, v in r.items() if not k.endswith("_s")}
                for r in json.loads((path / "results.json").read_text())["records"]]

    assert records(killed) == records(reference)


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_and_resumes(tmp_path):
    out = tmp_path / "res"
    # a shell that starts jobs in the background hands them SIGINT ignored, and
    # Python keeps it so; restore the default as an interactive terminal has it
    proc = subprocess.Popen(_run_cli(out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not list(out.glob("runs/*/seed_0/round_0001.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert main(["run", *TINY, "--budget", "60", "--out", str(out)]) == 0


@pytest.mark.parametrize("argv, flag, message", [
    (["run", "--seeds=-1,2"], "--seeds", "a seed must be between 0"),
    (["run", "--seeds", "7,"], "--seeds", "an empty item (a stray comma?)"),
    (["run", "--seeds", "0,,2"], "--seeds", "an empty item"),
    (["run", "--seeds", "0"], "--seeds", "the number of seeds must be >= 1"),
    (["init", "--state", "s", "--seed", "-1"], "--seed", "a seed must be between"),
    (["init", "--state", "s", "--seed", str(2**32)], "--seed",
     "a seed must be between 0 and 4294967295"),
])
def test_bad_seeds_are_refused_naming_the_flag(tmp_path, capsys, monkeypatch,
                                               argv, flag, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="^2$"):
        main(argv)
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the usage
    assert f"argument {flag}: " in error and message in error
    assert "--test-size" not in error
    assert not any(tmp_path.iterdir())


def test_seeds_count_and_list():
    parse = build_parser().parse_args
    assert parse(["run", "--seeds", "7"]).seeds == list(range(7))
    assert parse(["run", "--seeds", "7, 0"]).seeds == [7, 0]
    assert parse(["init", "--state", "s", "--seed", "4294967295"]).seed == 2**32 - 1


# --- help texts say what the code does ----------------------------------------

def _help(command, flag):
    parser = build_parser(strategy_help=False)
    sub = parser._subparsers._group_actions[0].choices[command]
    action = next(a for a in sub._actions if flag in a.option_strings)
    return sub._get_formatter()._expand_help(action)


@pytest.fixture(scope="module")
def resolved():
    """What the estimator makes of its 'auto' settings, read from fits."""
    import numpy as np

    from skmixal import MixupNetClassifier

    rng = np.random.default_rng(0)
    images, vectors = rng.random((4, 1, 8, 8)), rng.random((4, 64))
    y = np.array([0, 1, 0, 1])
    # trains nothing; no collapse guard, whose supervised refit would report
    # the supervised settings for the fit with unlabeled rows
    net = MixupNetClassifier(max_epochs=0, collapse_guard=None, random_state=0)
    out = {}
    for key, X, unlabeled, method in (
            ("images", images, None, "auto"), ("vectors", vectors, None, "auto"),
            ("with unlabeled", images, images, "auto"),  # MixMatch: grey images
            ("fixmatch", images, images, "fixmatch")):
        net.set_params(semi_supervised=method).fit(X, y, X_unlabeled=unlabeled)
        out[key] = (net.mixup_alpha_, net.min_steps_,
                    getattr(net, "unlabeled_rampup_", None))
    assert out["with unlabeled"] != out["fixmatch"]  # the two methods' own settings
    return out, MixupNetClassifier()


@pytest.mark.parametrize("command", ["run", "init"])
def test_help_gives_the_estimators_defaults(resolved, command):
    auto, est = resolved
    alpha = _help(command, "--mixup-alpha")
    assert f"{auto['images'][0]:g} for images" in alpha
    assert f"{auto['vectors'][0]:g} (off) for vectors" in alpha
    assert f"{auto['with unlabeled'][0]:g}" in alpha  # MixMatch's
    steps = _help(command, "--min-steps")
    assert f"default: {auto['images'][1]:,};" in steps
    assert (f"with --semi-supervised {auto['with unlabeled'][1]:,} for MixMatch, "
            f"{auto['fixmatch'][1]:,} for FixMatch)") in steps
    assert (f"default: {auto['with unlabeled'][2]:g} for MixMatch, "
            f"{auto['fixmatch'][2]:g} for FixMatch)") in _help(command,
                                                                "--unlabeled-rampup")
    assert f"default: {est.n_augmentations})" in _help(command, "--n-augmentations")
    assert f"(default: {est.precision})" in _help(command, "--precision")
    assert f"default: {est.max_epochs})" in _help(command, "--max-epochs")
    assert f"default: {est.batch_size})" in _help(command, "--batch-size")
    assert f"default: {est.lr:g})" in _help(command, "--lr")
    assert est.optimizer.__name__ in _help(command, "--lr")


def net(n_classes, num_classes, in_channels, n_features):
    """A network builder taking every argument resolve_module may fill in."""


def test_help_names_what_module_kwargs_fills_in():
    from skmixal.experiment import resolve_module

    filled = {k.removeprefix("module__") for k in
              resolve_module(f"{__name__}.net", input_shape=(64,), n_classes=3)
              if k != "module"} | {"in_channels"}  # in_channels: for images
    text = _help("run", "--module-kwargs")
    assert all(name in text for name in filled), (filled, text)


@pytest.mark.parametrize("command, flag, low, high", [
    ("run", "--initial", "1", "1,000,000"), ("run", "--query-size", "1", "1,000,000"),
    ("run", "--budget", "1", "1,000,000"), ("run", "--torch-threads", "1", "1,024"),
    ("run", "--n-jobs", "1", "1,024"), ("run", "--min-steps", "0", "10,000,000"),
    ("run", "--max-epochs", "0", "10,000"), ("run", "--batch-size", "1", "100,000"),
    ("run", "--lr", "0", "10"), ("run", "--mixup-alpha", "0", "100"),
    ("run", "--n-augmentations", "1", "64"), ("init", "--unlabeled-rampup", "0", "1"),
    ("run", "--seeds", "0", "4294967295"), ("init", "--initial", "0", "1,000,000"),
    ("init", "--seed", "0", "4294967295"), ("query", "--n", "1", "1,000,000"),
    ("status", "--cv", "2", "100"), ("teach", "--torch-threads", "1", "1,024"),
])
def test_every_numeric_flag_states_its_range(command, flag, low, high):
    text = _help(command, flag)
    assert f"{low} to {high}" in text or f"above {low} and at most {high}" in text
