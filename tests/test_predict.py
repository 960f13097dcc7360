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
    assert list(rows[0]) == ["id", "prediction", "confidence", "label",
                             *(f"p_{c}" for c in range(10))]
    assert [int(r["id"]) for r in rows] == list(range(300))
    expected = {i: str(truth[i]) for i in [*range(40), *range(250, 300)]}
    expected.update({3: "skip", 7: "skip"})
    assert {int(r["id"]): r["label"] for r in rows} == {
        i: expected.get(i, "") for i in range(300)}
    proba = np.array([[float(r[f"p_{c}"]) for c in range(10)] for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=6e-4)  # 10 roundings
    assert [int(r["prediction"]) for r in rows] == proba.argmax(axis=1).tolist()
    assert [float(r["confidence"]) for r in rows] == proba.max(axis=1).tolist()
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
    assert list(rows[0]) == ["id", "prediction", "name", "confidence", "label"]
    assert {(r["prediction"], r["name"]) for r in rows} <= {("0", "even"),
                                                             ("1", "odd")}
    # a label given by name is shown as the class, as labels.csv shows it
    assert [r["label"] for r in rows[:3]] == ["0", "1", "0"]


@pytest.mark.parametrize("name, message", [
    ("labels.csv", "is one of the labeling loop's own files"),
    ("query_0001.csv", "is one of the labeling loop's own files"),
    ("mine.csv", r"exists and is not a predictions file \(its header does not "
                 "start with id,prediction\\)"),
    ("out.txt", "must name a .csv file"),
    ("missing/p.csv", "the folder .*missing does not exist"),
])
def test_nothing_of_the_users_is_overwritten(state, name, message):
    (state / "mine.csv").write_text("id,label\n1,2\n")
    (state / "query_0001.csv").write_text("id,label\n1,\n")
    before = snapshot(state)
    with pytest.raises(labeling.UserError, match=f"--out .*{name}.* {message}"):
        labeling.predict_state(state, state / name)
    assert snapshot(state) == before


def test_a_predictions_file_is_replaced_by_the_next(state, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["predict", "--state", str(state), "--out", str(out),
                 "--proba"]) == 0
    assert "p_0" in _rows(out)[0]
    assert main(["predict", "--state", str(state), "--out", str(out)]) == 0
    assert "p_0" not in _rows(out)[0] and len(_rows(out)) == 300
    # the default output, in the state folder, is replaced the same way
    assert main(["predict", "--state", str(state)]) == 0
    assert main(["predict", "--state", str(state)]) == 0


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
        "fill in query_0000.csv and run `skmixal teach`.\n")
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
    y = truth[200:300].copy()
    y[:5] = 11  # not a class of this state: not scored, and said so
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
    assert [r["label"] for r in new] == [str(v) for v in y]
    hits = np.mean([int(r["prediction"]) == v for r, v in zip(new[5:], y[5:])])
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
                 str(tmp_path / "wide.npz")]) == 2
    assert capsys.readouterr().err == (
        f"skmixal: error: --input {tmp_path / 'wide.npz'} holds samples of shape "
        "(1, 8, 9), but this state's model was trained on samples of shape "
        "(1, 8, 8).\n")
    assert not (state / "predictions.csv").exists()
