"""`skmixal run` and the labeling state beyond one process: worker processes that
lose their parent, a real Dask cluster, semi-supervised arms and states, and a
network chosen on the command line (ResNet-18 on CIFAR-format files)."""

import csv
import hashlib
import importlib.util
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skmixal.cli import main
from skmixal.datasets import load_dataset

TINY = ["--seeds", "1", "--initial", "10", "--query-size", "10", "--budget", "30",
        "--max-epochs", "2", "--min-steps", "10", "--quiet", "--mixup-alpha", "0.4"]
FAST = ["--max-epochs", "2", "--min-steps", "10"]


def _records(out):
    return [{k: v for k, v in r.items() if not k.endswith("_s")}
            for r in json.loads((Path(out) / "results.json").read_text())["records"]]


def _children(pid):
    """Pids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_stop_when_run_is_killed_and_resume_matches(tmp_path):
    argv = [*TINY, "--budget", "50"]
    reference = tmp_path / "ref"
    assert main(["run", *argv, "--n-jobs", "1", "--out", str(reference)]) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "skmixal", "run", *argv, "--n-jobs", "2", "--out",
         str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list(killed.glob("runs/*/seed_0/round_0001.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = [p for p in _children(proc.pid) if p != proc.pid]
    assert workers, "joblib started no worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in workers):
        assert time.monotonic() < deadline, "orphaned workers still running"
        time.sleep(0.1)
    saved = sorted(killed.glob("runs/*/seed_0/round_*.json"))
    time.sleep(1.0)
    assert sorted(killed.glob("runs/*/seed_0/round_*.json")) == saved
    assert 0 < len(saved) < 4 * 5
    assert main(["run", *argv, "--n-jobs", "2", "--out", str(killed)]) == 0
    assert _records(killed) == _records(reference)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A real scheduler and two worker processes on 127.0.0.1, stopped after."""
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=tmp_path)]
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert procs[0].poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--local-directory", str(tmp_path / "dask-worker-space")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        from dask.distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_real_dask_cluster_gives_the_sequential_records(tmp_path, dask_cluster):
    sequential, on_dask = tmp_path / "seq", tmp_path / "dask"
    assert main(["run", *TINY, "--n-jobs", "1", "--out", str(sequential)]) == 0
    assert main(["run", *TINY, "--scheduler", dask_cluster, "--out",
                 str(on_dask)]) == 0
    assert _records(on_dask) == _records(sequential)
    assert len(_records(on_dask)) == 4 * 3


# --- semi-supervised -----------------------------------------------------------

@pytest.fixture
def fit_spy(monkeypatch):
    """Record the size of X and of X_unlabeled of every fit."""
    from skmixal.classifier import MixupNetClassifier

    calls, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, y, X_unlabeled=None, **kwargs):
        calls.append((len(X), None if X_unlabeled is None else len(X_unlabeled)))
        return real_fit(self, X, y, X_unlabeled=X_unlabeled, **kwargs)

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    return calls


def test_run_semi_supervised_arms_fit_with_the_remaining_pool(tmp_path, fit_spy):
    out = tmp_path / "res"
    assert main(["run", *TINY, "--strategies", "entropy", "--n-jobs", "1",
                 "--semi-supervised", "--out", str(out)]) == 0
    arms = [a["name"] for a in json.loads((out / "results.json").read_text())
            ["config"]["arms"]]
    assert arms == ["random", "entropy", "entropy+mixup", "entropy+mixup+ssl"]
    n_train = 1797 - int(np.ceil(1797 * 0.25))  # the split holds 450 out
    # the settings checks fit 2 rows; the rounds 10, 20, 30 labels
    rounds = [(n_lab, n_unl) for n_lab, n_unl in fit_spy
              if n_unl is not None and n_lab > 2]
    # one per round of the +ssl arm, with every training row not yet labeled
    assert rounds == [(n, n_train - n) for n in (10, 20, 30)]
    records = _records(out)
    assert {r["arm"] for r in records} == set(arms)


def _answer_first_query(state, truth):
    """Fill the state's first query file with the true labels; return its path."""
    query = state / "query_0000.csv"
    with open(query, newline="") as fh:
        ids = [int(r["id"]) for r in csv.DictReader(fh)]
    query.write_text("id,label\n" + "".join(f"{i},{truth[i]}\n" for i in ids))
    return query


def _spy_fits(monkeypatch, read):
    """Every fit of more than 2 rows: (unlabeled rows or None, read(estimator))."""
    from skmixal.classifier import MixupNetClassifier

    calls, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, y, X_unlabeled=None, **kwargs):
        out = real_fit(self, X, y, X_unlabeled=X_unlabeled, **kwargs)
        if len(X) > 2:  # not the settings checks
            calls.append((None if X_unlabeled is None else len(X_unlabeled),
                          read(self)))
        return out

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    return calls


@pytest.fixture
def method_spy(monkeypatch):
    """(unlabeled rows or None, the method used) of every fit of more than 2 rows."""
    return _spy_fits(monkeypatch, lambda net: net.semi_supervised_)


def test_run_compares_the_semi_supervised_methods_named(tmp_path, method_spy):
    out = tmp_path / "res"
    assert main(["run", *TINY, "--strategies", "entropy", "--n-jobs", "1",
                 "--semi-supervised", "fixmatch", "mixmatch", "--budget", "20",
                 "--out", str(out)]) == 0
    arms = [a["name"] for a in json.loads((out / "results.json").read_text())
            ["config"]["arms"]]
    assert arms == ["random", "entropy", "entropy+mixup", "entropy+fixmatch",
                    "entropy+mixup+ssl"]
    n_train = 1797 - int(np.ceil(1797 * 0.25))
    ssl = sorted((n, m) for n, m in method_spy if n is not None)
    assert ssl == sorted([(n_train - 10, "fixmatch"), (n_train - 20, "fixmatch"),
                          (n_train - 10, "mixmatch"), (n_train - 20, "mixmatch")])


def test_views_rampup_and_precision_reach_every_semi_supervised_fit(
        tmp_path, monkeypatch):
    # the short setting README "Using the unlabeled pool" gives for the runner
    fits = _spy_fits(monkeypatch, lambda net: (
        net.n_augmentations, getattr(net, "unlabeled_rampup_", None), net.lr,
        net.precision))
    short = ["--n-augmentations", "2", "--unlabeled-rampup", "0.4", "--lr", "2e-3",
             "--precision", "bfloat16"]
    assert main(["run", *TINY, "--strategies", "entropy", "--n-jobs", "1",
                 "--semi-supervised", "mixmatch", "--budget", "20", *short,
                 "--out", str(tmp_path / "res")]) == 0
    n_train = 1797 - int(np.ceil(1797 * 0.25))
    assert sorted(f for f in fits if f[0] is not None) == [
        (n_train - 20, (2, 0.4, 2e-3, "bfloat16")),
        (n_train - 10, (2, 0.4, 2e-3, "bfloat16"))]
    # the labeling loop keeps them in its state and refits with them
    truth = load_dataset("digits").y
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "8", "--semi-supervised",
                 "mixmatch", "--n-augmentations", "3", "--unlabeled-rampup", "0",
                 "--precision", "bfloat16", *FAST]) == 0
    params = json.loads((state / "state.json").read_text())["config"][
        "estimator_params"]
    assert (params["n_augmentations"], params["unlabeled_rampup"],
            params["precision"]) == (3, 0.0, "bfloat16")
    query = _answer_first_query(state, truth)
    fits.clear()
    assert main(["teach", "--state", str(state), str(query)]) == 0
    assert fits == [(1797 - 8, (3, 0.0, 1e-3, "bfloat16"))]


@pytest.mark.parametrize("command, extra, message", [
    ("run", ["--n-augmentations", "2"], "--n-augmentations applies to semi-supervised"),
    ("init", ["--unlabeled-rampup", "0.4"],
     "--unlabeled-rampup applies to semi-supervised fits; pass --semi-supervised"),
    ("run", ["--semi-supervised", "fixmatch", "--n-augmentations", "2"],
     "--n-augmentations is MixMatch's"),
    ("init", ["--semi-supervised", "fixmatch", "--n-augmentations", "2"],
     "--n-augmentations is MixMatch's"),
])
def test_method_flags_without_their_method_are_refused(tmp_path, capsys, command,
                                                        extra, message):
    # a flag no fit would read is refused, not silently dropped
    out = tmp_path / "out"
    where = (["--out", str(out), *TINY] if command == "run"
             else ["--state", str(out), *FAST])
    assert main([command, *where, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()
    # with its method the same flag is taken
    if "fixmatch" in extra:
        extra = [a.replace("fixmatch", "mixmatch") for a in extra]
    else:
        extra = [*extra, "--semi-supervised", "mixmatch"]
    quick = ["--budget", "10"] if command == "run" else ["--initial", "4"]
    assert main([command, *where, *extra, *quick]) == 0


def test_run_refuses_an_unknown_method(tmp_path, capsys):
    with pytest.raises(SystemExit, match="^2$"):
        main(["run", *TINY, "--semi-supervised", "flexmatch", "--out",
              str(tmp_path / "res")])
    assert re.search(r"--semi-supervised: invalid choice: 'flexmatch' \(choose "
                     r"from '?mixmatch'?, '?fixmatch'?, '?auto'?\)",
                     capsys.readouterr().err)
    assert not (tmp_path / "res").exists()


def test_fixmatch_state_refits_with_fixmatch(tmp_path, method_spy):
    truth = load_dataset("digits").y
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "8",
                 "--semi-supervised", "fixmatch", *FAST]) == 0
    config = json.loads((state / "state.json").read_text())["config"]
    assert config["semi_supervised"] is True
    assert config["estimator_params"]["semi_supervised"] == "fixmatch"
    query = _answer_first_query(state, truth)
    assert main(["teach", "--state", str(state), str(query)]) == 0
    assert method_spy == [(1797 - 8, "fixmatch")]


def test_semi_supervised_state_refits_with_the_real_pool(tmp_path, fit_spy):
    truth = load_dataset("digits").y
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "8",
                 "--semi-supervised", *FAST]) == 0
    assert json.loads((state / "state.json").read_text())["config"][
        "semi_supervised"] is True
    query = _answer_first_query(state, truth)
    fit_spy.clear()
    assert main(["teach", "--state", str(state), str(query)]) == 0
    assert fit_spy == [(8, 1797 - 8)]
    assert main(["query", "--state", str(state), "--n", "4"]) == 0
    # the saved model is loaded (a fit of 0 epochs builds the net), not refit
    assert fit_spy[1:] == [(8, None)]


def test_status_says_whether_the_models_fit_collapsed(tmp_path, capsys):
    truth = load_dataset("digits").y
    state = tmp_path / "state"
    # 10 steps: the careless setting of issue 14, whose fits the guard catches
    assert main(["init", "--state", str(state), "--initial", "8",
                 "--semi-supervised", *FAST]) == 0
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert "model:" not in capsys.readouterr().out  # no model of 8 labels yet
    query = _answer_first_query(state, truth)
    assert main(["teach", "--state", str(state), str(query)]) == 0
    assert "The mixmatch fit collapsed" in capsys.readouterr().err
    report = json.loads((state / "model.json").read_text())["fit_report"]
    assert report["collapsed"] and report["action"] == "refit supervised"
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert (f"model: the mixmatch fit collapsed ({report['reason']}); refit "
            "supervised") in capsys.readouterr().out.splitlines()


# --- --module resnet18 on CIFAR-format files -----------------------------------

def _write_cifar(root, n=40):
    """A CIFAR-10 python-version folder of n images in 2 classes; the MD5s."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [k % 2 for k in range(n)]
    batches = {"data_batch_1": {"data": data, "labels": labels},
               "test_batch": {"data": data[:4], "labels": labels[:4]},
               "batches.meta": {"label_names": ["plane", "car", *["c"] * 8]}}
    md5 = {}
    for name, content in batches.items():
        (folder / name).write_bytes(pickle.dumps(content))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return md5


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    # torchvision is the optional `vision` extra (absent from the floors venv)
    tvd = pytest.importorskip("torchvision.datasets")

    md5 = _write_cifar(tmp_path / "cifar")
    monkeypatch.setattr(tvd.CIFAR10, "train_list",
                        [["data_batch_1", md5["data_batch_1"]]])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(tvd.CIFAR10, "meta",
                        {**tvd.CIFAR10.meta, "md5": md5["batches.meta"]})
    return tmp_path / "cifar"


def test_run_and_init_with_resnet18_on_cifar_files(tmp_path, cifar_root, capsys):
    import torchvision

    out = tmp_path / "res"
    assert main(["run", "--data", f"torchvision:cifar10:{cifar_root}",
                 "--module", "resnet18", "--strategies", "random", "--seeds", "1",
                 "--initial", "10", "--query-size", "10", "--budget", "20",
                 "--max-epochs", "1", "--min-steps", "2", "--n-jobs", "1",
                 "--quiet", "--out", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["estimator_params"]["module"] == \
        "skmixal.experiment.resnet18"
    assert len(saved["records"]) == 2 * 2
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data",
                 f"torchvision:cifar10:{cifar_root}", "--module", "resnet18",
                 "--initial", "4", "--max-epochs", "1", "--min-steps", "2"]) == 0
    from skmixal.labeling import _State

    net = _State(state).estimator(max_epochs=0, min_steps=0)
    X = load_dataset(f"torchvision:cifar10:{cifar_root}").X
    net.fit(X[:2], np.array([0, 1]))
    assert isinstance(net.module_, torchvision.models.ResNet)
    assert net.module_.conv1.kernel_size == (3, 3)
    assert isinstance(net.module_.maxpool, __import__("torch").nn.Identity)
    assert net.module_.fc.out_features == 2


def test_module_by_dotted_path_with_kwargs(tmp_path):
    out = tmp_path / "res"
    assert main(["run", *TINY, "--strategies", "random", "--n-jobs", "1",
                 "--module", "skmixal.modules.MLP", "--module-kwargs",
                 '{"hidden_units": [32]}', "--out", str(out)]) == 0
    params = json.loads((out / "results.json").read_text())["config"][
        "estimator_params"]
    assert params["module"] == "skmixal.modules.MLP"
    assert params["module__hidden_units"] == [32]
    # filled in from the data
    assert params["module__n_features"] == 64 and params["module__n_classes"] == 10


@pytest.fixture
def alpha_spy(monkeypatch):
    """Every fit of more than 2 rows: (unlabeled rows or None, its mixup_alpha).

    The parameter as the runner set it ('auto' is resolved by the estimator,
    tests/test_cli.py reads what to), not ``mixup_alpha_``, which a collapse
    guard's supervised refit would change.
    """
    return _spy_fits(monkeypatch, lambda net: net.mixup_alpha)


def test_run_semi_supervised_on_vectors_names_its_arms_for_what_they_do(
        tmp_path, capsys, alpha_spy):
    # --mixup-alpha auto: no supervised Mixup on vectors, but MixMatch mixes
    argv = [a for a in TINY if a not in ("--mixup-alpha", "0.4", "--quiet")]
    out = tmp_path / "res"
    assert main(["run", *argv, "--strategies", "entropy", "--n-jobs", "1",
                 "--semi-supervised", "--budget", "20", "--out", str(out)]) == 0
    arms = [a["name"] for a in json.loads((out / "results.json").read_text())
            ["config"]["arms"]]
    assert arms == ["random", "entropy", "entropy+mixup+ssl"]
    assert "the +mixup+ssl arms still mix" in capsys.readouterr().err
    ssl = [alpha for n_unl, alpha in alpha_spy if n_unl is not None]
    plain = [alpha for n_unl, alpha in alpha_spy if n_unl is None]
    assert ssl == ["auto", "auto"] and set(plain) == {0.0}


def test_run_mixup_alpha_leaves_mixmatch_alone(tmp_path, alpha_spy):
    assert main(["run", *TINY, "--mixup-alpha", "0.1", "--strategies", "entropy",
                 "--n-jobs", "1", "--semi-supervised", "--budget", "20", "--out",
                 str(tmp_path / "res")]) == 0
    ssl = {alpha for n_unl, alpha in alpha_spy if n_unl is not None}
    supervised = {alpha for n_unl, alpha in alpha_spy if n_unl is None}
    assert ssl == {"auto"}  # MixMatch's 0.75, not the 0.1 of supervised Mixup
    assert supervised == {0.0, 0.1}


def test_run_warnings_are_one_line_naming_the_flag(tmp_path, capsys):
    data = load_dataset("digits")
    npz = tmp_path / "d.npz"
    np.savez(npz, X=data.X[:60], y=data.y[:60])
    assert main(["run", *TINY, "--data", f"npz:{npz}", "--strategies", "random",
                 "--n-jobs", "1", "--query-size", "35", "--budget", "100",
                 "--out", str(tmp_path / "res")]) == 0
    err = capsys.readouterr().err
    assert ("skmixal: warning: --budget (100) is more than the 45 training "
            "samples of each split: every run stops at 45 labels.") in err
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_run_names_each_collapsed_fit_under_its_table(tmp_path, capsys):
    # the careless run of issue 14: --semi-supervised with a handful of steps
    out = tmp_path / "res"
    argv = [a for a in TINY if a != "--quiet"]
    assert main(["run", *argv, "--strategies", "margin", "--n-jobs", "1",
                 "--semi-supervised", "--budget", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    notes = [line for line in printed.out.splitlines()
             if line.startswith("collapse guard: ")]
    records = json.loads((out / "results.json").read_text())["records"]
    collapsed = [r for r in records if "collapse" in r]
    # every SSL fit of 10 steps collapsed and was refit supervised; the others
    # never train on unlabeled rows, and the one-step settings check says nothing
    assert {r["arm"] for r in collapsed} == {"margin+mixup+ssl"}
    assert [r["n_labeled"] for r in collapsed] == [10, 20]
    assert all(r["collapse"].startswith("refit supervised: ") for r in collapsed)
    assert notes == [f"collapse guard: margin+mixup+ssl, seed 0, {r['n_labeled']} "
                     f"labels: {r['collapse']}" for r in collapsed]
    assert printed.err.count("The mixmatch fit collapsed") == 2
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [row["collapse"] != "" for row in rows] == [
        "collapse" in r for r in records]


def test_a_warm_start_state_continues_the_last_model(tmp_path, capsys, monkeypatch):
    import torch

    from skmixal.classifier import MixupNetClassifier

    truth = load_dataset("digits").y
    state = tmp_path / "state"
    histories, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, y, **kwargs):
        if self.max_epochs and len(X) > 2:  # not a build nor the settings check
            # a warm fit starts from exactly the weights of the saved model
            starts = self.warm_start and all(
                torch.equal(torch.load(state / "model.pt", weights_only=True)[k], v)
                for k, v in self.module_.state_dict().items())
            histories.append((len(X), self.warm_start, starts))
        return real_fit(self, X, y, **kwargs)

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)

    def label(query):
        with open(query, newline="") as fh:
            ids = [int(r["id"]) for r in csv.DictReader(fh)]
        query.write_text("id,label\n" + "".join(f"{i},{truth[i]}\n" for i in ids))
        assert main(["teach", "--state", str(state), str(query)]) == 0

    assert main(["init", "--state", str(state), "--initial", "8", "--warm-start",
                 *FAST]) == 0
    assert json.loads((state / "state.json").read_text())["config"]["warm_start"]
    label(state / "query_0000.csv")
    assert main(["query", "--state", str(state), "--n", "4"]) == 0
    capsys.readouterr()
    label(state / "query_0001.csv")
    assert "Continuing the last model (warm start)." in capsys.readouterr().err
    # the second refit went on from the first one's weights
    assert histories == [(8, False, False), (12, True, True)]


def test_bare_semi_supervised_is_fixmatch_on_colour_images(tmp_path, method_spy):
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.random((40, 8, 8, 3)) * 0.2 + y[:, None, None, None] * 0.6
    data = tmp_path / "colour.npz"
    np.savez(data, x=(x * 255).astype(np.uint8), y=y)
    out = tmp_path / "res"
    assert main(["run", *TINY, "--data", f"npz:{data}", "--strategies", "margin",
                 "--n-jobs", "1", "--initial", "6", "--query-size", "6",
                 "--budget", "12", "--semi-supervised", "--out", str(out)]) == 0
    arms = [a["name"] for a in json.loads((out / "results.json").read_text())
            ["config"]["arms"]]
    assert arms[-1] == "margin+fixmatch"
    assert {m for n, m in method_spy if n is not None} == {"fixmatch"}
    state = tmp_path / "state"
    assert main(["init", "--data", f"npz:{data}", "--state", str(state),
                 "--semi-supervised", *FAST]) == 0
    config = json.loads((state / "state.json").read_text())["config"]
    assert config["estimator_params"]["semi_supervised"] == "fixmatch"
    # grey or vectors: MixMatch, recorded by name
    assert main(["init", "--state", str(tmp_path / "digits"), "--semi-supervised",
                 *FAST]) == 0
    config = json.loads((tmp_path / "digits" / "state.json").read_text())["config"]
    assert config["estimator_params"]["semi_supervised"] == "mixmatch"


# --- --module pretrained: fine-tuning from the command line ---------------------

@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite_pytorch") is None,
                    reason="optional extra skmixal[pretrained]")
def test_run_and_init_fine_tune_a_pretrained_backbone(tmp_path, capsys):
    import inspect

    import torch

    from skmixal import MixupNetClassifier, PretrainedClassifier
    from skmixal.cli import DEFAULT_LR
    from skmixal.labeling import _State

    assert DEFAULT_LR == inspect.signature(MixupNetClassifier).parameters["lr"].default
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.random((40, 8, 8, 3)) * 0.2 + y[:, None, None, None] * 0.6
    data = tmp_path / "colour.npz"
    np.savez(data, x=(x * 255).astype(np.uint8), y=y)
    small = ["--module", "pretrained", "--module-kwargs", '{"input_size": 32}',
             "--max-epochs", "1", "--min-steps", "2"]
    out = tmp_path / "res"
    assert main(["run", "--data", f"npz:{data}", *small, "--strategies", "random",
                 "--semi-supervised", "fixmatch", "--seeds", "1", "--initial", "6",
                 "--query-size", "6", "--budget", "12", "--n-jobs", "1", "--quiet",
                 "--out", str(out)]) == 0
    params = json.loads((out / "results.json").read_text())["config"][
        "estimator_params"]
    assert params["module"] == "skmixal.experiment.pretrained"
    assert params["module__input_size"] == 32
    # the backbone at a tenth of the head's default learning rate
    assert params["optimizer__param_groups"] == [["backbone.*", {"lr": 1e-4}]]
    state = tmp_path / "state"
    assert main(["init", "--data", f"npz:{data}", "--state", str(state), *small,
                 "--lr", "2e-3", "--backbone-lr", "3e-5", "--initial", "4"]) == 0
    net = _State(state).estimator(max_epochs=1, min_steps=1)
    net.fit(load_dataset(f"npz:{data}").X[:2], np.array([0, 1]))
    assert isinstance(net.module_, PretrainedClassifier)
    groups = {g["lr"]: g["params"] for g in net.optimizer_.param_groups}
    assert sorted(groups) == [3e-5, 2e-3]
    backbone = {id(p) for p in net.module_.backbone.parameters()}
    assert {id(p) for p in groups[3e-5]} == backbone
    assert all(id(p) not in backbone for p in groups[2e-3])
    assert isinstance(net.module_.head, torch.nn.Linear)
    capsys.readouterr()
    assert main(["run", *TINY, "--backbone-lr", "1e-4", "--out",
                 str(tmp_path / "no")]) == 2
    assert "--backbone-lr applies to --module pretrained" in capsys.readouterr().err


def test_status_and_run_name_a_supervised_fit_that_learned_nothing(tmp_path, capsys):
    # --lr 10: the default network predicts one class for every row, with
    # finite weights (no TrainingDivergedError); the fit warns, the runner
    # lists the fit under its table and status names it
    truth = load_dataset("digits").y
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "20", "--lr", "10",
                 *FAST]) == 0
    query = _answer_first_query(state, truth)
    assert main(["teach", "--state", str(state), str(query)]) == 0
    report = json.loads((state / "model.json").read_text())["fit_report"]
    assert report["learned"] is False and report["action"] == "warned"
    labels = state / "labels.csv"
    hint = ("This state's rate is fixed: to change it, start a new state from its "
            "labels, with the same flags and a smaller --lr or more --min-steps: "
            f"skmixal init --state NEW_STATE --data digits --initial-labels {labels} "
            "--lr ...")
    # the estimator's advice (lower lr) is not a labeling command's
    warned = [line for line in capsys.readouterr().err.splitlines()
              if "warning" in line]
    assert warned == [
        f"skmixal: warning: the model did not learn its labels: {report['reason']}. "
        f"The labels are saved. {hint}"]
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert (f"model: the supervised fit did not learn its labels ({report['reason']})."
            f" The labels are saved. {hint}") in capsys.readouterr().out.splitlines()

    out = tmp_path / "res"
    argv = [a for a in TINY if a != "--quiet"]
    assert main(["run", *argv, "--strategies", "random", "--n-jobs", "1",
                 "--lr", "10", "--budget", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert ("skmixal: warning: The supervised fit did not learn its labels"
            in printed.err)
    assert "Lower --lr (now 10.0) or train longer (--min-steps, now 10)" in printed.err
    records = json.loads((out / "results.json").read_text())["records"]
    failed = [r for r in records if "not_learned" in r]
    assert failed and all(r["labeled_accuracy"] < 0.325 for r in failed)
    assert [line for line in printed.out.splitlines()
            if line.startswith("not learned: ")] == [
        f"not learned: {r['arm']}, seed {r['seed']}, {r['n_labeled']} labels: "
        f"{r['not_learned']}" for r in failed]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [row["not_learned"] != "" for row in rows] == [
        "not_learned" in r for r in records]


def test_default_init_and_run_print_no_warning(tmp_path, capsys):
    # their one-step settings check fits 2 rows once: neither the collapse
    # guard nor the labeled check may speak of it
    assert main(["init", "--state", str(tmp_path / "state"), "--initial", "20"]) == 0
    assert main(["run", *TINY, "--strategies", "random", "--n-jobs", "1",
                 "--semi-supervised", "--min-steps", "300", "--budget", "20",
                 "--out", str(tmp_path / "res")]) == 0
    assert "warning" not in capsys.readouterr().err
