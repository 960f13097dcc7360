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
