"""`skmixal predict`: the model's label for every sample of a labeling state."""

import csv

import numpy as np
import pytest
from labeling_support import FAST, digits_npz, fill, snapshot

from skmixal import labeling
from skmixal.cli import main
from skmixal.datasets import load_dataset


@pytest.fixture(scope="module")
def truth():
    return load_dataset("digits").y


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def state(tmp_path, truth):
    """300 digits: ids 0-39 given at init (2 skipped), 250-299 held out."""
    data = digits_npz(tmp_path / "d.npz", n=300)
    rows = [(i, "skip" if i in (3, 7) else truth[i]) for i in range(40)]
    initial = fill(tmp_path / "init.csv", truth, rows=rows)
    test = fill(tmp_path / "test.csv", truth,
                rows=[(i, truth[i]) for i in range(250, 300)])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial-labels", str(initial), "--test-labels", str(test),
                 "--min-steps", "300"]) == 0
    return state


def test_every_sample_gets_a_prediction_beside_the_label_given(state, truth,
                                                              capsys):
    capsys.readouterr()
    assert main(["predict", "--state", str(state), "--proba"]) == 0
    out, err = capsys.readouterr()
    assert out == f"Wrote {state / 'predictions.csv'}.\n"
    # 300 less 38 taught, 2 skipped and 50 held out
    assert "Predicted 300 samples: 210 never labeled; their mean confidence" in err
    rows = _rows(state / "predictions.csv")
    assert list(rows[0]) == ["id", "prediction", "confidence", "label", "given",
                             *(f"p_{c}" for c in range(10))]
    assert [int(r["id"]) for r in rows] == list(range(300))
    expected = {i: (str(truth[i]), "taught") for i in range(40)}
    expected.update({i: (str(truth[i]), "held out") for i in range(250, 300)})
    expected.update({3: ("skip", "skipped"), 7: ("skip", "skipped")})
    assert {int(r["id"]): (r["label"], r["given"]) for r in rows} == {
        i: expected.get(i, ("", "")) for i in range(300)}
    proba = np.array([[float(r[f"p_{c}"]) for c in range(10)] for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=6e-4)  # 10 roundings
    # the predicted class's column is the largest, and is the confidence
    top = proba.max(axis=1).tolist()
    assert [float(r[f"p_{r['prediction']}"]) for r in rows] == top
    assert [float(r["confidence"]) for r in rows] == top
    # the held-out rows as status scores them (its own predict on test.npz)
    held = [r for r in rows if 250 <= int(r["id"])]
    hits = np.mean([r["prediction"] == r["label"] for r in held])
    assert main(["status", "--state", str(state)]) == 0
    assert f"held-out accuracy: {hits:.3f}" in capsys.readouterr().out
    # and it is a model of the labels: far above chance on the never labeled
    never = [r for r in rows if not r["label"]]
    assert np.mean([int(r["prediction"]) == truth[int(r["id"])]
                    for r in never]) > 0.8


def test_class_names_get_their_own_column(tmp_path):
    X = load_dataset("digits").X[:40].reshape(-1, 8, 8)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % 2,
             label_names=np.asarray(["even", "odd"]))
    initial = fill(tmp_path / "init.csv", None,
                   rows=[(i, ["even", "odd"][i % 2]) for i in range(10)])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(tmp_path / "d.npz"),
                 "--initial-labels", str(initial), *FAST]) == 0
    path = labeling.predict_state(state, tmp_path / "p.csv")
    assert path == tmp_path / "p.csv"
    rows = _rows(path)
    assert list(rows[0]) == ["id", "prediction", "name", "confidence", "label",
                             "given"]
    assert {(r["prediction"], r["name"]) for r in rows} <= {("0", "even"),
                                                             ("1", "odd")}
    # a label given by name is shown as the class, as labels.csv shows it
    assert [r["label"] for r in rows[:3]] == ["0", "1", "0"]


@pytest.mark.parametrize("name, message", [
    ("labels.csv", "is one of a labeling state's own files"),
    ("query_0001.csv", "is one of a labeling state's own files"),
    ("mine.csv", r"exists and is not a predictions file \(its header has no id "
                 r"and prediction columns\)"),
    ("latin1.csv", "exists and is not a predictions file"),
    ("out.txt", "must name a .csv file"),
    ("missing/p.csv", "the folder .*missing does not exist"),
    ("sub.csv", "is a directory; name a .csv file in it"),
])
def test_nothing_of_the_users_is_overwritten(state, name, message):
    (state / "mine.csv").write_text("id,label\n1,2\n")
    (state / "latin1.csv").write_bytes(b"id,label\n1,caf\xe9\n")  # not UTF-8
    (state / "query_0001.csv").write_text("id,label\n1,\n")
    (state / "sub.csv").mkdir()
    before = snapshot(state)
    with pytest.raises(labeling.UserError, match=f"--out .*{name}.* {message}"):
        labeling.predict_state(state, state / name)
    assert snapshot(state) == before


def test_another_states_files_are_refused_too(state, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "state.json").write_text("{}")
    with pytest.raises(labeling.UserError, match="query_0003.csv is one of a "
                       "labeling state's own files"):
        labeling.predict_state(state, other / "query_0003.csv")
    assert not (other / "query_0003.csv").exists()


def test_a_spreadsheets_copy_of_the_predictions_is_replaced(state, tmp_path):
    # Excel's "CSV UTF-8" starts with a byte-order mark
    labeling.predict_state(state)
    path = state / "predictions.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    labeling.predict_state(state)
    assert path.read_bytes().startswith(b"id,prediction,")
    # a link to a predictions file: the file is written, the link kept
    link = tmp_path / "link.csv"
    link.symlink_to(path)
    path.write_text("id,prediction\n")
    labeling.predict_state(state, link)
    assert link.is_symlink() and len(_rows(path)) == 300
    # a link to a file of the user's: refused naming the link as typed
    mine = tmp_path / "mine.csv"
    mine.write_text("my,notes\n")
    link.unlink()
    link.symlink_to(mine)
    with pytest.raises(labeling.UserError, match=f"--out {link} exists and is not"):
        labeling.predict_state(state, link)
    assert mine.read_text() == "my,notes\n"


def test_the_default_file_of_the_user_is_not_overwritten(state):
    (state / "predictions.csv").write_text("my,notes\n")
    with pytest.raises(labeling.UserError, match=r"predictions.csv exists and is "
                       "not a predictions file .* move it, or pass --out"):
        labeling.predict_state(state)
    assert (state / "predictions.csv").read_text() == "my,notes\n"


def test_classes_in_the_order_typed_at_init_are_predicted_as_themselves(
        tmp_path, capsys):
    # classes listed out of sorted order: the model's probability columns
    # follow its sorted classes_, the CSV the state's order (a bug before)
    digits = load_dataset("digits")
    keep = np.flatnonzero(digits.y < 3)[:150]
    animal = np.asarray(["bird", "cat", "dog"])[digits.y[keep]]
    np.savez(tmp_path / "a.npz", X=digits.X[keep].reshape(-1, 8, 8), y=animal)
    initial = fill(tmp_path / "init.csv", None,
                   rows=[(i, animal[i]) for i in range(30)])
    test = fill(tmp_path / "test.csv", None,
                rows=[(i, animal[i]) for i in range(100, 150)])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(tmp_path / "a.npz"),
                 "--classes", "dog,cat,bird", "--initial-labels", str(initial),
                 "--test-labels", str(test), "--min-steps", "200"]) == 0
    assert main(["predict", "--state", str(state), "--proba"]) == 0
    rows = _rows(state / "predictions.csv")
    assert list(rows[0])[-3:] == ["p_dog", "p_cat", "p_bird"]
    held = [r for r in rows if r["given"] == "held out"]
    hits = np.mean([r["prediction"] == r["label"] for r in held])
    capsys.readouterr()
    assert main(["status", "--state", str(state)]) == 0
    assert f"held-out accuracy: {hits:.3f}" in capsys.readouterr().out
    assert hits > 0.8
    # each probability column is its class's: the prediction is the largest
    for r in rows:
        best = max(("dog", "cat", "bird"), key=lambda c: float(r[f"p_{c}"]))
        assert r["prediction"] == best


def test_a_predictions_file_is_replaced_by_the_next(state, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["predict", "--state", str(state), "--out", str(out),
                 "--proba"]) == 0
    assert "p_0" in _rows(out)[0]
    assert main(["predict", "--state", str(state), "--out", str(out)]) == 0
    assert "p_0" not in _rows(out)[0] and len(_rows(out)) == 300
    # the default output, in the state folder, is replaced the same way; a
    # spreadsheet's copy of it (its header's case changed) is still its own
    default = state / "predictions.csv"
    assert main(["predict", "--state", str(state), "--proba"]) == 0
    default.write_text(default.read_text().replace("id,prediction", "ID,Prediction",
                                                   1))
    assert main(["predict", "--state", str(state)]) == 0
    assert _rows(default)[0].keys() == _rows(out)[0].keys()


def test_without_labels_it_says_what_to_do_and_writes_nothing(tmp_path, capsys):
    data = digits_npz(tmp_path / "d.npz", n=40)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "5", *FAST]) == 0
    capsys.readouterr()
    before = snapshot(state)
    assert main(["predict", "--state", str(state)]) == 2
    assert capsys.readouterr().err == (
        "skmixal: error: No labels yet, so there is no model to predict with: "
        f"fill in {state / 'query_0000.csv'} and run `skmixal teach`.\n")
    assert snapshot(state) == before


def test_a_stale_model_is_refitted_on_the_current_labels(state, capsys):
    (state / "model.pt").unlink()
    capsys.readouterr()
    assert main(["predict", "--state", str(state)]) == 0
    assert "Refitting the model: 38 labels" in capsys.readouterr().err
    assert (state / "model.pt").exists()


def test_new_samples_get_the_predictions_the_same_samples_get_in_the_state(
        state, tmp_path, truth, capsys):
    # rows 200-299 of the state's own data, as a new file with its labels
    X = load_dataset("digits").X[200:300].reshape(-1, 8, 8)
    y = truth[200:300].astype(str).astype(object)
    y[:5] = "11"  # not a class of this state: not scored, and said so
    y[5] = f"{y[5]}.0"  # a class as a spreadsheet writes it back: the class
    y = y.astype(str)
    np.savez(tmp_path / "new.npz", X=X, y=y)
    np.savez(tmp_path / "bare.npz", X=X)
    assert main(["predict", "--state", str(state), "--proba"]) == 0
    own = _rows(state / "predictions.csv")[200:]
    capsys.readouterr()
    assert main(["predict", "--state", str(state), "--input",
                 f"npz:{tmp_path / 'new.npz'}", "--out", str(tmp_path / "n.csv"),
                 "--proba"]) == 0
    new = _rows(tmp_path / "n.csv")
    assert [int(r["id"]) for r in new] == list(range(100))
    columns = ["prediction", "confidence", *(f"p_{c}" for c in range(10))]
    assert [[r[c] for c in columns] for r in new] == [[r[c] for c in columns]
                                                      for r in own]
    assert "given" not in new[0]
    assert [r["label"] for r in new] == ["11"] * 5 + [str(v) for v in truth[205:300]]
    hits = np.mean([int(r["prediction"]) == truth[200 + k]
                    for k, r in enumerate(new) if k >= 5])
    assert (f"Predicted 100 samples of npz:{tmp_path / 'new.npz'}; accuracy "
            f"{hits:.3f} on its 95 labels; 5 more are not a class of this "
            "state.") in capsys.readouterr().err
    # a file without labels: an empty label column, no accuracy
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "bare.npz"), "--out", str(tmp_path / "n.csv")]) == 0
    assert {r["label"] for r in _rows(tmp_path / "n.csv")} == {""}
    assert capsys.readouterr().err.endswith(f"of {tmp_path / 'bare.npz'}.\n")


def test_new_samples_of_another_shape_are_refused(state, tmp_path, capsys):
    np.savez(tmp_path / "wide.npz", X=np.zeros((4, 8, 9)), y=np.zeros(4, int))
    capsys.readouterr()
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "wide.npz"), "--out", str(tmp_path / "w.csv")]) == 2
    assert capsys.readouterr().err == (
        f"skmixal: error: --input {tmp_path / 'wide.npz'} holds samples of shape "
        "(1, 8, 9), but this state's model was trained on samples of shape "
        "(1, 8, 8).\n")
    assert not (state / "predictions.csv").exists()


def test_new_samples_need_their_own_out_file(state, tmp_path, capsys):
    np.savez(tmp_path / "new.npz", X=load_dataset("digits").X[:4].reshape(-1, 8, 8))
    assert main(["predict", "--state", str(state)]) == 0
    before = (state / "predictions.csv").read_bytes()
    capsys.readouterr()
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "new.npz")]) == 2
    assert capsys.readouterr().err == (
        "skmixal: error: --input needs --out, the CSV to write: predictions.csv in "
        "the state folder holds the predictions of the state's own samples.\n")
    assert (state / "predictions.csv").read_bytes() == before
    # nor may --out name that file
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "new.npz"), "--out",
                 str(state / "predictions.csv")]) == 2
    assert "holds the predictions of the state's own samples; name another file" in (
        capsys.readouterr().err)
    assert (state / "predictions.csv").read_bytes() == before


def test_new_samples_must_be_there(state, tmp_path, capsys):
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 8, 8)))
    capsys.readouterr()
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "empty.npz"), "--out", str(tmp_path / "e.csv")]) == 2
    assert capsys.readouterr().err == (
        f"skmixal: error: --input {tmp_path / 'empty.npz'} holds no samples.\n")
    assert not (tmp_path / "e.csv").exists()


def test_new_labels_written_as_class_names_are_scored(tmp_path, capsys):
    X = load_dataset("digits").X[:40].reshape(-1, 8, 8)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % 2,
             label_names=np.asarray(["even", "odd"]))
    initial = fill(tmp_path / "init.csv", None, rows=[(i, i % 2) for i in range(10)])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(tmp_path / "d.npz"),
                 "--initial-labels", str(initial), *FAST]) == 0
    np.savez(tmp_path / "named.npz", X=X[30:], y=np.asarray(["even", "Odd"] * 5))
    capsys.readouterr()
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "named.npz"), "--out", str(tmp_path / "n.csv")]) == 0
    rows = _rows(tmp_path / "n.csv")
    assert [r["label"] for r in rows] == ["0", "1"] * 5
    hits = np.mean([r["prediction"] == r["label"] for r in rows])
    assert f"accuracy {hits:.3f} on its 10 labels." in capsys.readouterr().err
    # codes of a file that numbers the same names otherwise: read as names
    np.savez(tmp_path / "swapped.npz", X=X[30:], y=np.asarray([1, 0] * 5),
             label_names=np.asarray(["even", "odd"])[::-1])
    assert main(["predict", "--state", str(state), "--input",
                 str(tmp_path / "swapped.npz"), "--out", str(tmp_path / "s.csv")]) == 0
    assert [r["label"] for r in _rows(tmp_path / "s.csv")] == ["0", "1"] * 5
    assert f"accuracy {hits:.3f} on its 10 labels." in capsys.readouterr().err
