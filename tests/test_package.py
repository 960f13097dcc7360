"""The package's face: lazy names that resolve to their homes."""

import subprocess
import sys

import skmixal
import skmixal.strategies


def test_the_package_exports_every_strategy_as_the_same_function():
    # skmixal.__all__ repeats the strategies' names so that they can load
    # lazily: the two lists must not drift apart
    assert set(skmixal.strategies.__all__) <= set(skmixal.__all__)
    for name in skmixal.strategies.__all__:
        assert getattr(skmixal, name) is getattr(skmixal.strategies, name)


def test_importing_the_package_does_not_import_torch():
    code = "import sys, skmixal; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "False"


def test_the_method_names_the_cli_and_runner_spell_out_are_the_estimators():
    # the CLI and the runner list the methods by hand, so that they load
    # without torch: the lists must not drift from skmixal.training.METHODS
    from skmixal.cli import SSL_CHOICES
    from skmixal.experiment import SSL_METHODS
    from skmixal.training import METHODS

    assert set(SSL_METHODS) == set(METHODS)
    assert set(SSL_CHOICES) == {*METHODS, "auto"}


def test_the_command_line_and_its_error_classes_load_without_torch():
    # `skmixal --version` and a bad flag answer at once; main() catches
    # TrainingDivergedError, so its home must stay torch-free
    code = ("import sys, skmixal.cli, skmixal; "
            "skmixal.TrainingDivergedError, skmixal.SemiSupervisedCollapseWarning; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "False"


def test_the_error_classes_are_the_ones_the_estimator_uses():
    from skmixal.training import guard

    assert guard.SemiSupervisedCollapseWarning is skmixal.SemiSupervisedCollapseWarning
    assert issubclass(skmixal.TrainingDivergedError, ValueError)


def _documented_value(text):
    """A numpydoc default as the code would hold it: a literal, or a class named
    by its dotted path (``torch.nn.CrossEntropyLoss``, ``TensorLoader``)."""
    import ast

    import torch

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        head, *rest = text.split(".")
        value = {"torch": torch, "TensorLoader": skmixal.TensorLoader}[head]
        for part in rest:
            value = getattr(value, part)
        return value


def test_every_documented_default_is_the_signatures():
    # Each "name : type, default=VALUE" line in the docstrings of the public
    # classes and functions against the signature: documentation that drifts
    # from the code misleads silently (ALFA-Mix's max_candidates=20_000 is one
    # no query test can reach: it needs a pool of 20,000 candidates).
    import inspect
    import re

    import torch

    line = re.compile(r"^(\w+(?:, \w+)*) : [^\n]*?\bdefault=(.+?)$", re.M)
    # a sentence, not a value: the device the estimator picks at import
    described = {("MixupNetClassifier", "device"):
                 "cuda" if torch.cuda.is_available() else "cpu"}
    checked = set()
    for name in skmixal.__all__:
        obj = getattr(skmixal, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or (
                inspect.isclass(obj) and issubclass(obj, BaseException)):
            continue
        params = inspect.signature(obj).parameters
        for names, text in line.findall(inspect.getdoc(obj) or ""):
            for param in names.split(", "):
                assert param in params, f"{name} documents {param}, not a parameter"
                want = described.get((name, param))
                if want is None:
                    want = _documented_value(text)
                got = params[param].default
                assert got == want, (
                    f"{name}({param}=...): documented {text}, is {got!r}")
                checked.add((name, param))
    # the strategies' settings and the estimators' parameters are all read
    assert ("alfamix_sampling", "max_candidates") in checked
    assert ("MixupNetClassifier", "criterion") in checked
    assert len(checked) >= 110
