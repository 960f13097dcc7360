"""Real-labeling workflow through the CLI: init, query, teach, status; bad input."""

import json

import numpy as np
import pytest
from labeling_support import FAST, fill, ids_of, snapshot

from skmixal.cli import main
from skmixal.datasets import load_dataset


@pytest.fixture(scope="module")
def truth():
    return load_dataset("digits").y


@pytest.fixture
def pending(tmp_path):
    """A state with 10 taught labels and a pending query of 5."""
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "10", *FAST]) == 0
    y = load_dataset("digits").y
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", y))]) == 0
    assert main(["query", "--state", str(state), "--n", "5"]) == 0
    return state, state / "query_0001.csv"


def test_expert_workflow_end_to_end(tmp_path, truth, capsys):
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "20", *FAST]) == 0
    first = state / "query_0000.csv"
    assert len(ids_of(first)) == 20 and (state / "query_0000.png").exists()
    assert main(["teach", "--state", str(state), str(fill(first, truth))]) == 0
    for k in (1, 2):
        assert main(["query", "--state", str(state), "--n", "15"]) == 0
        query = state / f"query_{k:04d}.csv"
        ids = ids_of(query)
        assert len(ids) == 15 and (state / f"query_{k:04d}.png").exists()
        assert main(["teach", "--state", str(state), str(fill(query, truth))]) == 0
    labels = np.load(state / "labels.npz", allow_pickle=False)
    assert len(labels["ids"]) == len(set(labels["ids"].tolist())) == 50
    assert (np.asarray(json.loads((state / "state.json").read_text())["classes"])
            [labels["codes"]] == truth[labels["ids"]]).all()
    capsys.readouterr()
    assert main(["status", "--state", str(state), "--cv", "2"]) == 0
    out = capsys.readouterr().out
    assert "50 labels" in out and "cross-validated accuracy" in out


def test_initial_labels_test_set_and_saved_model(tmp_path, truth, capsys):
    init_csv = fill(tmp_path / "init.csv", truth, rows=[(i, truth[i]) for i in
                                                        range(30)])
    test_csv = fill(tmp_path / "test.csv", truth,
                     rows=[(i, truth[i]) for i in range(1000, 1200)])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial-labels", str(init_csv),
                 "--test-labels", str(test_csv), *FAST]) == 0
    assert (state / "model.pt").exists()
    model_bytes = (state / "model.pt").read_bytes()
    assert main(["query", "--state", str(state), "--n", "10"]) == 0
    assert (state / "model.pt").read_bytes() == model_bytes  # loaded, not refit
    excluded = set(range(30)) | set(range(1000, 1200))
    assert not set(ids_of(state / "query_0000.csv")) & excluded
    capsys.readouterr()
    assert main(["status", "--state", str(state)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out


def test_labels_survive_an_interrupted_refit(pending, truth, monkeypatch):
    from skmixal.classifier import MixupNetClassifier

    state, query = pending
    real_fit = MixupNetClassifier.fit

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MixupNetClassifier, "fit", interrupted)
    assert main(["teach", "--state", str(state), str(fill(query, truth))]) == 130
    assert len(np.load(state / "labels.npz")["ids"]) == 15
    monkeypatch.setattr(MixupNetClassifier, "fit", real_fit)
    # the stale model is refit by the next command
    assert main(["query", "--state", str(state), "--n", "5"]) == 0
    meta = json.loads((state / "model.json").read_text())
    assert meta["n_labels"] == 15


def _bad_rows(case, ids, truth):
    good = [(i, truth[i]) for i in ids]
    return {
        "unknown class": [(ids[0], "cat")] + good[1:],
        "missing id": good[1:],
        "duplicate id": good + [good[0]],
        "id not queried": good + [(max(set(range(1797)) - set(ids)), 3)],
        "empty label": [(ids[0], "")] + good[1:],
        "bad id": [("x7", 1)] + good,
    }[case]


@pytest.mark.parametrize("case, message", [
    ("unknown class", "unknown class 'cat'"),
    ("missing id", "missing"),
    ("duplicate id", "more than once"),
    ("id not queried", "not in the last query"),
    ("empty label", "empty label"),
    ("bad id", "not an integer"),
])
def test_bad_csv_is_refused_and_changes_nothing(pending, truth, capsys, case,
                                                message):
    state, query = pending
    fill(query, truth, rows=_bad_rows(case, ids_of(query), truth))
    before = snapshot(state)
    capsys.readouterr()
    assert main(["teach", "--state", str(state), str(query)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert snapshot(state) == before


@pytest.mark.parametrize("case, message", [
    ("corrupt json", "corrupt"),
    ("other version", "version"),
    ("no state", "not a skmixal state directory"),
    ("another dataset", "no longer matches"),
    ("teach twice", "No query is waiting"),
    ("query twice", "still waiting"),
])
def test_bad_state_is_refused(tmp_path, truth, capsys, case, message):
    state = tmp_path / "state"
    data = tmp_path / "data.npz"
    np.savez(data, X=load_dataset("digits").X[:200], y=truth[:200])
    assert main(["init", "--state", str(state), "--data", f"npz:{data}",
                 "--initial", "10", *FAST]) == 0
    query = fill(state / "query_0000.csv", truth)
    command = ["teach", "--state", str(state), str(query)]
    if case == "corrupt json":
        (state / "state.json").write_text('{"format": "skmixal-lab')
    elif case == "other version":
        meta = json.loads((state / "state.json").read_text())
        (state / "state.json").write_text(json.dumps({**meta, "version": 99}))
    elif case == "no state":
        command[2] = str(tmp_path)
    elif case == "another dataset":
        np.savez(data, X=load_dataset("digits").X[200:400], y=truth[200:400])
    elif case == "teach twice":
        assert main(command) == 0
    elif case == "query twice":
        command = ["query", "--state", str(state)]
    before = snapshot(state)
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert snapshot(state) == before


def test_init_refuses_existing_state_and_bad_classes(tmp_path, capsys):
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), *FAST]) == 0
    assert main(["init", "--state", str(state)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(["init", "--state", str(tmp_path / "s2"), "--classes", "a"]) == 2
    assert "two distinct classes" in capsys.readouterr().err
    assert main(["init", "--state", str(tmp_path / "s3"), "--classes", "1,1,2"]) == 2
    assert "--classes lists 1 more than once: ['1', '1', '2']" in (
        capsys.readouterr().err)
    assert not (tmp_path / "s3").exists()


# --- where a stored data spec points --------------------------------------------

def _mnist_folder(folder, n=60):
    """An MNIST-format folder (t10k idx files) of n digits, 8x8 uint8."""
    import struct

    data = load_dataset("digits")
    images = np.round(data.X[:n].reshape(-1, 8, 8) * 255).astype(np.uint8)
    labels = data.y[:n].astype(np.uint8)
    folder.mkdir(parents=True)
    for name, arr in (("t10k-images-idx3-ubyte", images),
                      ("t10k-labels-idx1-ubyte", labels)):
        head = struct.pack(">BBBB", 0, 0, 8, arr.ndim)
        (folder / name).write_bytes(head + struct.pack(f">{arr.ndim}I", *arr.shape)
                                    + arr.tobytes())
    return folder


def _stored_spec(state):
    return json.loads((state / "state.json").read_text())["data"]["spec"]


def test_a_builtin_name_is_never_a_folder(tmp_path, monkeypatch):
    # a folder named like the default dataset must not turn --data digits into
    # a path: it did (stored "../digits", and the next query could not load it)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    assert main(["init", "--state", "s2", "--initial", "3", *FAST]) == 0
    assert _stored_spec(tmp_path / "s2") == "digits"
    assert main(["query", "--state", "s2", "--n", "2", "--force"]) == 0


def test_a_folder_spec_is_resolved_against_the_state_from_any_cwd(tmp_path,
                                                                  monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    _mnist_folder(project / "mnist")
    elsewhere.mkdir()
    monkeypatch.chdir(project)
    assert main(["init", "--state", "runs/state", "--data", "mnist",
                 "--initial", "4", *FAST]) == 0
    state = project / "runs" / "state"
    monkeypatch.chdir(elsewhere)
    argv = ["query", "--state", str(state), "--n", "3", "--force"]
    assert main(argv) == 0
    # stored with its kind: still a folder spec once the folder has moved
    assert _stored_spec(state) == "mnist:../../mnist"
    # a state that stored the plain folder (older skmixal): relative to the
    # state, not to the current directory
    meta = json.loads((state / "state.json").read_text())
    meta["data"]["spec"] = "../../mnist"
    (state / "state.json").write_text(json.dumps(meta))
    assert main(argv) == 0


def test_a_moved_data_set_says_how_to_point_at_it(tmp_path, capsys):
    _mnist_folder(tmp_path / "mnist")
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(tmp_path / "mnist"),
                 "--initial", "4", *FAST]) == 0
    (tmp_path / "mnist").rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(["query", "--state", str(state), "--n", "3", "--force"]) == 2
    err = capsys.readouterr().err
    assert "No MNIST test images file" in err and "'mnist:../mnist'" in err
    assert "pass --data" in err and "Traceback" not in err


# --- torch threads in the Python API -----------------------------------------

def test_python_api_torch_threads(tmp_path, truth, monkeypatch):
    import torch

    from skmixal import labeling
    from skmixal._io import UserError
    from skmixal.classifier import MixupNetClassifier

    seen, real_fit = [], MixupNetClassifier.fit

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    params = {"max_epochs": 2, "min_steps": 10}
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        query = labeling.init_state(tmp_path / "s", n_initial=5,
                                    estimator_params=params, torch_threads=1)
        assert seen == [1] and torch.get_num_threads() == 2  # restored
        fill(query, truth)
        labeling.teach_state(tmp_path / "s", query)  # None: the caller's setting
        assert seen[1:] == [2]
        with pytest.raises(UserError, match="--torch-threads must be an integer"):
            labeling.state_status(tmp_path / "s", torch_threads=0)
    finally:
        torch.set_num_threads(before)


def test_a_module_sized_for_every_class_passes_the_settings_check(tmp_path):
    # the settings check trains one step on two rows, told every class (the
    # runner's check was not, and refused a module sized for all ten)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "10", *FAST,
                 "--module", "skmixal.modules.MLP"]) == 0
    stored = json.loads((state / "state.json").read_text())
    assert "skmixal.modules.MLP" in json.dumps(stored)
