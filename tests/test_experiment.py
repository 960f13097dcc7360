"""Simulated experiments: determinism, resume after crashes, parallel backends."""

import importlib.metadata
import json
import os
import re
import signal
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from skmixal import MixupNetClassifier
from skmixal._io import UserError
from skmixal.experiment import Arm, derive_seed, make_arms, run_experiment

FAST = {"max_epochs": 2, "min_steps": 10, "module__hidden_units": (32,)}


def random_pick(estimator, X_pool, n_instances=1, *, random_state=None):
    rng = np.random.default_rng(random_state)
    idx = rng.choice(len(X_pool), n_instances, replace=False)
    return idx, np.zeros(n_instances)


def max_entropy(estimator, X_pool, n_instances=1, *, random_state=None,
                X_labeled=None, y_labeled=None):
    # label-dependent signature: the runner must pass the labeled set
    assert X_labeled is not None and len(X_labeled) == len(y_labeled)
    proba = estimator.predict_proba(X_pool)
    scores = -(proba * np.log(proba + 1e-12)).sum(axis=1)
    idx = np.argsort(-scores, kind="stable")[:n_instances]
    return idx, scores[idx]


CRASH = {"round": None, "calls": 0}


def crashing(estimator, X_pool, n_instances=1, *, random_state=None):
    CRASH["calls"] += 1
    if CRASH["round"] is not None and CRASH["calls"] == CRASH["round"]:
        raise RuntimeError("simulated crash")
    return random_pick(estimator, X_pool, n_instances, random_state=random_state)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float32), y[:600]


ARMS = [Arm("random", random_pick, False), Arm("entropy+mixup", max_entropy, True)]


def _run(data, **kwargs):
    # digits as vectors: 'auto' would not mix, and the +mixup arm is refused
    params = {"arms": ARMS, "seeds": (0,), "n_initial": 10, "query_size": 10,
              "budget": 40, "estimator_params": FAST, "progress": False,
              "mixup_alpha": 0.4}
    params.update(kwargs)
    return run_experiment(*data, **params)


def _strip(records):
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in records]


def test_make_arms_names_and_baselines():
    names = [a.name for a in make_arms(["random", "entropy_sampling"])]
    assert names == ["random", "random+mixup", "entropy", "entropy+mixup"]
    assert [a.mixup for a in make_arms(["margin"])] == [False, False, True]
    assert [a.name for a in make_arms(["margin"], baselines=False)] == ["margin+mixup"]


def test_rounds_budget_and_determinism(digits):
    first, again = _run(digits), _run(digits)
    assert _strip(first.records) == _strip(again.records)
    for arm in ("random", "entropy+mixup"):
        rows = [r for r in first.records if r["arm"] == arm]
        assert [r["n_labeled"] for r in rows] == [10, 20, 30, 40]
        queried = [i for r in rows for i in r["queried"]]
        assert len(set(queried)) == 40
    # both arms of a seed start from the same initial labels
    assert first.records[0]["queried"] == first.records[4]["queried"]


def test_recorded_scores_match_an_independent_refit(digits):
    X, y = digits
    result = _run(digits, arms=ARMS[:1])
    last = result.records[-1]
    # the labels in the order the rounds queried them, and the documented
    # split: stratified, test_size=0.25, seeded from (seed, "split")
    labeled = np.asarray([i for r in result.records for i in r["queried"]])
    train, test = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y,
                                   random_state=derive_seed(0, "split"))
    assert np.isin(labeled, train).all()  # nothing queried from the test split
    # the last round's model: seeded from (seed, "fit", round), no mixup
    model = MixupNetClassifier(**FAST, random_state=derive_seed(0, "fit", 3),
                               mixup_alpha=0.0, classes=np.unique(y))
    pred = model.fit(X[labeled], y[labeled]).predict(X[np.sort(test)])
    truth = y[np.sort(test)]
    assert last["accuracy"] == np.mean(pred == truth)
    f1 = np.mean([2 * np.sum((pred == c) & (truth == c))
                  / (np.sum(pred == c) + np.sum(truth == c)) for c in np.unique(y)])
    assert last["f1_macro"] == pytest.approx(f1, abs=1e-12)
    # a model that learnt something: twice the majority-class rate (0.1) after
    # 40 labels and 10 steps (measured: 0.273)
    majority = np.bincount(truth).max() / len(truth)
    assert last["accuracy"] > 2 * majority, (last["accuracy"], majority)


def test_budget_not_a_multiple_of_query_size(digits):
    result = _run(digits, budget=35, arms=ARMS[:1])
    assert [r["n_labeled"] for r in result.records] == [10, 20, 30, 35]


def test_bad_strategy_output_is_reported(digits):
    def broken(estimator, X_pool, n_instances=1, *, random_state=None):
        return np.zeros(n_instances, dtype=int), None

    with pytest.raises(ValueError, match="distinct integer"):
        _run(digits, arms=[Arm("broken", broken, False)])


def test_resume_after_crash_matches_uninterrupted(digits, tmp_path):
    arms = [Arm("crashing", crashing, False)]
    CRASH.update(round=None, calls=0)
    reference = _run(digits, arms=arms)
    CRASH.update(round=2, calls=0)  # second query, i.e. round 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(digits, arms=arms, out_dir=tmp_path)
    saved = sorted(p.name for p in (tmp_path / "runs/crashing/seed_0").iterdir())
    assert saved == ["round_0000.json", "round_0001.json"]
    CRASH.update(round=None, calls=0)
    resumed = _run(digits, arms=arms, out_dir=tmp_path)
    assert CRASH["calls"] == 2  # only rounds 2 and 3 were queried again
    assert _strip(resumed.records) == _strip(reference.records)


def test_a_resume_in_another_environment_is_said_and_recorded(digits, tmp_path):
    arms, here = ARMS[:1], torch.backends.cpu.get_cpu_capability()
    _run(digits, arms=arms, budget=20, out_dir=tmp_path)
    path = tmp_path / "experiment.json"
    last = tmp_path / "runs/random/seed_0/round_0001.json"
    saved = json.loads(path.read_text())
    env = dict(saved["environments"][0])
    assert saved["environments"] == [env]
    assert env["torch"] == importlib.metadata.version("torch")
    assert (env["cpu"], env["torch_threads"]) == (here, 1)
    # as if its rounds had been computed on a CPU with other vector units
    other = "AVX512" if here != "AVX512" else "AVX2"
    saved["environments"][0]["cpu"] = other
    path.write_text(json.dumps(saved))
    last.unlink()
    said = rf"another environment \(cpu {other} -> {here}\)"
    with pytest.warns(UserWarning, match=said):
        result = _run(digits, arms=arms, budget=20, out_dir=tmp_path)
    assert [e["cpu"] for e in result.environments] == [other, here]
    assert json.loads(path.read_text())["environments"] == result.environments
    # another thread count changes the floats too
    last.unlink()
    with pytest.warns(UserWarning, match=r"\(torch_threads 1 -> 2\)"):
        result = _run(digits, arms=arms, budget=20, out_dir=tmp_path, torch_threads=2)
    assert [(e["cpu"], e["torch_threads"]) for e in result.environments] == [
        (other, 1), (here, 1), (here, 2)]
    # in a known environment a resume says nothing; a restart starts a new list
    last.unlink()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _run(digits, arms=arms, budget=20, out_dir=tmp_path)
    assert not [w for w in seen if "environment" in str(w.message)]
    result = _run(digits, arms=arms, budget=20, out_dir=tmp_path, restart=True)
    assert result.environments == [env]
    # a folder without rounds holds nothing computed elsewhere
    for done in tmp_path.glob("runs/*/*/round_*.json"):
        done.unlink()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = _run(digits, arms=arms, budget=20, out_dir=tmp_path, torch_threads=2)
    assert not [w for w in seen if "environment" in str(w.message)]
    assert result.environments == [{**env, "torch_threads": 2}]
    assert _run(digits, arms=arms, budget=20).environments == [env]



def test_a_finished_run_rerun_elsewhere_records_nothing(digits, tmp_path):
    # its rounds are all saved: the rerun computes nothing, so it neither warns
    # nor adds its environment to the record
    arms = ARMS[:1]
    first = _run(digits, arms=arms, budget=20, out_dir=tmp_path)
    before = (tmp_path / "experiment.json").read_text()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        again = _run(digits, arms=arms, budget=20, out_dir=tmp_path, torch_threads=2)
    assert not [w for w in seen if "environment" in str(w.message)]
    assert again.environments == first.environments
    assert (tmp_path / "experiment.json").read_text() == before
    assert _strip(again.records) == _strip(first.records)


class _SigintAtFit(Callback):
    """Sends SIGINT to this process during the n-th fit, as Ctrl-C would."""

    fits = 0
    at = None
    sent = False

    def on_train_begin(self, net, **kwargs):
        type(self).fits += 1

    def on_epoch_end(self, net, **kwargs):
        if type(self).fits == type(self).at and not type(self).sent:
            type(self).sent = True
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def sigint_raises():
    # a background job starts with SIGINT ignored; Ctrl-C in a terminal raises
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("warm_start", [False, True])
def test_ctrl_c_during_fit_is_not_recorded(digits, tmp_path, warm_start,
                                           sigint_raises):
    params = {**FAST, "callbacks": [_SigintAtFit()]}
    _SigintAtFit.at = None
    reference = _run(digits, arms=ARMS[:1], estimator_params=params,
                     warm_start=warm_start)
    # fit 1 is check_settings' one-step fit; rounds 0, 1, 2 are fits 2, 3, 4
    _SigintAtFit.fits, _SigintAtFit.at, _SigintAtFit.sent = 0, 4, False  # round 2
    # skorch swallows the KeyboardInterrupt inside fit; the runner re-raises it.
    # A KeyboardInterrupt carries no message (Ctrl-C's own has none either);
    # what is checked besides is that it is the runner's re-raise.
    with pytest.raises(KeyboardInterrupt, match="^$") as interrupted:
        _run(digits, arms=ARMS[:1], estimator_params=params, out_dir=tmp_path,
             warm_start=warm_start)
    assert interrupted.traceback[-1].name == "check"  # InterruptGuard.check
    assert len(list(tmp_path.glob("runs/random/seed_0/round_*.json"))) == 2
    _SigintAtFit.at = None
    resumed = _run(digits, arms=ARMS[:1], estimator_params=params,
                   out_dir=tmp_path, warm_start=warm_start)
    assert _strip(resumed.records) == _strip(reference.records)


def test_other_experiment_in_out_dir_is_refused(digits, tmp_path):
    _run(digits, arms=ARMS[:1], out_dir=tmp_path, budget=20)
    with pytest.raises(UserError, match=r"different experiment \(differs in: "
                       r"query_size\)"):
        _run(digits, arms=ARMS[:1], out_dir=tmp_path, budget=20, query_size=5)
    result = _run(digits, arms=ARMS[:1], out_dir=tmp_path, budget=20, query_size=5,
                  restart=True)
    assert [r["n_labeled"] for r in result.records] == [10, 15, 20]


def test_an_arm_of_the_same_name_with_other_settings_is_refused(digits, tmp_path):
    _run(digits, arms=ARMS[:1], out_dir=tmp_path, budget=20)
    renamed = Arm("random", max_entropy, False)
    with pytest.raises(UserError, match=r"differs in: arm random\)"):
        _run(digits, arms=[renamed], out_dir=tmp_path, budget=20)


def _spy_fits(monkeypatch):
    import skmixal.experiment as experiment

    fits, original = [], experiment._fit

    def spy(model, task, r, *args):
        fits.append((task["arm"].name, task["seed"], r))
        return original(model, task, r, *args)

    monkeypatch.setattr(experiment, "_fit", spy)
    return fits


@pytest.mark.parametrize("warm_start", [False, True])
def test_an_experiment_grows_by_seeds_arms_and_budget_as_if_run_at_once(
        digits, tmp_path, monkeypatch, warm_start):
    # more seeds, another arm and a larger budget, in three runs into one
    # folder: the same records as one run with the final settings, and only
    # the missing rounds computed (a budget of 35 ends on a short round)
    final = dict(arms=ARMS, seeds=(0, 1), budget=40, warm_start=warm_start)
    reference = _run(digits, **final)
    _run(digits, arms=ARMS[:1], seeds=(0,), budget=35, out_dir=tmp_path,
         warm_start=warm_start)
    fits = _spy_fits(monkeypatch)
    _run(digits, arms=ARMS[:1], seeds=(0, 1), budget=35, out_dir=tmp_path,
         warm_start=warm_start)
    assert {f[1] for f in fits} == {1}
    fits.clear()
    grown = _run(digits, **final, out_dir=tmp_path)
    assert _strip(grown.records) == _strip(reference.records)
    # seed 0 and 1 of random: the short round 3 (35 labels) again, on a refit
    # of round 2 (warm: the chain 0..2); every round of the new arm
    replay = [0, 1, 2] if warm_start else [2]
    expected = sorted([("random", s, r) for s in (0, 1) for r in [*replay, 3]]
                      + [("entropy+mixup", s, r) for s in (0, 1) for r in range(4)])
    assert sorted(fits) == expected
    saved = json.loads((tmp_path / "experiment.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["budget"] == 40
    # narrowed again: the saved rounds answer, nothing is computed
    fits.clear()
    narrow = _run(digits, arms=ARMS[1:], seeds=(1,), budget=20, out_dir=tmp_path,
                  warm_start=warm_start)
    assert fits == []
    assert _strip(narrow.records) == [r for r in _strip(reference.records)
                                      if r["arm"] == "entropy+mixup"
                                      and r["seed"] == 1 and r["n_labeled"] <= 20]
    saved = json.loads((tmp_path / "experiment.json").read_text())
    assert saved["seeds"] == [1] and saved["budget"] == 20
    assert [a["name"] for a in saved["arm_history"]] == ["random", "entropy+mixup"]


def test_a_round_recomputed_for_another_budget_drops_the_rounds_after_it(
        digits, tmp_path):
    # 40 -> 35: round 3 (40 labels) becomes a 35-label one; nothing chained on
    # the old round may stay
    _run(digits, arms=ARMS[:1], budget=40, out_dir=tmp_path, query_size=5,
         n_initial=10)
    folder = tmp_path / "runs" / "random" / "seed_0"
    assert len(list(folder.glob("round_*.json"))) == 7
    _run(digits, arms=ARMS[:1], budget=22, out_dir=tmp_path, query_size=5,
         n_initial=10)
    saved = sorted(folder.glob("round_*.json"))
    assert [json.loads(p.read_text())["n_labeled"] for p in saved] == [10, 15, 20, 22]
    grown = _run(digits, arms=ARMS[:1], budget=40, out_dir=tmp_path, query_size=5,
                 n_initial=10)
    reference = _run(digits, arms=ARMS[:1], budget=40, query_size=5, n_initial=10)
    assert _strip(grown.records) == _strip(reference.records)


def test_an_arm_dropped_and_given_back_with_other_settings_is_refused(digits,
                                                                      tmp_path):
    _run(digits, arms=[Arm("x", random_pick, False), ARMS[0]], out_dir=tmp_path,
         budget=20)
    _run(digits, arms=ARMS[:1], seeds=(0, 1), out_dir=tmp_path, budget=20)
    with pytest.raises(UserError, match=r"differs in: arm x\)"):
        _run(digits, arms=[Arm("x", max_entropy, False), ARMS[0]], out_dir=tmp_path,
             budget=20)


def test_arms_of_the_estimators_own_method_and_of_its_name_are_one(tmp_path,
                                                                   monkeypatch):
    # the CLI records --semi-supervised mixmatch as ssl=True, and mixmatch
    # with fixmatch by name: adding fixmatch must keep the mixmatch runs
    X, y = load_digits(return_X_y=True)
    images = (X / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    params = dict(seeds=(0,), n_initial=10, query_size=10, budget=20,
                  estimator_params={"max_epochs": 2, "min_steps": 10},
                  progress=False, out_dir=tmp_path)
    run_experiment(images, y, arms=make_arms(["margin"], baselines=False, mixup=False,
                                             semi_supervised=True), **params)
    fits = _spy_fits(monkeypatch)
    both = make_arms(["margin"], baselines=False, mixup=False,
                     semi_supervised=["mixmatch", "fixmatch"])
    assert [a.name for a in both] == ["margin+mixup+ssl", "margin+fixmatch"]
    run_experiment(images, y, arms=both, **params)
    assert {f[0] for f in fits} == {"margin+fixmatch"}


def test_joblib_matches_sequential(digits):
    seq = _run(digits, seeds=(0, 1))
    par = _run(digits, seeds=(0, 1), n_jobs=2)
    assert _strip(par.records) == _strip(seq.records)


def test_dask_local_cluster_matches_sequential(digits, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    seq = _run(digits)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                  processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            on_client = _run(digits, scheduler=client)
        by_address = _run(digits, scheduler=cluster.scheduler_address,
                          out_dir=tmp_path)
    assert _strip(on_client.records) == _strip(seq.records)
    assert _strip(by_address.records) == _strip(seq.records)


def test_results_files_and_summary(digits, tmp_path):
    result = _run(digits, seeds=(0, 1))
    ns, mean, std = result.curves()["random"]
    assert ns.tolist() == [10, 20, 30, 40] and mean.shape == std.shape == (4,)
    reach = result.labels_to_reach(0.0)
    assert reach == {"random": 10, "entropy+mixup": 10}
    assert result.labels_to_reach(1.01)["random"] is None
    table = result.table(target=0.5)
    assert "entropy+mixup" in table and "to reach 0.5" in table and "±" in table
    paths = result.save(tmp_path, target=0.5)
    saved = json.loads(paths["json"].read_text())
    assert {"config", "versions", "records", "summary", "labels_to_reach"} <= set(saved)
    assert saved["versions"]["torch"] and saved["records"][1]["queried"]
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("arm,seed,round,n_labeled,accuracy,f1_macro")
    assert len(lines) == 1 + 2 * 2 * 4
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_named_strategies_and_cold_start(digits):
    result = _run(digits, arms=make_arms(["margin"], mixup=False),
                  initial_strategy="typiclust", budget=20)
    assert [r["n_labeled"] for r in result.records] == [10, 20, 10, 20]


def test_arms_are_paired_at_the_first_round(digits):
    arms = [*ARMS, Arm("entropy", max_entropy, False)]
    result = _run(digits, arms=arms, seeds=(0,))
    first = {r["arm"]: r["accuracy"] for r in result.records if r["round"] == 0}
    # same labels, same model seed: the arms without mixup agree exactly
    assert first["random"] == first["entropy"]
    later = {r["arm"]: r["accuracy"] for r in result.records if r["round"] == 3}
    assert later["random"] != later["entropy"]


# --- issue 16: MixMatch's alpha, bounds, an exhausted pool ------------------------

@pytest.fixture
def fits(monkeypatch):
    """Every fit: (rows, unlabeled rows or None, mixup_alpha given, resolved)."""
    calls, real_fit = [], MixupNetClassifier.fit

    def spy(self, X, y, X_unlabeled=None, **kwargs):
        out = real_fit(self, X, y, X_unlabeled=X_unlabeled, **kwargs)
        calls.append((len(X), None if X_unlabeled is None else len(X_unlabeled),
                      self.mixup_alpha, self.mixup_alpha_))
        return out

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    return calls


def test_mixup_alpha_is_supervised_mixup_only(digits, fits):
    """The experiment's mixup_alpha reaches the +mixup arms, not MixMatch's."""
    arms = [Arm("random", random_pick, False), Arm("random+mixup", random_pick, True),
            Arm("random+mixup+ssl", random_pick, True, ssl=True)]
    # no collapse guard: its supervised refit would report supervised settings
    result = _run(digits, arms=arms, mixup_alpha=0.3, budget=20,
                  estimator_params={**FAST, "collapse_guard": None})
    rounds = [f for f in fits if f[0] > 2]  # the settings checks fit 2 rows
    plain, mixed, ssl = rounds[0:2], rounds[2:4], rounds[4:6]
    assert {f[2:] for f in plain} == {(0.0, 0.0)}
    assert {f[2:] for f in mixed} == {(0.3, 0.3)}
    # MixMatch keeps the estimator's 'auto': the paper's 0.75, not 0.3
    assert {f[2:] for f in ssl} == {("auto", 0.75)}
    assert all(f[1] is not None for f in ssl)
    # recorded, so that a folder of a version that gave these arms 0.3 is not
    # resumed with rounds of another alpha
    entries = {a["name"]: a for a in result.config["arms"]}
    assert entries["random+mixup+ssl"]["mixup_alpha"] == "auto"
    assert "mixup_alpha" not in entries["random+mixup"]


def test_semi_supervised_arms_are_named_for_their_mixing():
    # with supervised Mixup off (vectors at 'auto'), MixMatch still mixes: the
    # arm is <strategy>+mixup+ssl, as the README promises
    arms = make_arms(["margin"], mixup=False, semi_supervised=True)
    assert [(a.name, a.mixup, a.ssl) for a in arms] == [
        ("random", False, False), ("margin", False, False),
        ("margin+mixup+ssl", True, True)]


def test_semi_supervised_arms_by_method():
    arms = make_arms(["margin"], mixup=False, baselines=False,
                     semi_supervised=["fixmatch", "mixmatch", "fixmatch"])
    assert [(a.name, a.mixup, a.ssl) for a in arms] == [
        ("margin+fixmatch", True, "fixmatch"), ("margin+mixup+ssl", True, "mixmatch")]
    assert [a.name for a in make_arms(["margin"], semi_supervised="fixmatch")] == [
        "random", "margin", "margin+mixup", "margin+fixmatch"]


@pytest.mark.parametrize("value, error", [
    ("flexmatch", ValueError), ([], ValueError), (["fixmatch", True], ValueError),
    (1, TypeError), ({"fixmatch"}, TypeError)])
def test_semi_supervised_arms_refuse_unknown_methods(value, error):
    with pytest.raises(error, match=r"semi_supervised must be a bool, one of "
                       r"\('mixmatch', 'fixmatch'\) or a sequence of them; got "):
        make_arms(["margin"], semi_supervised=value)


def test_each_semi_supervised_arm_fits_with_its_method(digits, monkeypatch):
    seen, fitted, pools, real_fit = [], [], [], MixupNetClassifier.fit

    def spy(self, X, y, X_unlabeled=None, **kwargs):
        out = real_fit(self, X, y, X_unlabeled=X_unlabeled, **kwargs)
        if len(X) > 2:
            seen.append((X_unlabeled is not None, self.semi_supervised,
                         self.mixup_alpha_))
            # no guard, so the fitted network is the semi-supervised one
            fitted.append(balanced_accuracy_score(y, out.predict(X)))
            pools.append(out.fit_report_["pool_classes"])
        return out

    monkeypatch.setattr(MixupNetClassifier, "fit", spy)
    arms = make_arms(["random"], mixup=False, baselines=False,
                     semi_supervised=["mixmatch", "fixmatch"])
    result = _run(digits, arms=arms, budget=20,
                  estimator_params={**FAST, "collapse_guard": None})
    # two rounds each; FixMatch's 'auto' mixing is 0, MixMatch's 0.75
    assert seen == [(True, "mixmatch", 0.75)] * 2 + [(True, "fixmatch", 0.0)] * 2
    assert [a.get("ssl") for a in result.config["arms"]] == ["mixmatch", "fixmatch"]
    # each round records what the guard read: the network's class-balanced
    # accuracy on its own labels, and how many classes it predicted on the pool
    np.testing.assert_allclose([r["labeled_accuracy"] for r in result.records],
                               fitted, atol=5e-5)
    assert [r["pool_classes"] for r in result.records] == pools


@pytest.mark.parametrize("settings, message", [
    ({"estimator_params": {**FAST, "min_steps": 10**20}},
     "min_steps must be an integer between 0 and 10,000,000, got 10000"),
    ({"estimator_params": {**FAST, "min_steps": 2**63}}, "min_steps must be"),
    ({"estimator_params": {**FAST, "max_epochs": 10**6}},
     "max_epochs must be an integer between 0 and 10,000"),
    ({"budget": 10**20}, "budget must be an integer between 1 and 1,000,000"),
    ({"query_size": 0}, "query_size must be an integer between 1"),
    ({"torch_threads": 10**6}, "torch_threads must be an integer between 1"),
    ({"mixup_alpha": float("inf")}, "mixup_alpha must be a finite number"),
])
def test_settings_out_of_range_fail_before_any_round(digits, fits, settings,
                                                     message):
    from skmixal.experiment import SettingsError

    with pytest.raises(SettingsError, match=message):
        _run(digits, **settings)
    assert not fits  # refused before the one-step check fit, or by it


def test_an_exhausted_pool_is_said_and_fits_supervised(fits):
    X, y = load_digits(return_X_y=True)
    X, y = (X[:80] / 16).astype(np.float32), y[:80]
    arms = [Arm("random+mixup+ssl", random_pick, True, ssl=True)]
    n_train = 80 - 20  # test_size=0.25
    with pytest.warns(UserWarning) as seen:
        _run((X, y), arms=arms, n_initial=30, query_size=30, budget=100,
             estimator_params={**FAST, "collapse_guard": None})
    # (and nothing else but the tiny fits' ConvergenceWarnings)
    said = [str(w.message) for w in seen if w.category is not ConvergenceWarning]
    assert len(said) == 2
    assert f"budget (100) is more than the {n_train} training samples" in said[0]
    assert "no unlabeled pool is left" in said[1]
    rounds = [f[:2] for f in fits if f[0] > 2]
    # the first round trains on the rest of the pool; the last has none left
    assert rounds == [(30, n_train - 30), (n_train, None)]


def test_arms_that_would_not_mix_are_left_out_or_refused(digits):
    # on vectors 'auto' is off: a +mixup arm repeated its arm without Mixup
    result = _run(digits, arms=None, strategies=("margin",), mixup_alpha="auto",
                  budget=20)
    assert result.arms == ["random", "margin"]
    for alpha, why in (("auto", "'auto', which is off for vector data"), (0, "0")):
        with pytest.raises(ValueError, match=re.escape(
                f"The +mixup arms ['entropy+mixup'] would not mix: mixup_alpha "
                f"is {why}")):
            _run(digits, mixup_alpha=alpha)
    images = (digits[0].reshape(-1, 1, 8, 8), digits[1])
    assert "margin+mixup" in _run(images, arms=None, strategies=("margin",),
                                  mixup_alpha="auto", budget=20,
                                  estimator_params={"max_epochs": 1,
                                                    "min_steps": 5}).arms
