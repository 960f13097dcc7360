"""Results of a simulated experiment: learning curves, tables and files."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skmixal._io import package_versions, write_csv, write_json

__all__ = ["ExperimentResult"]


@dataclass
class ExperimentResult:
    """Per-round records of an experiment, with summaries and writers.

    Attributes
    ----------
    config : dict
        The experiment's settings (JSON-ready).
    records : list of dict
        One per (arm, seed, round): ``n_labeled``, ``accuracy``, ``f1_macro``,
        ``queried`` (dataset row indices labeled that round), timings;
        ``labeled_accuracy``, the class-balanced accuracy of the fitted network
        on its own labeled rows; for a semi-supervised fit, ``pool_classes``,
        the effective number of classes it predicted on the pool, and
        ``collapse`` (what the collapse guard saw and did) where it collapsed;
        for a supervised fit that did not learn its labels, ``not_learned``
        (what its check read).
    arms : list of str
        Arm names in display order.
    environments : list of dict or None, default=None
        Where the rounds were computed (``skmixal.experiment.environment``:
        package versions, CPU capability, GPU, torch threads); more than one
        where a resumed run continued in another.
    """

    config: dict
    records: list
    arms: list
    environments: list = None

    def curves(self, metric="accuracy"):
        """Mean and std over seeds of ``metric`` after each round, per arm.

        Parameters
        ----------
        metric : {"accuracy", "f1_macro"}, default="accuracy"

        Returns
        -------
        curves : dict of str to tuple of (n_labeled, mean, std) ndarrays
        """
        out = {}
        for arm in self.arms:
            rows = [r for r in self.records if r["arm"] == arm]
            ns = sorted({r["n_labeled"] for r in rows})
            vals = [[r[metric] for r in rows if r["n_labeled"] == n] for n in ns]
            out[arm] = (np.array(ns), np.array([np.mean(v) for v in vals]),
                        np.array([np.std(v) for v in vals]))
        return out

    def labels_to_reach(self, target, metric="accuracy"):
        """Fewest labels at which each arm's mean ``metric`` reaches ``target``.

        Parameters
        ----------
        target : float
        metric : str, default="accuracy"

        Returns
        -------
        labels : dict of str to int or None
            None where the mean curve never reaches ``target``.
        """
        out = {}
        for arm, (ns, mean, _) in self.curves(metric).items():
            hit = np.flatnonzero(mean >= target)
            out[arm] = int(ns[hit[0]]) if len(hit) else None
        return out

    def table(self, metric="accuracy", target=None):
        """Text table: mean ± std of ``metric`` per number of labels and arm.

        Parameters
        ----------
        metric : str, default="accuracy"
        target : float or None, default=None
            Adds a last row with the labels needed to reach it.

        Returns
        -------
        table : str
        """
        from skmixal.plotting import format_table

        reach = None if target is None else self.labels_to_reach(target, metric)
        title = (f"{self.config['dataset']['name']}: test "
                 f"{metric.replace('_', ' ')}, mean ± std over "
                 f"{len(self.config['seeds'])} seed(s)")
        table = format_table(self.curves(metric), title=title, reach=reach,
                             target=target)
        return "\n".join([table, *self.fit_notes()])

    def fit_notes(self):
        """One line per fit whose semi-supervised training collapsed, or that
        did not learn its labels.

        Returns
        -------
        notes : list of str
            Arm, seed, labels and what the collapse guard saw and did, or what
            the fit's check of its labels read
            (:attr:`MixupNetClassifier.fit_report_`); empty when no fit failed.
        """
        notes = []
        for r in self.records:
            where = f"{r['arm']}, seed {r['seed']}, {r['n_labeled']} labels"
            if r.get("collapse"):
                notes.append(f"collapse guard: {where}: {r['collapse']}")
            if r.get("not_learned"):
                notes.append(f"not learned: {where}: {r['not_learned']}")
        return notes

    def save(self, out_dir, *, metric="accuracy", target=None):
        """Write ``results.json``, ``results.csv`` and ``learning_curve.png``.

        Parameters
        ----------
        out_dir : str or path-like
        metric : str, default="accuracy"
            Metric of the plot.
        target : float or None, default=None
            Target line in the plot and ``labels_to_reach`` in the JSON.

        Returns
        -------
        paths : dict of str to pathlib.Path
            Keys ``"json"``, ``"csv"``, ``"plot"``.
        """
        from skmixal.plotting import plot_learning_curves

        out_dir = Path(out_dir)
        paths = {"json": out_dir / "results.json", "csv": out_dir / "results.csv",
                 "plot": out_dir / "learning_curve.png"}
        summary = {arm: {"n_labeled": ns, "mean": mean, "std": std}
                   for arm, (ns, mean, std) in self.curves(metric).items()}
        write_json(paths["json"], {
            "config": self.config, "versions": package_versions(),
            "environments": self.environments, "metric": metric,
            "target": target, "summary": summary,
            "labels_to_reach": (None if target is None
                                else self.labels_to_reach(target, metric)),
            "records": self.records})
        write_csv(paths["csv"], self.records, ["arm", "seed", "round", "n_labeled",
                  "accuracy", "f1_macro", "query_s", "fit_s", "labeled_accuracy",
                  "pool_classes", "collapse", "not_learned"])
        plot_learning_curves(
            self.curves(metric), paths["plot"], metric=metric, target=target,
            title=f"{self.config['dataset']['name']}: active learning x Mixup")
        return paths
