"""Canaries for the private skorch and torch APIs that skmixal relies on.

Each test checks that one private name still exists and still behaves the way
skmixal's code assumes. When an upstream release changes it, the failure names
the API and the skmixal code to revisit, instead of an obscure error somewhere
inside a fit.
"""

import inspect

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn

import skmixal.classifier as classifier_module
import skmixal.inference as inference
from skmixal import MLP, MixupNetClassifier
from skmixal.modules import SeededDropout
from skmixal.strategies import bayesian


def _changed(api, where, detail):
    return (f"upstream private API changed: {api}. skmixal relies on it in "
            f"{where}; revisit that code. Detail: {detail}")


def _plain_net(**kwargs):
    return NeuralNetClassifier(MLP, module__n_features=4, module__n_classes=3,
                               criterion=nn.CrossEntropyLoss, train_split=None,
                               max_epochs=1, verbose=0, device="cpu", **kwargs)


def _tiny_data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(12, 4)).astype(np.float32), np.arange(12) % 3


# -- skorch: NeuralNet.__init__ and the __getattr__ workaround -----------------------
def test_skorch_init_stores_params_then__params_to_validate_then_fit_state():
    where = ("MixupNetClassifier.__getattr__ (skmixal/classifier.py), which "
             "returns the fit-state defaults only once '_params_to_validate' is "
             "in __dict__")
    order = []

    class Recording(NeuralNetClassifier):
        def __setattr__(self, name, value):
            order.append(name)
            super().__setattr__(name, value)

    net = Recording(MLP, criterion=nn.CrossEntropyLoss, module__n_features=4)
    assert "_params_to_validate" in vars(net), _changed(
        "skorch NeuralNet.__init__ sets self._params_to_validate", where,
        f"attributes set by __init__: {order}")
    assert net._params_to_validate == {"module__n_features"}, _changed(
        "NeuralNet._params_to_validate holds the extra keyword arguments", where,
        f"got {net._params_to_validate!r}")
    marker = order.index("_params_to_validate")
    params = set(inspect.signature(NeuralNet.__init__).parameters) - {
        "self", "kwargs"}
    early = [name for name in order[marker + 1:] if name in params]
    late = [name for name in classifier_module._FIT_STATE_DEFAULTS
            if name in order and order.index(name) < marker]
    assert not early and not late, _changed(
        "NeuralNet.__init__ sets _params_to_validate after every parameter and "
        "before history_/initialized_/virtual_params_", where,
        f"order of assignments: {order}")


def test_skorch_init_sets_exactly_the_fit_state_attributes():
    where = ("skmixal/classifier.py: _FIT_STATE_DEFAULTS, popped in "
             "MixupNetClassifier.__init__ and served by __getattr__")
    plain = _plain_net()
    fit_state = {name: value for name, value in vars(plain).items()
                 if name.endswith("_") and not name.startswith("_")}
    expected = {name: make() for name, make in
                classifier_module._FIT_STATE_DEFAULTS.items()}
    assert fit_state == expected, _changed(
        "the attributes ending in '_' that NeuralNet.__init__ sets, and their "
        "defaults", where, f"skorch sets {fit_state!r}, skmixal expects "
        f"{expected!r}")
    ours = MixupNetClassifier(MLP, module__n_features=4, module__n_classes=3)
    # scikit-learn: __init__ stores parameters only
    assert not [name for name in vars(ours) if name in expected], _changed(
        "NeuralNet.__init__'s fit state", where, f"left in __dict__: {vars(ours)}")
    assert (ours.history_, ours.initialized_, ours.virtual_params_) == (
        None, False, {}), _changed("reading the fit state before fit", where,
                                   "__getattr__ no longer serves the defaults")
    # skorch's set_params reads virtual_params_ before any fit, and
    # initialize() registers into it in place
    ours.set_params(lr=0.5)
    ours.initialize()
    assert ours.initialized_ is True and ours.virtual_params_, _changed(
        "NeuralNet.initialize fills virtual_params_ in place", where,
        f"virtual_params_={ours.virtual_params_!r}")
    ours.set_params(optimizer__lr=0.25)  # a virtual parameter since initialize
    assert ours.optimizer_.param_groups[0]["lr"] == 0.25, _changed(
        "virtual parameters (optimizer__lr) applied through virtual_params_",
        where, f"lr is {ours.optimizer_.param_groups[0]['lr']}")
    assert clone(ours).get_params()["lr"] == 0.5


# -- skorch: _get_param_names ----------------------------------------------------------
def test_skorch__get_param_names_lists_the_instance_dict():
    where = ("MixupNetClassifier._get_param_names (skmixal/classifier.py), which "
             "drops skorch's names starting with '_'")
    assert callable(getattr(NeuralNet, "_get_param_names", None)), _changed(
        "NeuralNet._get_param_names", where, "the method is gone")
    plain = _plain_net()
    plain._private_state = 1  # as a fit leaves its samplers and generators
    names = plain._get_param_names()
    assert "_private_state" in names and "module__n_features" in names, _changed(
        "NeuralNet._get_param_names lists every key of __dict__ not ending "
        "in '_'", where, f"got {sorted(names)}")
    assert set(plain.get_params(deep=False)) == set(names), _changed(
        "BaseEstimator.get_params built from NeuralNet._get_param_names", where,
        "get_params no longer uses it")
    ours = MixupNetClassifier(module__n_features=4)
    ours._private_state = 1
    assert "_private_state" not in ours.get_params(), _changed(
        "NeuralNet._get_param_names", where, "a private attribute became a "
        "parameter of MixupNetClassifier")


# -- skorch: _default_callbacks --------------------------------------------------------
def test_skorch__default_callbacks_is_a_property_of_name_callback_pairs():
    where = ("MixupNetClassifier._default_callbacks (skmixal/classifier.py), "
             "which replaces valid_acc so that it scores the labels' codes")
    prop = inspect.getattr_static(NeuralNetClassifier, "_default_callbacks", None)
    assert isinstance(prop, property), _changed(
        "NeuralNetClassifier._default_callbacks", where,
        f"expected a property, got {prop!r}")
    pairs = _plain_net()._default_callbacks
    assert all(isinstance(name, str) and isinstance(cb, Callback)
               for name, cb in pairs), _changed(
        "NeuralNetClassifier._default_callbacks", where,
        f"expected (name, Callback) pairs, got {pairs!r}")
    assert {"train_loss", "valid_loss", "valid_acc"} <= dict(pairs).keys(), _changed(
        "NeuralNetClassifier._default_callbacks", where,
        f"names: {[name for name, _ in pairs]}")
    ours = MixupNetClassifier(MLP, module__n_features=4,
                              module__n_classes=3).initialize()
    scoring = dict(ours.callbacks_)["valid_acc"].scoring
    assert scoring is classifier_module._code_accuracy, _changed(
        "NeuralNet.initialize_callbacks reads self._default_callbacks", where,
        f"valid_acc scores with {scoring!r}")


# -- skorch: _get_predict_nonlinearity -------------------------------------------------
def test_skorch__get_predict_nonlinearity_gives_softmax_for_cross_entropy():
    where = ("skmixal.inference.iter_outputs (skmixal/inference.py), the "
             "probabilities every query strategy scores")
    assert callable(getattr(NeuralNet, "_get_predict_nonlinearity", None)), _changed(
        "NeuralNet._get_predict_nonlinearity", where, "the method is gone")
    net = MixupNetClassifier(MLP, module__n_features=4, module__n_classes=3,
                             device="cpu").initialize()
    logits = torch.tensor([[1.0, 2.0, -1.0], [0.0, 0.0, 3.0]])
    got = net._get_predict_nonlinearity()(logits)
    z = logits.double().numpy()
    hand = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(got.numpy(), hand, rtol=1e-6, err_msg=_changed(
        "NeuralNet._get_predict_nonlinearity() with predict_nonlinearity='auto' "
        "and CrossEntropyLoss", where, "it is no longer the softmax"))
    net.set_params(predict_nonlinearity=None)
    assert torch.equal(net._get_predict_nonlinearity()(logits), logits), _changed(
        "NeuralNet._get_predict_nonlinearity() with predict_nonlinearity=None",
        where, "it is no longer the identity")


# -- skorch: _routing_method -----------------------------------------------------------
def test_skorch__routing_method_matches_the_version_check():
    where = ("skmixal/classifier.py: _SKORCH_ROUTES (skorch >= 1.4) and "
             "MixupNetClassifier._train, which sends _routing_method='fit' to "
             "NeuralNet.partial_fit")
    X, y = _tiny_data()
    try:
        _plain_net().partial_fit(X, y, _routing_method="fit")
        pops = True
    except TypeError as exc:  # skorch 1.0-1.3 hand it to the module's forward
        assert "_routing_method" in str(exc), exc
        pops = False
    assert pops == classifier_module._SKORCH_ROUTES, _changed(
        "NeuralNet.partial_fit(..., _routing_method=...)", where,
        f"skorch {'takes' if pops else 'rejects'} the keyword but _SKORCH_ROUTES "
        f"is {classifier_module._SKORCH_ROUTES}")
    seen = []

    class Spy(NeuralNetClassifier):
        def fit_loop(self, X, y=None, epochs=None, **fit_params):
            seen.append(fit_params.get("_routing_method"))
            return super().fit_loop(X, y, epochs=epochs, **fit_params)

    class OurSpy(MixupNetClassifier):
        def fit_loop(self, X, y=None, epochs=None, **fit_params):
            seen.append(fit_params.get("_routing_method"))
            return super().fit_loop(X, y, epochs=epochs, **fit_params)

    Spy(MLP, module__n_features=4, module__n_classes=3,
        criterion=nn.CrossEntropyLoss, train_split=None, max_epochs=1,
        device="cpu").fit(X, y)
    OurSpy(max_epochs=1, min_steps=0, device="cpu").fit(X, y)
    # skmixal's fit must route like skorch's own fit
    assert seen[1] == seen[0], _changed(
        "what NeuralNet.fit passes to fit_loop as _routing_method", where,
        f"skorch's fit: {seen[0]!r}, MixupNetClassifier.fit: {seen[1]!r}")


# -- torch: nn.modules.dropout._DropoutNd ----------------------------------------------
def test_torch__DropoutNd_is_the_base_of_every_dropout_layer():
    where = ("skmixal.inference.evaluating(mc_dropout=True) "
             "(skmixal/inference.py) and _ConsistentDropout "
             "(skmixal/strategies/bayesian.py), which find dropout layers by it")
    base = getattr(getattr(nn.modules, "dropout", None), "_DropoutNd", None)
    assert isinstance(base, type) and issubclass(base, nn.Module), _changed(
        "torch.nn.modules.dropout._DropoutNd", where, f"got {base!r}")
    layers = [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
              nn.AlphaDropout, nn.FeatureAlphaDropout, SeededDropout]
    missing = [layer.__name__ for layer in layers if not issubclass(layer, base)]
    assert not missing, _changed("torch.nn.modules.dropout._DropoutNd", where,
                                 f"no longer the base of {missing}")
    layer = nn.Dropout(0.5)
    assert layer.p == 0.5, _changed("_DropoutNd.p, the drop probability", where,
                                    f"p={getattr(layer, 'p', None)!r}")
    x = torch.ones(1000)
    layer.eval()
    assert torch.equal(layer(x), x)
    # switching one layer to training mode is what turns MC dropout on
    layer.train()
    kept = layer(x)
    assert 0 < int((kept == 0).sum()) < 1000, _changed(
        "a _DropoutNd layer in training mode drops units", where,
        f"{int((kept == 0).sum())} of 1000 dropped")


@pytest.mark.parametrize("name, module", [
    ("_params_to_validate", classifier_module),
    ("_get_param_names", classifier_module),
    ("_default_callbacks", classifier_module),
    ("_get_predict_nonlinearity", inference),
    ("_routing_method", classifier_module),
    ("_DropoutNd", inference),
    ("_DropoutNd", bayesian),
])
def test_each_canary_names_code_that_still_uses_it(name, module):
    # a canary is only worth keeping while skmixal uses the API it watches
    assert name in inspect.getsource(module), (
        f"{module.__name__} no longer uses {name}: remove or move its canary "
        "in tests/test_upstream_apis.py")
