"""The command line under faults: each fixture is the fault itself.

A truncated or bit-flipped file, a file where a folder should be, a write that
fails as on a full or read-only disk, a bad setting, an unreachable scheduler.
Every one must end in one message (exit 2, no traceback) or be repaired with a
message saying so, and never lose a label.
"""

import csv
import errno
import importlib.util
import json
import os
import shlex
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from labeling_support import FAST, digits_npz, fill, ids_of, snapshot

from skmixal import labeling
from skmixal._io import UserError
from skmixal.cli import build_parser, main
from skmixal.datasets import load_dataset

TINY = ["--seeds", "1", "--initial", "10", "--query-size", "10", "--budget", "30",
        "--max-epochs", "2", "--min-steps", "10", "--n-jobs", "1", "--quiet",
        "--mixup-alpha", "0.4"]


@pytest.fixture(scope="module")
def truth():
    return load_dataset("digits").y


@pytest.fixture
def taught(tmp_path, truth):
    """A state with 10 taught labels and a fitted model; no pending query."""
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "10", *FAST]) == 0
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", truth))]) == 0
    return state


def _no_traceback(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


# --- 1. a stuck campaign: every model setting is checked at init --------------

@pytest.mark.parametrize("kwargs, message", [
    ({"mixup_alpha": -1}, "--mixup-alpha"),
    ({"estimator_params": {"max_epochs": -1}}, "--max-epochs"),
    ({"estimator_params": {"min_steps": -3}}, "--min-steps"),
    ({"estimator_params": {"lr": -1.0}}, "learning rate"),
    ({"estimator_params": {"batch_size": 0}}, "--batch-size"),
    ({"estimator_params": {"no_such_setting": 1}}, "no_such_setting"),
    ({"n_initial": -5}, "--initial"),
])
def test_init_refuses_bad_settings_and_writes_nothing(tmp_path, kwargs, message):
    state = tmp_path / "state"
    with pytest.raises(UserError, match=message):
        labeling.init_state(state, "digits", **kwargs)
    assert not state.exists()
    # the next init is not blocked by anything left behind
    assert labeling.init_state(state, "digits", n_initial=5) is not None


_HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


@pytest.mark.parametrize("argv, message", [
    (["--module", "no.such.Net"], "--module"),
    # images only; without torchvision the missing package is the first fault
    (["--module", "resnet18"],
     "Invalid model setting" if _HAS_TORCHVISION else "needs torchvision"),
])
def test_init_cli_bad_setting_exits_2_and_leaves_nothing(tmp_path, capsys, argv,
                                                          message):
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "5", *argv]) == 2
    _no_traceback(capsys, message)
    assert not state.exists()


@pytest.mark.parametrize("command", ["init", "run"])
def test_resnet18_without_torchvision_exits_2_naming_it(tmp_path, capsys,
                                                        monkeypatch, command):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    state = tmp_path / "state"
    argv = (["init", "--state", str(state), "--initial", "5"] if command == "init"
            else ["run", "--out", str(state), "--budget", "10"])
    assert main([*argv, "--module", "resnet18"]) == 2
    _no_traceback(capsys, "--module: module 'resnet18' needs torchvision: pip "
                          "install skmixal[vision]")
    assert not state.exists()


@pytest.mark.parametrize("argv", [
    ["init", "--state", "s", "--mixup-alpha", "-1"],
    ["init", "--state", "s", "--max-epochs", "-1"],
    ["init", "--state", "s", "--initial", "-5"],
    ["run", "--torch-threads", "-1"],
    ["query", "--state", "s", "--torch-threads", "-1"],
    ["teach", "--state", "s", "x.csv", "--torch-threads", "0"],
    ["status", "--state", "s", "--torch-threads", "-1"],
    ["run", "--seeds", "1,1"],
    ["run", "--target", "2"],
    ["run", "--strategies", ""],
    ["run", "--n-jobs", "0"],
    ["run", "--test-size", "1.5"],
])
def test_bad_flags_exit_2_before_anything_runs(tmp_path, capsys, monkeypatch,
                                               argv):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="^2$") as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    flag = next(a for a in argv if a.startswith("--") and a != "--state")
    assert flag in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# --- 2. corrupt files ---------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "init"])
@pytest.mark.parametrize("damage", ["truncated", "not zip"])
def test_corrupt_data_npz_is_a_message(tmp_path, capsys, command, damage):
    path = digits_npz(tmp_path / "d.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2] if damage == "truncated" else b"x" + raw)
    argv = (["run", *TINY, "--out", str(tmp_path / "o")] if command == "run"
            else ["init", "--state", str(tmp_path / "s")])
    assert main([*argv, "--data", f"npz:{path}"]) == 2
    err = _no_traceback(capsys, str(path))
    assert "allow_pickle" not in err
    assert ("corrupt" in err) if damage == "truncated" else ("not an .npz" in err)
    assert not (tmp_path / "s").exists()


def _flip_byte_in(path, needle):
    raw = bytearray(path.read_bytes())
    at = raw.find(needle)
    assert at >= 0
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["bit flip", "truncated"])
@pytest.mark.parametrize("command", ["status", "query"])
def test_corrupt_labels_npz_is_rebuilt_from_the_journal(taught, capsys, damage,
                                                         command):
    labels = taught / "labels.npz"
    before = np.load(labels)
    ids, codes = before["ids"].copy(), before["codes"].copy()
    if damage == "bit flip":  # a CRC-32 error when the codes are read
        _flip_byte_in(labels, codes.tobytes())
    else:
        labels.write_bytes(labels.read_bytes()[:150])
    capsys.readouterr()
    extra = ["--cv", "0"] if command == "status" else ["--n", "3"]
    assert main([command, "--state", str(taught), *extra]) == 0
    _no_traceback(capsys, "labels.npz was corrupt", "rebuilt it from labels.csv",
                  "none lost")
    after = np.load(labels)
    np.testing.assert_array_equal(after["ids"], ids)
    np.testing.assert_array_equal(after["codes"], codes)
    assert list(taught.glob("labels.npz-*.corrupt"))  # the damaged file is kept


def _damage_labels(state):
    labels = state / "labels.npz"
    labels.write_bytes(labels.read_bytes()[:150])


def _status(state):
    return labeling.state_status(state, cv=0,
                                 log=lambda m: print(m, file=sys.stderr))


@pytest.mark.parametrize("crash_at", ["labels.csv", "labels.npz"])
def test_a_crash_between_the_two_label_writes_loses_nothing(taught, truth, capsys,
                                                            monkeypatch, crash_at):
    """A crash after one of labels.npz and its journal labels.csv was written:
    the expert then goes on as the state says, and labels.npz is later damaged.
    The rebuild from the journal must still hold every label taught."""
    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    query = fill(taught / "query_0001.csv", truth)
    real = {"labels.csv": labeling.write_labels_journal,
            "labels.npz": labeling.write_npz}[crash_at]

    def crash(*args, **kwargs):
        raise OSError(errno.EIO, "simulated crash", crash_at)

    target = ("write_labels_journal" if crash_at == "labels.csv"
              else "write_npz")
    monkeypatch.setattr(labeling, target, crash)
    assert main(["teach", "--state", str(taught), str(query)]) == 2
    monkeypatch.setattr(labeling, target, real)
    if _status(taught)["pending"]:  # not taught: teach it again
        assert main(["teach", "--state", str(taught), str(query)]) == 0
    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    _damage_labels(taught)
    capsys.readouterr()
    status = _status(taught)
    assert status["n_labels"] == 15 and status["pending"] == "query_0002.csv"
    assert "rebuilt it from labels.csv (15 labels, none lost)" in \
        capsys.readouterr().err


@pytest.mark.parametrize("query_csv", ["kept", "deleted"])
def test_a_journal_that_lags_is_checked_against_state_json(taught, truth, capsys,
                                                           query_csv):
    """labels.csv older than labels.npz (as an older skmixal could leave it):
    the labels it lacks come back from the filled-in query CSV, or are said to
    be missing; never "none lost"."""
    stale = (taught / "labels.csv").read_bytes()
    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    query = fill(taught / "query_0001.csv", truth)
    assert main(["teach", "--state", str(taught), str(query)]) == 0
    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    (taught / "labels.csv").write_bytes(stale)
    if query_csv == "deleted":
        query.unlink()
    _damage_labels(taught)
    capsys.readouterr()
    status = _status(taught)
    err = _no_traceback(capsys, "rebuilt it from labels.csv")
    assert "none lost" not in err
    assert status["pending"] == "query_0002.csv"
    if query_csv == "kept":
        assert status["n_labels"] == 15
        assert "recovered 5 from query_0001.csv" in err
    else:
        assert status["n_labels"] == 10
        assert "MISSING: the 5 labels of query_0001.csv" in err
        assert "unlabeled again" in err


def test_a_journal_without_the_initial_labels_says_so(tmp_path, truth, capsys):
    rows = "".join(f"{i},{truth[i]}\n" for i in range(8))
    (tmp_path / "init.csv").write_text("id,label\n" + rows)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial-labels",
                 str(tmp_path / "init.csv"), *FAST]) == 0
    (state / "labels.csv").write_text("id,label,query\n")
    _damage_labels(state)
    capsys.readouterr()
    assert _status(state)["n_labels"] == 0
    err = _no_traceback(capsys, "MISSING: 8 of the 8 --initial-labels")
    assert "none lost" not in err


def test_corrupt_labels_without_journal_names_the_file(taught, capsys, truth):
    labels = taught / "labels.npz"
    (taught / "labels.csv").unlink()
    _flip_byte_in(labels, np.load(labels)["codes"].tobytes())
    capsys.readouterr()
    before = snapshot(taught)
    for argv in (["status", "--state", str(taught)],
                 ["query", "--state", str(taught), "--force"]):
        assert main(argv) == 2
        _no_traceback(capsys, str(labels), "Bad CRC-32", "Nothing was changed",
                      "Readable: ids")
    assert snapshot(taught) == before


def test_truncated_model_is_refit_and_said_so(taught, capsys):
    model = taught / "model.pt"
    model.write_bytes(model.read_bytes()[:100])
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "3"]) == 0
    _no_traceback(capsys, "model.pt is unreadable", "only a cache",
                  "refitting the model from the 10 labels")
    assert model.stat().st_size > 1000
    assert json.loads((taught / "model.json").read_text())["n_labels"] == 10


def test_corrupt_model_json_is_a_cache_too(taught, capsys):
    (taught / "model.json").write_text("{not json")
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "3"]) == 0
    err = _no_traceback(capsys, "model.json is corrupt", "only a cache")
    assert "backup" not in err


# --- 3. file-system faults ----------------------------------------------------

def test_out_and_state_naming_a_file(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    assert main(["run", *TINY, "--out", str(a_file)]) == 2
    _no_traceback(capsys, f"--out {a_file} is a file")
    assert main(["init", "--state", str(a_file)]) == 2
    _no_traceback(capsys, f"--state {a_file} is a file")
    assert main(["status", "--state", str(a_file)]) == 2
    _no_traceback(capsys, "is a file")
    assert a_file.read_text() == "keep me"


@pytest.fixture
def failing_writes(monkeypatch):
    """Every atomic write fails as on a read-only disk (works as root too)."""

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_unwritable_out_exits_2(tmp_path, capsys, failing_writes):
    assert main(["run", *TINY, "--out", str(tmp_path / "res")]) == 2
    _no_traceback(capsys, "permission denied", str(tmp_path / "res"))


def test_unwritable_state_exits_2_and_leaves_nothing(tmp_path, capsys,
                                                      failing_writes):
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "5"]) == 2
    _no_traceback(capsys, "permission denied")
    assert not state.exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders; see the simulated "
                    "test below")
def test_read_only_folder_exits_2(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["run", *TINY, "--out", str(folder / "res")]) == 2
        _no_traceback(capsys, "not writable")
        assert main(["init", "--state", str(folder / "s")]) == 2
        _no_traceback(capsys, "not writable")
    finally:
        folder.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("fault", ["permissions", "read-only mount"])
def test_read_only_folder_simulated_exits_2(tmp_path, capsys, monkeypatch, fault):
    """The read-only folder, as root too: "permissions" makes the folder refuse
    os.access as a chmod 0500 folder does; "read-only mount" passes that check
    and fails every write under it with EROFS, as a read-only mount does."""
    folder = tmp_path / "ro"
    folder.mkdir()

    def inside(path):
        return Path(os.path.abspath(path)).is_relative_to(folder)

    def erofs(path):
        return OSError(errno.EROFS, "Read-only file system", str(path))

    if fault == "permissions":
        real_access = os.access

        def access(path, mode, **kwargs):
            if mode & os.W_OK and inside(path):
                return False
            return real_access(path, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)
        expected = "not writable"
    else:
        real_mkdir, real_mkstemp = os.mkdir, tempfile.mkstemp

        def mkdir(path, *args, **kwargs):
            if inside(path):
                raise erofs(path)
            return real_mkdir(path, *args, **kwargs)

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and inside(dir):
                raise erofs(dir)
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        expected = "read-only file system (writing"
    assert main(["run", *TINY, "--out", str(folder / "res")]) == 2
    _no_traceback(capsys, expected, str(folder))
    assert main(["init", "--state", str(folder / "s")]) == 2
    _no_traceback(capsys, expected, str(folder))
    assert not any(folder.iterdir())


def test_full_disk_at_the_plot_prints_the_table_first(tmp_path, capsys,
                                                       monkeypatch):
    import skmixal.plotting

    def disk_full(curves, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(skmixal.plotting, "plot_learning_curves", disk_full)
    out = tmp_path / "res"
    assert main(["run", *TINY, "--out", str(out), "--target", "0.5"]) == 2
    captured = capsys.readouterr()
    assert "to reach 0.5" in captured.out and "random+mixup" in captured.out
    assert "disk is full" in captured.err and "Traceback" not in captured.err
    assert len(list(out.glob("runs/*/seed_0/round_*.json"))) == 4 * 3


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_fails_fast_naming_it(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    tic = time.monotonic()
    assert main(["run", *TINY, "--out", str(tmp_path / "o"), "--scheduler",
                 address]) == 2
    assert time.monotonic() - tic < 20
    _no_traceback(capsys, f"Cannot reach the Dask scheduler at {address}")
    # found before the lock and experiment.json are written
    assert not (tmp_path / "o").exists()
    assert main(["run", *TINY, "--out", str(tmp_path / "o"), "--scheduler",
                 "nonsense"]) == 2
    _no_traceback(capsys, "--scheduler must be 'local' or an address")
    assert not (tmp_path / "o").exists()


def test_second_run_on_the_same_out_is_refused(tmp_path, capsys):
    import fcntl

    out = tmp_path / "res"
    out.mkdir()
    with open(out / ".run.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert main(["run", *TINY, "--out", str(out)]) == 2
    _no_traceback(capsys, "Another skmixal run is writing to")


# --- 4. query --force keeps hand-entered labels -------------------------------

def test_query_force_keeps_hand_entered_labels(taught, truth, capsys):
    assert main(["query", "--state", str(taught), "--n", "6"]) == 0
    pending = taught / "query_0001.csv"
    fill(pending, truth, only=3)
    typed = pending.read_bytes()
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "6", "--force"]) == 0
    _no_traceback(capsys, "had 3 label(s) typed in", "query_0001-1.csv")
    assert (taught / "query_0001-1.csv").read_bytes() == typed
    with open(pending, newline="") as fh:
        assert not any(row["label"] for row in csv.DictReader(fh))
    # an untouched pending query is simply replaced, with nothing to keep
    assert main(["query", "--state", str(taught), "--n", "6", "--force"]) == 0
    assert not (taught / "query_0001-2.csv").exists()


def test_query_force_whose_refit_fails_keeps_the_pending_query(taught, truth,
                                                              capsys, monkeypatch):
    from skmixal.classifier import MixupNetClassifier

    assert main(["query", "--state", str(taught), "--n", "6"]) == 0
    fill(taught / "query_0001.csv", truth, only=3)
    (taught / "model.pt").unlink()  # the query --force must refit first
    before = snapshot(taught)

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MixupNetClassifier, "fit", interrupted)
    assert main(["query", "--state", str(taught), "--n", "6", "--force"]) == 130
    # the typed file is where state.json says the pending query is, and
    # nothing was copied aside for a replacement that never came
    assert snapshot(taught) == before


def test_unreadable_query_is_not_replaced(taught, truth, capsys, monkeypatch):
    assert main(["query", "--state", str(taught), "--n", "6"]) == 0
    pending = fill(taught / "query_0001.csv", truth, only=2)
    before = snapshot(taught)
    real_open = open

    def refuse(path, *args, **kwargs):
        if Path(path) == pending:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(labeling, "open", refuse, raising=False)
    assert main(["query", "--state", str(taught), "--n", "6", "--force"]) == 2
    _no_traceback(capsys, "Cannot check", "for typed labels",
                  f"permission denied (reading {pending})", "Nothing was changed")
    assert snapshot(taught) == before


# --- reading is not writing ----------------------------------------------------

@pytest.mark.parametrize("name", ["state.json", "labels.npz"])
def test_an_unreadable_state_file_is_a_read_error(taught, capsys, monkeypatch,
                                                  name):
    import pathlib

    import skmixal._io

    target = taught / name
    refused = PermissionError(errno.EACCES, "Permission denied", str(target))
    real_read_text, real_open = pathlib.Path.read_text, open

    def read_text(self, *args, **kwargs):
        if self == target:
            raise refused
        return real_read_text(self, *args, **kwargs)

    def io_open(path, *args, **kwargs):
        if Path(path) == target:
            raise refused
        return real_open(path, *args, **kwargs)

    # as root, a chmod 000 file stays readable: the refusal is simulated
    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    monkeypatch.setattr(skmixal._io, "open", io_open, raising=False)
    before = snapshot(taught)
    assert main(["status", "--state", str(taught), "--cv", "0"]) == 2
    err = _no_traceback(capsys, f"Cannot read {name}",
                        f"permission denied (reading {target})")
    assert "writing" not in err
    assert snapshot(taught) == before  # not taken for corrupt, not rebuilt


# --- thumbnails that cannot be written -------------------------------------------

def test_a_failing_thumbnail_write_leaves_a_recorded_query(taught, truth, capsys,
                                                           monkeypatch):
    import skmixal.plotting

    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    png = taught / "query_0001.png"
    assert png.exists()

    def disk_full(images, captions, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(skmixal.plotting, "image_grid", disk_full)
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "4", "--force"]) == 2
    _no_traceback(capsys, "query_0001.csv is written and recorded",
                  "`skmixal teach` takes it", "query_0001.png could not be written",
                  "the disk is full")
    # the old thumbnails showed the replaced samples: gone, not misleading
    assert not png.exists()
    recorded = json.loads((taught / "state.json").read_text())["queries"][-1]
    assert recorded == {"file": "query_0001.csv",
                        "ids": ids_of(taught / "query_0001.csv")}
    assert len(recorded["ids"]) == 4
    query = fill(taught / "query_0001.csv", truth)
    assert main(["teach", "--state", str(taught), str(query)]) == 0


# --- 5. threads ---------------------------------------------------------------

def test_labeling_commands_fit_with_one_thread_by_default(taught, truth,
                                                           monkeypatch):
    from skmixal.classifier import MixupNetClassifier

    seen, real_fit = [], MixupNetClassifier.fit

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["query", "--state", str(taught), "--n", "5"]) == 0
        assert main(["teach", "--state", str(taught),
                     str(fill(taught / "query_0001.csv", truth)),
                     "--torch-threads", "2"]) == 0
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert seen[0] == 1 and seen[-1] == 2


# --- 6. only validation errors are exit 2 --------------------------------------

def test_a_bug_inside_training_keeps_its_traceback(tmp_path, monkeypatch):
    import skmixal.experiment

    def bug(*args, **kwargs):
        raise ValueError("a bug, not a user error")

    monkeypatch.setattr(skmixal.experiment, "_run_rounds", bug)
    with pytest.raises(ValueError, match="a bug, not a user error"):
        main(["run", *TINY, "--out", str(tmp_path / "o")])


def _diverging(monkeypatch):
    # what a too-large rate does: the loss turns NaN with the weights, here
    # after the settings check's fit, in the first real one
    from skmixal import MixupNetClassifier

    original = MixupNetClassifier.train_step_single
    calls = []

    def diverged(self, batch, **fit_params):
        step = original(self, batch, **fit_params)
        calls.append(1)
        if len(calls) < 5:
            return step
        with torch.no_grad():
            next(self.module_.parameters()).fill_(float("nan"))
        return dict(step, loss=torch.tensor(float("nan")))

    monkeypatch.setattr(MixupNetClassifier, "train_step_single", diverged)


def test_a_diverged_run_is_a_user_error_naming_the_rate(tmp_path, monkeypatch,
                                                        capsys):
    _diverging(monkeypatch)
    assert main(["run", *TINY, "--out", str(tmp_path / "o")]) == 2
    _no_traceback(capsys, "Training diverged: the loss became nan", "--lr")


@pytest.mark.parametrize("folder", ["new", "existing"])
def test_a_diverged_init_keeps_nothing_so_it_can_be_retyped(tmp_path, monkeypatch,
                                                             capsys, truth, folder):
    state = tmp_path / "state"
    if folder == "existing":
        state.mkdir()
        (state / "notes.txt").write_text("mine")
    labels = fill(tmp_path / "init.csv", truth, rows=[(i, truth[i]) for i in range(20)])
    argv = ["init", "--state", str(state), "--initial-labels", str(labels), *FAST]
    _diverging(monkeypatch)
    assert main(argv) == 2
    _no_traceback(capsys, "Training diverged", "Nothing was kept in --state; rerun "
                  "init with a smaller --lr.")
    kept = sorted(p.name for p in state.iterdir()) if state.exists() else None
    assert kept == (None if folder == "new" else ["notes.txt"])
    monkeypatch.undo()
    assert main([*argv, "--lr", "0.0005"]) == 0


def test_a_diverged_labeling_fit_is_a_user_error_and_keeps_the_labels(
        tmp_path, monkeypatch, capsys, truth):
    # data of its own: init's default (digits) would be the wrong data
    data = digits_npz(tmp_path / "mine.npz")
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data), "--initial",
                 "10", *FAST]) == 0
    _diverging(monkeypatch)
    answers = fill(state / "query_0000.csv", np.load(data)["y"])
    assert main(["teach", "--state", str(state), str(answers)]) == 2
    err = _no_traceback(capsys, "Training diverged: the loss became nan",
                        "The labels are saved", "smaller --lr: skmixal init --state "
                        "NEW_STATE --data ")
    monkeypatch.undo()
    assert main(["status", "--state", str(state)]) == 0
    assert "10 labels" in capsys.readouterr().out
    # the hint works as printed: a new state from those labels and that data,
    # with another rate
    fresh = tmp_path / "fresh"
    command = err.split("smaller --lr: ")[1].strip().replace("NEW_STATE", str(fresh))
    argv = shlex.split(command.replace("--lr ...", "--lr 0.0005"))
    assert argv[:2] == ["skmixal", "init"]
    assert main([*argv[1:], *FAST]) == 0
    assert main(["status", "--state", str(fresh)]) == 0
    assert "10 labels" in capsys.readouterr().out
    meta = [json.loads((s / "state.json").read_text())["data"] for s in (state, fresh)]
    assert meta[0]["fingerprint"] == meta[1]["fingerprint"]


def test_labels_of_a_state_on_other_data_are_refused(tmp_path, capsys):
    # the ids of a state's labels.csv are its data's rows: with init's default
    # data (digits, the same classes) they would label other images, silently
    data = digits_npz(tmp_path / "mine.npz")
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data), "--initial",
                 "10", *FAST]) == 0
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", np.load(data)["y"]))]) == 0
    capsys.readouterr()
    for flag in ("--initial-labels", "--test-labels"):
        fresh = tmp_path / f"fresh{flag}"
        assert main(["init", "--state", str(fresh), flag, str(state / "labels.csv"),
                     *FAST]) == 2
        _no_traceback(capsys, f"{flag} {state / 'labels.csv'} belongs to the state "
                      f"{state}, whose data is 'mine' with shape [300, 1, 8, 8], "
                      "not the data given ('digits' with shape [1797, 64]): its ids "
                      "would label other samples. Pass that state's data: --data "
                      f"{state / '..' / 'mine.npz'}.")
        assert not fresh.exists()
    # with its data, the same labels start a new state
    assert main(["init", "--state", str(tmp_path / "again"), "--data", str(data),
                 "--initial-labels", str(state / "labels.csv"), *FAST]) == 0
    # a CSV outside a state folder is taken as given
    loose = tmp_path / "loose.csv"
    loose.write_text((state / "labels.csv").read_text())
    assert main(["init", "--state", str(tmp_path / "loose"), "--initial-labels",
                 str(loose), *FAST]) == 0


# --- should-fix items ----------------------------------------------------------

def test_label_names_in_query_thumbnails_and_teach(tmp_path, capsys):
    names = np.array(["zero", "one", "two", "three", "four", "five", "six",
                      "seven", "eight", "nine"])
    data = digits_npz(tmp_path / "named.npz", label_names=names)
    truth = np.load(data)["y"]
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "6", *FAST]) == 0
    query = state / "query_0000.csv"
    assert "0 (zero), 1 (one)" in query.read_text()
    plain = tmp_path / "plain"  # digits' names are its codes: plain id,label
    assert main(["init", "--state", str(plain), "--initial", "3"]) == 0
    assert (plain / "query_0000.csv").read_text().splitlines()[0] == "id,label"
    ids = ids_of(query)
    with open(query, "w", newline="") as fh:  # names, codes, any case
        writer = csv.writer(fh)
        writer.writerow(["id", "label"])
        for k, i in enumerate(ids):
            writer.writerow([i, names[truth[i]].upper() if k % 2 else truth[i]])
    assert main(["teach", "--state", str(state), str(query)]) == 0
    saved = np.load(state / "labels.npz")
    np.testing.assert_array_equal(saved["codes"], truth[saved["ids"]])
    capsys.readouterr()
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert "zero" in capsys.readouterr().out


def test_unknown_label_lists_names(tmp_path, capsys):
    names = np.array([f"c{k}" for k in range(10)])
    data = digits_npz(tmp_path / "named.npz", label_names=names)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "3", *FAST]) == 0
    query = state / "query_0000.csv"
    ids = ids_of(query)
    query.write_text("id,label\n" + "".join(f"{i},cat\n" for i in ids))
    assert main(["teach", "--state", str(state), str(query)]) == 2
    _no_traceback(capsys, "unknown class 'cat'", "0 (c0)")


def test_state_and_data_move_together_or_data_is_pointed_at(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    data = digits_npz(project / "d.npz")
    state = project / "state"
    assert main(["init", "--state", str(state), "--data", f"npz:{data}",
                 "--initial", "4", *FAST]) == 0
    assert json.loads((state / "state.json").read_text())["data"]["spec"] == \
        "npz:../d.npz"
    moved = tmp_path / "moved"
    project.rename(moved)
    assert main(["query", "--state", str(moved / "state"), "--n", "3",
                 "--force"]) == 0
    # the data alone moves: --data points at it, once
    (moved / "d.npz").rename(tmp_path / "elsewhere.npz")
    again = ["query", "--state", str(moved / "state"), "--n", "3", "--force"]
    capsys.readouterr()
    assert main(again) == 2
    _no_traceback(capsys, "Cannot load dataset")
    assert main([*again, "--data", f"npz:{tmp_path / 'elsewhere.npz'}"]) == 0
    assert "now points at" in capsys.readouterr().err
    assert main(again) == 0


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        state = tmp_path / "state"
        assert main(["init", "--state", str(state), "--initial", "4"]) == 0
    finally:
        os.umask(old)
    for name in ("state.json", "query_0000.csv", "query_0000.png"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o644, name


def test_a_rewritten_file_keeps_its_mode(taught):
    # a user who made the state and the predictions private keeps them so: a
    # rewrite (a new file moved into place) takes the old file's mode
    state = taught
    assert main(["predict", "--state", str(state)]) == 0
    os.chmod(state / "state.json", 0o600)
    os.chmod(state / "predictions.csv", 0o640)
    before = (state / "state.json").read_text()
    assert main(["query", "--state", str(state), "--n", "3"]) == 0
    assert main(["predict", "--state", str(state)]) == 0
    assert (state / "state.json").read_text() != before  # it was rewritten
    assert stat.S_IMODE((state / "state.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "predictions.csv").stat().st_mode) == 0o640


def test_an_atomic_write_keeps_permission_bits_and_group_only(tmp_path):
    from skmixal._io import atomic_write_text

    path = tmp_path / "f.csv"
    path.write_text("old")
    # another group than the file's own (root may give any; others only theirs)
    groups = [g for g in os.getgroups() if g != path.stat().st_gid]
    if os.geteuid() == 0:
        groups.append(path.stat().st_gid + 1)
    os.chmod(path, 0o4750)  # setuid is not a state file's to keep
    if groups:
        os.chown(path, -1, groups[0])
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    if groups:
        assert path.stat().st_gid == groups[0]


def test_teach_says_what_it_does_and_hints_are_shell_quoted(tmp_path, truth,
                                                              capsys):
    state = tmp_path / "my state"
    assert main(["init", "--state", str(state), "--initial", "5", *FAST]) == 0
    out = capsys.readouterr().out
    assert f"skmixal teach --state '{state}' '{state / 'query_0000.csv'}'" in out
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", truth))]) == 0
    _no_traceback(capsys, "Refitting the model: 5 labels")


def test_ctrl_c_in_teach_says_labels_are_saved_and_what_refits(taught, truth,
                                                                capsys,
                                                                monkeypatch):
    from skmixal.classifier import MixupNetClassifier

    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    model = (taught / "model.json").read_bytes()
    real_fit = MixupNetClassifier.fit

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MixupNetClassifier, "fit", interrupted)
    capsys.readouterr()
    assert main(["teach", "--state", str(taught),
                 str(fill(taught / "query_0001.csv", truth))]) == 130
    err = capsys.readouterr().err
    assert "labels are saved (15 in total)" in err and "rerun" not in err
    assert "the next `skmixal query` or `skmixal predict` refits the model" in err
    assert "`skmixal status` on a state with --test-labels" in err
    monkeypatch.setattr(MixupNetClassifier, "fit", real_fit)
    # what the message says: status without test labels does not refit ...
    assert main(["status", "--state", str(taught), "--cv", "0"]) == 0
    assert (taught / "model.json").read_bytes() == model
    # ... and the next query does
    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    assert json.loads((taught / "model.json").read_text())["n_labels"] == 15


def test_version_and_strategy_names_in_help(capsys):
    from skmixal import __version__

    with pytest.raises(SystemExit, match="^0$") as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skmixal {__version__}"
    help_text = build_parser()._subparsers._group_actions[0].choices["run"] \
        .format_help()
    for name in ("badge", "typiclust", "margin", "bald"):
        assert name in help_text


def test_run_mixup_alpha_auto_on_vectors_says_so(tmp_path, capsys):
    argv = [a for a in TINY if a not in ("--quiet", "--mixup-alpha", "0.4")]
    assert main(["run", *argv, "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "no +mixup arms" in captured.err
    assert "random+mixup" not in captured.out and "entropy" in captured.out


def test_run_with_a_module_that_does_not_fit_the_data(tmp_path, capsys):
    # a CNN on digits as vectors: torch's RuntimeError at the check fit
    assert main(["run", *TINY, "--module", "skmixal.modules.SmallCNN", "--out",
                 str(tmp_path / "o")]) == 2
    _no_traceback(capsys, "Invalid setting")
    assert not (tmp_path / "o" / "runs").exists()


def test_scheduler_without_dask_gives_an_install_hint(tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    assert main(["run", *TINY, "--out", str(tmp_path / "o"), "--scheduler",
                 "local"]) == 2
    _no_traceback(capsys, "pip install 'dask[distributed]'")


def test_other_experiment_in_out_names_the_restart_flag(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["run", *TINY, "--out", out]) == 0
    assert main(["run", *TINY, "--query-size", "5", "--out", out]) == 2
    _no_traceback(capsys, "(differs in: query_size)", "pass --restart")


# --- issue 16: a careless user, again ------------------------------------------

def test_query_force_keeps_labels_typed_under_a_capitalised_header(taught, truth,
                                                                   capsys):
    # a spreadsheet saved the header as ID,Label: teach reads it, so the labels
    # typed under it must survive a replacement as surely as under id,label
    assert main(["query", "--state", str(taught), "--n", "5"]) == 0
    pending = taught / "query_0001.csv"
    fill(pending, truth, rows=[(i, truth[i]) for i in ids_of(pending)],
         header=("ID", "Label"))
    typed = pending.read_bytes()
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "5", "--force"]) == 0
    _no_traceback(capsys, "had 5 label(s) typed in", "query_0001-1.csv")
    assert (taught / "query_0001-1.csv").read_bytes() == typed


OUT_OF_RANGE = [
    # the stuck campaign of the issue: exit 0, then a raw TypeError at each fit
    (["init", "--state", "s", "--min-steps", "100000000000000000000"],
     "--min-steps", "between 0 and 10,000,000"),
    (["init", "--state", "s", "--min-steps", str(2**63)], "--min-steps",
     "between 0 and 10,000,000"),
    (["init", "--state", "s", "--max-epochs", "1000000"], "--max-epochs",
     "between 0 and 10,000"),
    (["init", "--state", "s", "--batch-size", "10000000"], "--batch-size",
     "between 1 and 100,000"),
    (["init", "--state", "s", "--lr", "inf"], "--lr", "above 0 and at most 10"),
    (["init", "--state", "s", "--lr", "nan"], "--lr", "above 0 and at most 10"),
    (["init", "--state", "s", "--lr", "0"], "--lr", "above 0 and at most 10"),
    (["init", "--state", "s", "--mixup-alpha", "inf"], "--mixup-alpha",
     "from 0 to 100"),
    (["init", "--state", "s", "--n-augmentations", "0"], "--n-augmentations",
     "between 1 and 64"),
    (["run", "--unlabeled-rampup", "1.5"], "--unlabeled-rampup",
     "at least 0 and at most 1"),
    (["run", "--unlabeled-rampup", "nan"], "--unlabeled-rampup",
     "at least 0 and at most 1"),
    (["init", "--state", "s", "--initial", "10000000"], "--initial",
     "between 0 and 1,000,000"),
    (["init", "--state", "s", "--torch-threads", "100000"], "--torch-threads",
     "between 1 and 1,024"),
    (["run", "--budget", "1" + "0" * 20], "--budget", "between 1 and 1,000,000"),
    (["run", "--query-size", "0"], "--query-size", "between 1 and 1,000,000"),
    (["run", "--initial", "2000000"], "--initial", "between 1 and 1,000,000"),
    (["run", "--seeds", "1000000000"], "--seeds", "<= 1,000"),
    (["run", "--n-jobs", "100000"], "--n-jobs", "-1 (all cores) or an integer"),
    (["run", "--min-steps", "-1"], "--min-steps", "between 0 and 10,000,000"),
    (["query", "--state", "s", "--n", "1" + "0" * 20], "--n",
     "between 1 and 1,000,000"),
    (["status", "--state", "s", "--cv", "1"], "--cv",
     "0 (no cross-validation) or an integer between 2 and 100"),
]


@pytest.mark.parametrize("argv, flag, words", OUT_OF_RANGE, ids=[
    f"{argv[0]}{flag}={argv[-1][:12]}" for argv, flag, _ in OUT_OF_RANGE])
def test_numbers_out_of_range_are_refused_naming_flag_and_range(
        tmp_path, capsys, monkeypatch, argv, flag, words):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="^2$"):
        main(argv)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}: " in error and words in error, error
    assert len(error) < 200  # a pasted 2**63 is shown, not a wall of digits
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("params, message", [
    ({"min_steps": 10**20}, "--min-steps must be an integer between 0 and 10,000,000"),
    ({"max_epochs": 2**63}, "--max-epochs must be an integer between 0 and 10,000"),
])
def test_init_state_refuses_settings_out_of_range(tmp_path, params, message):
    with pytest.raises(UserError, match=message):
        labeling.init_state(tmp_path / "s", n_initial=5, estimator_params=params)
    assert not (tmp_path / "s").exists()


def test_a_state_holding_a_setting_out_of_range_says_so(taught, truth, capsys):
    # written before init checked the ranges: say what and where, no traceback
    meta = json.loads((taught / "state.json").read_text())
    meta["config"]["estimator_params"]["min_steps"] = 10**20
    (taught / "state.json").write_text(json.dumps(meta))
    (taught / "model.pt").unlink()
    before = snapshot(taught)
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "3"]) == 2
    _no_traceback(capsys, "state.json holds a model setting out of range",
                  "min_steps must be an integer between 0 and 10,000,000")
    assert snapshot(taught) == before


def test_init_refuses_a_first_query_larger_than_the_data(tmp_path, capsys):
    data = digits_npz(tmp_path / "d.npz", n=500)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "600"]) == 2
    _no_traceback(capsys, "--initial 600 asks for more samples than there are "
                  "to label: 500 in the data", "--initial 500 or fewer")
    assert not state.exists()
    # the test labels are never queried: they count against it too
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("id,label\n" + "".join(f"{i},{i % 10}\n" for i in range(5)))
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--test-labels", str(test_csv), "--initial", "500"]) == 2
    _no_traceback(capsys, "to label: 495 (500 in the data, 5 labeled or held out")
    assert not state.exists()


def test_init_without_a_first_query_says_what_comes_next(tmp_path, capsys):
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "0", *FAST]) == 0
    out = capsys.readouterr().out
    assert f"skmixal query --state {state} --n 20" in out
    # and that next step works: random samples, as there are no labels yet
    assert main(["query", "--state", str(state), "--n", "20"]) == 0
    assert len(ids_of(state / "query_0000.csv")) == 20


def test_a_query_larger_than_the_pool_takes_the_rest_and_says_so(tmp_path, capsys):
    data = digits_npz(tmp_path / "d.npz", n=30)
    truth = np.load(data)["y"]
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "25", *FAST]) == 0
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", truth))]) == 0
    capsys.readouterr()
    assert main(["query", "--state", str(state), "--n", "20"]) == 0
    _no_traceback(capsys, "Only 5 samples are left unlabeled", "not --n 20")
    assert len(ids_of(state / "query_0001.csv")) == 5


def test_status_cv_is_checked_and_a_skip_is_called_one(taught, capsys):
    capsys.readouterr()
    assert main(["status", "--state", str(taught), "--cv", "0"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: not estimated (skipped by --cv 0" in out
    assert "at least 2 labels" not in out
    with pytest.raises(UserError, match="--cv must be 0 .* or an integer between "
                       "2 and 100 .*, got 1"):
        labeling.state_status(taught, cv=1)


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder read only as a read-only mount does (works as root too)."""
    folders = []

    def inside(path):
        return any(Path(os.path.abspath(path)).is_relative_to(f) for f in folders)

    real_access, real_mkstemp = os.access, tempfile.mkstemp

    def access(path, mode, **kwargs):
        if mode & os.W_OK and inside(path):
            return False
        return real_access(path, mode, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and inside(dir):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return folders.append


@pytest.fixture
def fits(monkeypatch):
    """The number of rows of every fit that trains (max_epochs > 0)."""
    from skmixal.classifier import MixupNetClassifier

    calls, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, *args, **kwargs):
        if self.max_epochs:
            calls.append(len(X))
        return real_fit(self, X, *args, **kwargs)

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    return calls


def test_query_on_a_read_only_state_fails_before_refitting(taught, capsys,
                                                           read_only, fits):
    (taught / "model.pt").unlink()  # the query would have to refit
    before = snapshot(taught)
    read_only(taught)
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "3"]) == 2
    _no_traceback(capsys, f"--state {taught} is not writable",
                  "Nothing was changed")
    assert fits == []  # no refit whose model could not be saved
    assert snapshot(taught) == before


def test_status_on_a_read_only_state_refits_without_saving(tmp_path, truth, capsys,
                                                           read_only):
    labels, test = tmp_path / "labels.csv", tmp_path / "test.csv"
    fill(labels, truth, rows=[(i, truth[i]) for i in range(20)])
    fill(test, truth, rows=[(i, truth[i]) for i in range(100, 150)])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial-labels", str(labels),
                 "--test-labels", str(test), *FAST]) == 0
    (state / "model.pt").unlink()
    before = snapshot(state)
    read_only(state)
    capsys.readouterr()
    assert main(["status", "--state", str(state)]) == 0
    captured = capsys.readouterr()
    assert "held-out accuracy" in captured.out
    assert "is not writable: the refitted model is not saved" in captured.err
    assert snapshot(state) == before


def test_a_model_pt_with_objects_is_refit_without_torchs_advice(taught, capsys):
    import fractions

    # a pickled object where the weights should be: torch's message tells the
    # user to load it with weights_only=False, i.e. to run what it holds
    torch.save({"weights": fractions.Fraction(1, 3)}, taught / "model.pt")
    capsys.readouterr()
    assert main(["query", "--state", str(taught), "--n", "3"]) == 0
    err = _no_traceback(capsys, "model.pt is unreadable", "not written by skmixal",
                        "refitting the model from the 10 labels")
    assert "weights_only" not in err and "trust" not in err
    # refit and replaced: the next command loads it quietly
    assert main(["query", "--state", str(taught), "--n", "3", "--force"]) == 0
    assert "unreadable" not in capsys.readouterr().err


def test_a_semi_supervised_state_without_a_pool_says_it_fits_supervised(
        tmp_path, capsys, monkeypatch):
    from skmixal.classifier import MixupNetClassifier

    unlabeled, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, y, X_unlabeled=None, **kwargs):
        unlabeled.append(X_unlabeled)
        return real_fit(self, X, y, X_unlabeled=X_unlabeled, **kwargs)

    data = digits_npz(tmp_path / "d.npz", n=20)
    truth = np.load(data)["y"]
    labels = fill(tmp_path / "all.csv", truth,
                  rows=[(i, truth[i]) for i in range(20)])
    state = tmp_path / "state"
    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial-labels", str(labels), "--semi-supervised", *FAST]) == 0
    _no_traceback(capsys, "no unlabeled pool is left",
                  "refits on the labels alone", "Refitting the model: 20 labels ...")
    assert unlabeled[-1] is None  # a supervised fit, as said


# --- found by a review on 2026-12-06 -------------------------------------------

def test_initial_strategy_random_runs_and_one_needing_a_model_is_refused(
        tmp_path, capsys):
    # every strategy but typiclust crashed with a NotFittedError traceback
    assert main(["run", *TINY, "--strategies", "random", "--initial-strategy",
                 "random", "--out", str(tmp_path / "ok")]) == 0
    out = tmp_path / "no"
    assert main(["run", *TINY, "--strategies", "random", "--initial-strategy",
                 "margin", "--out", str(out)]) == 2
    _no_traceback(capsys, "initial_strategy='margin' needs a fitted model",
                  "'typiclust'")
    assert not out.exists() or not any(out.iterdir())


def test_init_refuses_a_folder_holding_the_users_files(tmp_path, truth, capsys):
    folder = tmp_path / "campaign"
    folder.mkdir()
    mine = fill(folder / "labels.csv", truth, rows=[(i, truth[i]) for i in
                                                   range(1500, 1510)])
    before = snapshot(folder)
    assert main(["init", "--state", str(folder), "--test-labels", str(mine),
                 "--initial", "3", *FAST]) == 2
    _no_traceback(capsys, "already holds files of the names the labeling loop "
                  "writes (labels.csv)")
    assert snapshot(folder) == before
    # other files are the user's business: init leaves them and goes ahead
    mine.rename(folder / "my_test_labels.csv")
    (folder / ".gitkeep").write_text("")
    before = snapshot(folder)
    assert main(["init", "--state", str(folder), "--test-labels",
                 str(folder / "my_test_labels.csv"), "--initial", "3", *FAST]) == 0
    after = snapshot(folder)
    assert {name: after[name] for name in before} == before


@pytest.mark.parametrize("restart", [False, True])
def test_run_leaves_a_folder_it_did_not_write_alone(tmp_path, capsys, restart):
    # --restart deleted any runs/ folder; results.csv was overwritten
    out = tmp_path / "project"
    (out / "runs" / "tensorboard").mkdir(parents=True)
    (out / "runs" / "tensorboard" / "events.log").write_text("precious")
    (out / "results.csv").write_text("mine")
    argv = ["run", *TINY, "--strategies", "random", "--out", str(out)]
    assert main(argv + ["--restart"] * restart) == 2
    _no_traceback(capsys, "holds results.csv, runs but no experiment.json")
    assert (out / "runs" / "tensorboard" / "events.log").read_text() == "precious"
    assert (out / "results.csv").read_text() == "mine"
    # files of other names are left alone, and the run goes ahead
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["run", *TINY, "--strategies", "random", "--out", str(other)]
                + ["--restart"] * restart) == 0
    assert (other / "notes.txt").read_text() == "mine"


def test_run_without_mixing_has_no_mixup_arms(tmp_path, capsys):
    argv = [a for a in TINY if a not in ("0.4", "--quiet")]
    argv[argv.index("--mixup-alpha")] = "--mixup-alpha=0"
    assert main(["run", *argv, "--strategies", "margin", "--out",
                 str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "--mixup-alpha 0 is off, so there are no +mixup arms" in captured.err
    arms = json.loads((tmp_path / "o" / "results.json").read_text())["config"]["arms"]
    assert [arm["name"] for arm in arms] == ["random", "margin"]


def test_a_class_named_with_spaces_around_it_is_taught_by_its_trimmed_name(
        tmp_path, capsys):
    y = np.array(["cat", "dog ", "bird"] * 20)
    X = np.random.default_rng(0).random((60, 4))
    np.savez(tmp_path / "ws.npz", X=X, y=y)
    state = tmp_path / "s"
    assert main(["init", "--data", f"npz:{tmp_path / 'ws.npz'}", "--state",
                 str(state), "--initial", "6", *FAST]) == 0
    query = state / "query_0000.csv"
    rows = [(i, y[i].strip()) for i in ids_of(query)]  # typed without the space
    assert main(["teach", "--state", str(state), str(fill(query, y, rows=rows))]) == 0
    labels = np.load(state / "labels.npz")
    classes = np.asarray(json.loads((state / "state.json").read_text())["classes"])
    assert classes[labels["codes"]].tolist() == [y[i] for i in labels["ids"]]
    assert "dog " in classes.tolist()  # the class keeps its name
    # the journal, read back trimmed, rebuilds a damaged labels.npz
    (state / "labels.npz").write_bytes(b"broken")
    capsys.readouterr()
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    rebuilt = np.load(state / "labels.npz")
    assert rebuilt["codes"].tolist() == labels["codes"].tolist()
    # 'dog' and 'dog ' cannot be typed apart: refused at init
    np.savez(tmp_path / "clash.npz", X=X, y=np.array(["cat", "dog ", "dog"] * 20))
    assert main(["init", "--data", f"npz:{tmp_path / 'clash.npz'}", "--state",
                 str(tmp_path / "s2"), *FAST]) == 2
    _no_traceback(capsys, "The classes 'dog' and 'dog ' differ only by spaces")


def test_an_edit_of_labels_csv_is_refused_not_silently_reverted(taught, capsys):
    journal = taught / "labels.csv"
    lines = journal.read_text().splitlines()
    sample, label, query = lines[1].split(",")
    wrong = "7" if label != "7" else "3"
    lines[1] = f"{sample},{wrong},{query}"
    journal.write_text("\n".join(lines) + "\n")
    before = snapshot(taught)
    for command in (["status", "--cv", "0"], ["query", "--n", "5"]):
        assert main([command[0], "--state", str(taught), *command[1:]]) == 2
        _no_traceback(capsys, f"id {sample}: '{wrong}' in labels.csv, '{label}' "
                      "in labels.npz", "delete labels.csv")
        assert snapshot(taught) == before


def test_status_checks_and_remembers_data(taught, tmp_path, capsys):
    assert main(["status", "--state", str(taught), "--cv", "0", "--data",
                 str(tmp_path / "nowhere.npz")]) == 2
    _no_traceback(capsys, "nowhere.npz")


def test_a_pool_nobody_labeled_goes_through_the_labeling_loop(tmp_path, truth,
                                                              capsys):
    # an npz without y failed ("no array named 'y'"): the loop's own use case
    pool = tmp_path / "pool.npz"
    np.savez(pool, X=load_dataset("digits").X[:200].reshape(-1, 8, 8))
    state = tmp_path / "state"
    assert main(["init", "--data", f"npz:{pool}", "--state", str(state)]) == 2
    _no_traceback(capsys, "has no labels (no array 'y')", "--classes")
    assert not state.exists()
    assert main(["init", "--data", f"npz:{pool}", "--state", str(state),
                 "--classes", ",".join(map(str, range(10))), "--initial", "10",
                 *FAST]) == 0
    query = state / "query_0000.csv"
    assert main(["teach", "--state", str(state), str(fill(query, truth))]) == 0
    capsys.readouterr()
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert "10 labels" in capsys.readouterr().out
    assert main(["run", *TINY, "--data", f"npz:{pool}", "--out",
                 str(tmp_path / "o")]) == 2
    _no_traceback(capsys, "no labels (no array 'y')", "skmixal init --classes")


def test_integer_classes_typed_back_as_floats_are_read(tmp_path, truth):
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--initial", "5", *FAST]) == 0
    query = state / "query_0000.csv"
    rows = [(i, f"{truth[i]}.0") for i in ids_of(query)]  # as pandas writes them
    typed = fill(query, truth, rows=rows)
    assert main(["teach", "--state", str(state), str(typed)]) == 0
    labels = np.load(state / "labels.npz")
    assert labels["codes"].tolist() == truth[labels["ids"]].tolist()
    assert main(["query", "--state", str(state), "--n", "5"]) == 0
    query = state / "query_0001.csv"
    bad = fill(query, truth, rows=[(i, "3.5") for i in ids_of(query)])
    assert main(["teach", "--state", str(state), str(bad)]) == 2  # not a class


def test_a_typed_label_reads_as_the_class_it_names_first():
    parse = labeling._parse_class
    numbers = np.array([0, 1, 2])
    assert parse("2.0", numbers) == 2 and parse("2.00", numbers) == 2
    assert parse("2.5", numbers) is None and parse("1_0", np.arange(12)) is None
    # names come before the reading of 1.0 as the class 1
    assert parse("1.0", numbers, ["1.0", "2.0", "3.0"]) == 0
    # classes given as text with --classes 0,1,2
    assert parse("3.0", np.array(["1", "2", "3"])) == 2


def test_predict_on_a_read_only_state_writes_elsewhere_only_when_told(
        taught, tmp_path, capsys, read_only, fits):
    (taught / "model.pt").unlink()
    before = snapshot(taught)
    read_only(taught)
    capsys.readouterr()
    assert main(["predict", "--state", str(taught)]) == 2
    _no_traceback(capsys, f"--state {taught} is not writable, and `skmixal "
                  "predict` writes predictions.csv there; pass --out")
    assert fits == []  # refused before a refit
    out = tmp_path / "elsewhere.csv"
    assert main(["predict", "--state", str(taught), "--out", str(out)]) == 0
    assert "the refitted model is not saved" in capsys.readouterr().err
    assert out.read_text().startswith("id,prediction,")
    assert snapshot(taught) == before
