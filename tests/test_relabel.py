"""Skipping a sample (`skip` in a query) and changing a taught label (relabel)."""

import csv
import errno
import json

import numpy as np
import pytest
from labeling_support import FAST, digits_npz, fill, ids_of, snapshot

from skmixal import labeling
from skmixal._io import fingerprint
from skmixal.cli import main
from skmixal.datasets import load_dataset


@pytest.fixture(scope="module")
def truth():
    return load_dataset("digits").y


def _labels(state):
    """{id: label} and the skipped ids, as labels.npz holds them."""
    arrays = np.load(state / "labels.npz", allow_pickle=False)
    classes = np.asarray(json.loads((state / "state.json").read_text())["classes"])
    labeled = dict(zip(arrays["ids"].tolist(), classes[arrays["codes"]].tolist()))
    return labeled, sorted(arrays["skipped"].tolist())


def _journal(state):
    with open(state / "labels.csv", newline="") as fh:
        return {int(r["id"]): r["label"] for r in csv.DictReader(fh)}


def _teach_with_skips(state, truth, query, skip):
    """Teach ``query`` with the true labels, but ``skip`` (any case) for the
    ids at positions ``skip``."""
    ids = ids_of(query)
    rows = [(i, "Skip " if k in skip else truth[i]) for k, i in enumerate(ids)]
    assert main(["teach", "--state", str(state), str(fill(query, truth,
                                                           rows=rows))]) == 0
    return [ids[k] for k in skip]


@pytest.fixture
def skipped(tmp_path, truth):
    """A state on the first 40 digits: 10 queried, 2 of them skipped."""
    data = digits_npz(tmp_path / "d.npz", n=40)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "10", *FAST]) == 0
    ids = _teach_with_skips(state, truth, state / "query_0000.csv", [1, 4])
    return state, ids


# -- skip ------------------------------------------------------------------------
def test_skipped_samples_are_kept_apart_never_trained_on_nor_queried_again(
        skipped, truth, capsys):
    state, skips = skipped
    labeled, held = _labels(state)
    assert held == sorted(skips) and len(labeled) == 8
    assert not set(skips) & set(labeled)
    assert labeled == {i: truth[i] for i in labeled}
    assert {i: v for i, v in _journal(state).items() if v == "skip"} == \
        dict.fromkeys(skips, "skip")
    # the model was fitted on the 8 labels only
    model = json.loads((state / "model.json").read_text())
    assert model["n_labels"] == 8
    # the rest of the pool, queried whole, leaves them out
    capsys.readouterr()
    assert main(["query", "--state", str(state), "--n", "100"]) == 0
    left = ids_of(state / "query_0001.csv")
    assert sorted(left) == sorted(set(range(40)) - set(labeled) - set(skips))
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert "8 labels, 2 skipped, 30 unlabeled" in capsys.readouterr().out


def test_a_query_skipped_whole_keeps_the_model(skipped, truth):
    state, _ = skipped
    before = (state / "model.pt").read_bytes()
    assert main(["query", "--state", str(state), "--n", "3"]) == 0
    _teach_with_skips(state, truth, state / "query_0001.csv", [0, 1, 2])
    assert len(_labels(state)[1]) == 5
    assert (state / "model.pt").read_bytes() == before


def test_skips_survive_a_rebuild_of_labels_npz(skipped, capsys):
    state, skips = skipped
    before = _labels(state)
    labels = state / "labels.npz"
    labels.write_bytes(labels.read_bytes()[:150])
    st = labeling.state_status(state, cv=0, log=print)
    assert "(8 labels, 2 skipped, none lost)" in capsys.readouterr().out
    assert st["n_skipped"] == 2 and _labels(state) == before


def test_a_state_from_before_skipping_reads_as_none_skipped(skipped):
    state, _ = skipped
    # as an older skmixal wrote it: no skipped array, no skip rows
    arrays = dict(np.load(state / "labels.npz", allow_pickle=False))
    del arrays["skipped"]
    np.savez(state / "labels.npz", **arrays)
    rows = [r for r in csv.reader(open(state / "labels.csv", newline=""))
            if r[1] != "skip"]
    with open(state / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    st = labeling.state_status(state, cv=0)
    assert st["n_labels"] == 8 and st["n_skipped"] == 0 and st["n_pool"] == 32


def test_skip_is_refused_where_a_label_is_needed(tmp_path, truth, capsys):
    test_csv = fill(tmp_path / "t.csv", truth, rows=[(100, truth[100]), (101, "skip")])
    assert main(["init", "--state", str(tmp_path / "s"), "--test-labels",
                 str(test_csv), *FAST]) == 2
    assert "line 3: id 101 has unknown class 'skip'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["skip", "Skip"])
def test_a_class_named_skip_in_any_case_turns_skipping_off(tmp_path, capsys, name):
    # 'skip' typed is that class; for a class 'Skip' it is refused as unknown,
    # never read as a skipped sample
    X = load_dataset("digits").X[:40].reshape(-1, 8, 8)
    y = np.where(np.arange(40) % 2, name, "keep")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(tmp_path / "d.npz"),
                 "--initial", "4", *FAST]) == 0
    ids = ids_of(state / "query_0000.csv")
    fill(state / "query_0000.csv", y, rows=[(i, "skip") for i in ids])
    taught = main(["teach", "--state", str(state), str(state / "query_0000.csv")])
    if name == "skip":
        assert taught == 0 and _labels(state) == (dict.fromkeys(ids, "skip"), [])
    else:
        assert taught == 2
        assert "has unknown class 'skip' (known classes: Skip, keep)" in \
            capsys.readouterr().err


# -- relabel ---------------------------------------------------------------------
def test_relabel_fixes_a_wrong_label_skips_and_unskips(skipped, truth, capsys):
    state, skips = skipped
    labeled, _ = _labels(state)
    wrong, dropped = list(labeled)[:2]
    # a label taught by mistake, then put right with relabel
    fix = fill(state.parent / "fix.csv", truth, rows=[(wrong, (truth[wrong] + 1) % 10)])
    assert main(["relabel", "--state", str(state), str(fix)]) == 0
    assert _labels(state)[0][wrong] == (truth[wrong] + 1) % 10
    capsys.readouterr()
    fix = fill(fix, truth, rows=[(wrong, truth[wrong]), (dropped, "skip"),
                                 (skips[0], truth[skips[0]])])
    assert main(["relabel", "--state", str(state), str(fix)]) == 0
    captured = capsys.readouterr()
    assert f"Relabeled 3 sample(s) from {fix}." in captured.out
    assert (f"id {wrong}: {(truth[wrong] + 1) % 10} -> {truth[wrong]}; id "
            f"{dropped}: {truth[dropped]} -> skip; id {skips[0]}: skip -> "
            f"{truth[skips[0]]}") in captured.err
    now, held = _labels(state)
    expected = {i: truth[i] for i in labeled if i != dropped}
    expected[skips[0]] = truth[skips[0]]
    assert now == expected and held == sorted([skips[1], dropped])
    assert _journal(state) == {**{i: str(v) for i, v in expected.items()},
                               skips[1]: "skip", dropped: "skip"}
    # the saved model is the one of these labels: no refit on the next command
    model = json.loads((state / "model.json").read_text())
    ids = np.asarray(list(now))
    arrays = np.load(state / "labels.npz")
    assert model["n_labels"] == 8 and model["labels"] == fingerprint(
        arrays["ids"], arrays["codes"])
    assert sorted(arrays["ids"].tolist()) == sorted(ids.tolist())


def test_relabel_takes_an_edited_copy_of_labels_csv(skipped, truth):
    state, skips = skipped
    copy = state.parent / "copy.csv"
    rows = list(csv.reader(open(state / "labels.csv", newline="")))
    first = int(rows[1][0])
    rows[1][1] = str((truth[first] + 3) % 10)
    with open(copy, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    assert labeling.relabel_state(state, copy) == 1
    assert _labels(state)[0][first] == (truth[first] + 3) % 10
    assert _labels(state)[1] == sorted(skips)


def test_relabel_with_nothing_changed_writes_nothing(skipped, truth):
    state, skips = skipped
    labeled, _ = _labels(state)
    before = snapshot(state)
    same = fill(state.parent / "same.csv", truth,
                rows=[(i, truth[i]) for i in labeled] + [(skips[0], "SKIP")])
    messages = []
    assert labeling.relabel_state(state, same, log=messages.append) == 0
    assert "nothing changed" in messages[-1] and snapshot(state) == before


def test_relabel_refuses_untaught_ids_and_changes_nothing(tmp_path, truth, capsys):
    data = digits_npz(tmp_path / "d.npz", n=40)
    test_csv = fill(tmp_path / "t.csv", truth, rows=[(39, truth[39])])
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--test-labels", str(test_csv), "--initial", "5", *FAST]) == 0
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", truth))]) == 0
    assert main(["query", "--state", str(state), "--n", "3"]) == 0
    taught, waiting = ids_of(state / "query_0000.csv"), ids_of(
        state / "query_0001.csv")
    never = next(i for i in range(39) if i not in taught + waiting)
    before = snapshot(state)
    rows = [(taught[0], (truth[taught[0]] + 1) % 10), (39, 1), (waiting[0], 2),
            (never, 3)]
    bad = fill(tmp_path / "bad.csv", truth, rows=[*rows, (taught[1], "cat")])
    capsys.readouterr()
    assert main(["relabel", "--state", str(state), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: nothing was changed; fix these and retry" in err
    assert (f"line 6: id {taught[1]} has unknown class 'cat' (known classes: 0, 1, "
            "2, 3, 4, 5, 6, 7, 8, 9; or skip to leave the sample out)") in err
    assert snapshot(state) == before
    bad = fill(bad, truth, rows=rows)
    assert main(["relabel", "--state", str(state), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nothing was changed; only taught labels can be changed" in err
    assert "id 39 is a held-out test label (fixed at init)" in err
    assert (f"id {waiting[0]} is in the pending query query_0001.csv: label it "
            "there and run `skmixal teach`") in err
    assert f"id {never} was never taught" in err
    assert snapshot(state) == before


def test_an_edit_of_labels_csv_is_refused_pointing_at_relabel(skipped, capsys):
    state, skips = skipped
    text = (state / "labels.csv").read_text()
    (state / "labels.csv").write_text(text.replace(f"{skips[0]},skip", f"{skips[0]},3"))
    assert main(["status", "--state", str(state), "--cv", "0"]) == 2
    err = capsys.readouterr().err
    assert f"id {skips[0]}: '3' in labels.csv, 'skip' in labels.npz" in err
    assert (f"To apply them, run `skmixal relabel --state {state} "
            f"{state / 'labels.csv'}`") in err
    # which applies them: labels.csv edited in place is a relabel's input
    assert main(["relabel", "--state", str(state), str(state / "labels.csv")]) == 0
    labeled, held = _labels(state)
    assert labeled[skips[0]] == 3 and held == [skips[1]]
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0


def test_relabel_refuses_edits_of_labels_csv_it_is_not_given(skipped, truth,
                                                              capsys):
    state, skips = skipped
    labeled, _ = _labels(state)
    one, other = list(labeled)[:2]
    text = (state / "labels.csv").read_text()
    (state / "labels.csv").write_text(text.replace(f"\n{one},{truth[one]},",
                                                   f"\n{one},{(truth[one] + 1) % 10},"))
    before = snapshot(state)
    fix = fill(state.parent / "fix.csv", truth, rows=[(other, (truth[other] + 1) % 10)])
    assert main(["relabel", "--state", str(state), str(fix)]) == 2
    err = capsys.readouterr().err
    assert f"id {one}: '{(truth[one] + 1) % 10}' in labels.csv" in err
    assert snapshot(state) == before


def test_a_relabel_interrupted_between_its_writes_is_finished_by_rerunning_it(
        skipped, truth, capsys, monkeypatch):
    state, skips = skipped
    labeled, _ = _labels(state)
    one = list(labeled)[0]
    fix = fill(state.parent / "fix.csv", truth, rows=[(one, (truth[one] + 1) % 10),
                                                      (skips[0], truth[skips[0]])])

    def crash(*args, **kwargs):
        raise OSError(errno.EIO, "simulated crash", "labels.npz")

    monkeypatch.setattr(labeling, "write_npz", crash)
    assert main(["relabel", "--state", str(state), str(fix)]) == 2
    monkeypatch.undo()
    # labels.csv is ahead: other commands refuse, saying how to finish
    assert main(["query", "--state", str(state), "--n", "2"]) == 2
    assert "finishes a relabel that was interrupted" in capsys.readouterr().err
    assert main(["relabel", "--state", str(state), str(fix)]) == 0
    now, held = _labels(state)
    assert now[one] == (truth[one] + 1) % 10 and now[skips[0]] == truth[skips[0]]
    assert held == [skips[1]]
    assert main(["query", "--state", str(state), "--n", "2"]) == 0


def test_the_query_csv_reminds_of_skip_beside_the_class_names(tmp_path):
    X = load_dataset("digits").X[:40].reshape(-1, 8, 8)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % 2,
             label_names=np.asarray(["even", "odd"]))
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(tmp_path / "d.npz"),
                 "--initial", "4", *FAST]) == 0
    with open(state / "query_0000.csv", newline="") as fh:
        first = next(csv.DictReader(fh))
    assert first["classes"] == ("type the class or its name: 0 (even), 1 (odd); "
                                "or skip if you cannot tell")


def test_skips_that_use_up_the_pool_are_named_when_nothing_is_left(tmp_path,
                                                                   truth, capsys):
    data = digits_npz(tmp_path / "d.npz", n=12)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "12", *FAST]) == 0
    _teach_with_skips(state, truth, state / "query_0000.csv", [0, 1, 2, 3])
    capsys.readouterr()
    assert main(["query", "--state", str(state), "--n", "2"]) == 2
    assert ("Every sample is labeled or skipped (4 skipped; `skmixal relabel` can "
            "give one a label) already.") in capsys.readouterr().err


@pytest.fixture
def warm_fix(tmp_path, truth):
    """A warm-start state with 10 taught labels, and a CSV changing one."""
    data = digits_npz(tmp_path / "d.npz", n=40)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data), "--warm-start",
                 "--initial", "10", *FAST]) == 0
    assert main(["teach", "--state", str(state),
                 str(fill(state / "query_0000.csv", truth))]) == 0
    one = ids_of(state / "query_0000.csv")[0]
    fix = fill(tmp_path / "fix.csv", truth, rows=[(one, (truth[one] + 1) % 10)])
    return state, fix, one


def test_a_relabel_in_a_warm_start_state_refits_from_scratch(warm_fix):
    state, fix, _ = warm_fix
    messages = []
    assert labeling.relabel_state(state, fix, log=messages.append) == 1
    assert messages[-1] == "Refitting the model: 10 labels ..."
    assert not any("warm start" in m for m in messages)


def test_a_relabel_interrupted_in_its_refit_leaves_no_model_of_the_old_labels(
        warm_fix, truth, monkeypatch):
    # a warm-start state must not continue the model of the wrong labels later
    state, fix, one = warm_fix

    def interrupted(self, X, y):
        raise KeyboardInterrupt

    monkeypatch.setattr(labeling._State, "_fresh_estimator", interrupted)
    with pytest.raises(labeling.RefitInterrupted, match="10"):
        labeling.relabel_state(state, fix)
    monkeypatch.undo()
    assert _labels(state)[0][one] == (truth[one] + 1) % 10
    assert not (state / "model.pt").exists()
    messages = []
    labeling.query_state(state, 2, log=messages.append)  # refits the model
    assert "Refitting the model: 10 labels ..." in messages
    assert not any("warm start" in m for m in messages)


def test_a_new_state_from_labels_csv_keeps_the_skips(skipped, tmp_path):
    state, skips = skipped
    labeled, _ = _labels(state)
    fresh = tmp_path / "fresh"
    assert main(["init", "--state", str(fresh), "--data", str(tmp_path / "d.npz"),
                 "--initial-labels", str(state / "labels.csv"), *FAST]) == 0
    assert _labels(fresh) == (labeled, sorted(skips))
    st = labeling.state_status(fresh, cv=0)
    assert st["n_pool"] == 30
    # and the journal check of a rebuild counts the skipped initial rows
    labels = fresh / "labels.npz"
    labels.write_bytes(labels.read_bytes()[:150])
    messages = []
    labeling.state_status(fresh, cv=0, log=messages.append)
    assert any("(8 labels, 2 skipped, none lost)" in m for m in messages)


def test_labels_csv_edited_in_place_is_read_as_teach_reads_a_query(skipped, truth):
    # any case for skip, a class name where the data has names: as in a query
    state, skips = skipped
    labeled, _ = _labels(state)
    one = list(labeled)[0]
    text = (state / "labels.csv").read_text()
    (state / "labels.csv").write_text(
        text.replace(f"\n{one},{truth[one]},", f"\n{one},Skip,")
        .replace(f"\n{skips[0]},skip,", f"\n{skips[0]},{truth[skips[0]]}.0,"))
    assert labeling.relabel_state(state, state / "labels.csv") == 2
    now, held = _labels(state)
    assert one not in now and now[skips[0]] == truth[skips[0]]
    assert held == sorted([skips[1], one])


def test_a_skip_refits_a_semi_supervised_model_which_trained_on_the_pool(
        tmp_path, truth, capsys):
    # the saved model's unlabeled rows held the skipped samples; skipped
    # samples are never trained on, so the next command must not reuse it
    data = digits_npz(tmp_path / "d.npz", n=40)
    state = tmp_path / "state"
    assert main(["init", "--state", str(state), "--data", str(data),
                 "--initial", "10", "--semi-supervised", *FAST]) == 0
    _teach_with_skips(state, truth, state / "query_0000.csv", [])
    assert main(["query", "--state", str(state), "--n", "3"]) == 0
    before = (state / "model.pt").read_bytes()
    capsys.readouterr()
    _teach_with_skips(state, truth, state / "query_0001.csv", [0, 1, 2])
    assert "Refitting the model: 10 labels and 27 unlabeled samples" in (
        capsys.readouterr().err)
    assert (state / "model.pt").read_bytes() != before
    # and that model is the one reused afterwards
    after = (state / "model.pt").read_bytes()
    assert main(["status", "--state", str(state), "--cv", "0"]) == 0
    assert main(["query", "--state", str(state), "--n", "3"]) == 0
    assert (state / "model.pt").read_bytes() == after
