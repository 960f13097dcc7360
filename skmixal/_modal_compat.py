"""Narrow fixes that let modAL run on current scikit-learn, NumPy and pandas.

Every modAL release (0.4.1, 0.4.2.1) is broken on today's dependencies in four
places, and :func:`patch_modal` repairs exactly those, only where they are
broken:

1. ``check_X_y(..., force_all_finite=...)``. scikit-learn 1.6 renamed the
   argument to ``ensure_all_finite`` and 1.8 removed the old name (modAL issue
   #196), so ``ActiveLearner.teach``, ``Committee.teach`` and ``fit`` raise
   ``TypeError``. modAL binds ``check_X_y`` by name (``from sklearn.utils import
   check_X_y``) in ``modAL.models.base`` (0.4.1) or ``modAL.models.learners``
   (0.4.2.x). Only that binding, inside those modules, is replaced by a wrapper
   that renames the keyword; scikit-learn itself is left untouched.

2. ``p_subsample: np.float`` in the signature of
   ``modAL.expected_error.expected_error_reduction``. Annotations are evaluated
   when the ``def`` runs, and NumPy 1.24 removed ``np.float``, so the module
   cannot even be imported. Adding ``np.float`` back to NumPy would change NumPy
   for every library in the process, so instead the module is compiled from its
   own source with ``np.float`` replaced by ``float`` in annotations only (an
   AST rewrite: strings, comments and code bodies are never touched). No
   ``.pyc`` is written for the rewritten code.

3. ``DataFrame.append`` in ``modAL.utils.data.data_vstack``: pandas 2.0 removed
   it, so ``teach`` with DataFrame X (``ActiveLearner``, ``Committee``,
   ``CommitteeRegressor``, ``BayesianOptimizer``) and ``expected_error_reduction``
   on DataFrames fail. modAL's ``data_vstack`` (in ``modAL.utils.data`` and in
   every modAL module that imported it by name) is replaced by a wrapper that
   stacks DataFrames the way ``DataFrame.append`` did (``pd.concat``, a list of
   rows made into a frame first) and hands everything else to modAL's own
   function. pandas is left untouched; with a pandas that still has
   ``append`` the wrapper is never installed.

4. ``from sklearn.cluster.hierarchical import AgglomerativeClustering`` in
   ``modAL.cluster``: scikit-learn 0.24 removed that module path. The import is
   rewritten (AST, as in 2) to ``from sklearn.cluster import ...``.

Why an import hook: the fixes must land in modAL's modules, but importing modAL
from ``import skmixal`` would cost about half a second (modAL pulls in pandas)
and would make skmixal unimportable whenever modAL's own dependencies are
missing. :func:`patch_modal` therefore patches the modAL modules already
imported and puts a finder on :data:`sys.meta_path` that reacts to the few
module names listed below, so modules imported later are fixed as they load.
The finder delegates the actual finding to the other finders and wraps the
loader it gets back; every other import passes through untouched.

``import skmixal`` calls :func:`patch_modal` unless the environment variable
``SKMIXAL_PATCH_MODAL`` is ``0`` (or ``false``, ``no``, ``off``); an explicit
call always patches. Calling it again changes nothing. Where modAL is not
installed, or no fix is needed, it does nothing.

What is not fixed: processes that never import skmixal (joblib's ``loky``
workers, for one) run modAL unpatched, unless what they unpickle imports
skmixal (a learner holding a skmixal estimator does); and ``clone`` /
``get_params`` of a learner (modAL #103) stay broken.
"""

import ast
import functools
import importlib.abc
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import warnings

import numpy as np

__all__ = ["patch_modal", "patch_modal_unless_disabled"]

# Modules that bind sklearn's ``check_X_y`` by name and call it with
# ``force_all_finite=``: 0.4.1 in models.base, 0.4.2.1 in models.learners
# (found by grepping both releases).
_CHECK_X_Y_MODULES = frozenset({"modAL.models.base", "modAL.models.learners"})
# Modules whose function signatures annotate with ``np.float``.
_NP_FLOAT_MODULES = frozenset({"modAL.expected_error"})
# The module defining data_vstack; modules importing it by name import this one
# first, so they pick up the wrapper (those imported before the patch are
# rebound in place).
_DATA_MODULE = "modAL.utils.data"
# Modules importing from sklearn.cluster.hierarchical.
_HIERARCHICAL_MODULES = frozenset({"modAL.cluster"})
# Names under which modAL's modules import NumPy.
_NUMPY_ALIASES = frozenset({"np", "numpy"})

# Set on our finder and on our wrappers, so that a second call (even after this
# module was reloaded) recognises them.
_MARKER = "_skmixal_modal_compat"

# The environment variable that turns off the patch ``import skmixal`` applies.
ENV_VAR = "SKMIXAL_PATCH_MODAL"
_OFF = frozenset({"0", "false", "no", "off"})


def _modal_version():
    """Installed modAL-python version as a string, or None if not installed."""
    try:
        return importlib.metadata.version("modAL-python")
    except importlib.metadata.PackageNotFoundError:
        return None


def _version_tuple(name):
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _modal_installed():
    # find_spec on a top-level name locates the package without executing it.
    return importlib.util.find_spec("modAL") is not None


def _sklearn_check_X_y():
    from sklearn.utils.validation import check_X_y

    return check_X_y


def _needs_check_X_y_fix():
    params = inspect.signature(_sklearn_check_X_y()).parameters
    return "force_all_finite" not in params and "ensure_all_finite" in params


def _needs_np_float_fix():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.float  # noqa: B018 -- probing for the removed alias
    except AttributeError:
        return True
    return False


def _needs_append_fix():
    # Read from the metadata so that deciding costs no pandas import; the
    # wrapper itself also checks, per call, that append is really missing.
    version = _version_tuple("pandas")
    return version is not None and version >= (2, 0)


def _needs_hierarchical_fix():
    version = _version_tuple("scikit-learn")
    return version is not None and version >= (0, 24)


# --- fix 1: check_X_y(force_all_finite=...) --------------------------------

_WRAPPERS = {}


def _check_X_y_wrapper(original):
    """``original`` with ``force_all_finite`` accepted as ``ensure_all_finite``."""
    wrapper = _WRAPPERS.get(original)
    if wrapper is not None:
        return wrapper

    @functools.wraps(original)
    def check_X_y(*args, **kwargs):
        if "force_all_finite" in kwargs:
            if "ensure_all_finite" in kwargs:
                raise TypeError(
                    "check_X_y() got both 'force_all_finite' and "
                    "'ensure_all_finite'; pass only 'ensure_all_finite'."
                )
            kwargs["ensure_all_finite"] = kwargs.pop("force_all_finite")
        return original(*args, **kwargs)

    setattr(check_X_y, _MARKER, True)
    _WRAPPERS[original] = check_X_y
    return check_X_y


def _patch_check_X_y_binding(module):
    """Rebind ``module.check_X_y`` if it is scikit-learn's own function."""
    original = _sklearn_check_X_y()
    if getattr(module, "check_X_y", None) is original:
        module.check_X_y = _check_X_y_wrapper(original)


# --- fix 2: np.float in annotations ----------------------------------------


class _NpFloatInAnnotations(ast.NodeTransformer):
    """Replace ``np.float`` by ``float`` inside annotations, nowhere else."""

    def _fix(self, annotation):
        if annotation is None:
            return None
        return _NpFloatToFloat().visit(annotation)

    def _visit_function(self, node):
        arguments = node.args
        for arg in (
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            arguments.vararg,
            arguments.kwarg,
        ):
            if arg is not None:
                arg.annotation = self._fix(arg.annotation)
        node.returns = self._fix(node.returns)
        self.generic_visit(node)  # nested functions
        return node

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_AnnAssign(self, node):
        node.annotation = self._fix(node.annotation)
        return node


class _NpFloatToFloat(ast.NodeTransformer):
    def visit_Attribute(self, node):
        if (
            node.attr == "float"
            and isinstance(node.value, ast.Name)
            and node.value.id in _NUMPY_ALIASES
        ):
            return ast.copy_location(ast.Name(id="float", ctx=ast.Load()), node)
        return self.generic_visit(node)


class _HierarchicalImport(ast.NodeTransformer):
    """``from sklearn.cluster.hierarchical import X`` -> ``from sklearn.cluster``."""

    def visit_ImportFrom(self, node):
        if node.module == "sklearn.cluster.hierarchical" and node.level == 0:
            node.module = "sklearn.cluster"
        return node


_SOURCE_FIXES = {
    "np.float": _NpFloatInAnnotations,
    "sklearn.cluster.hierarchical": _HierarchicalImport,
}


def _compile_fixed(source, filename, fixes):
    tree = ast.parse(source, filename)
    for fix in sorted(fixes):
        tree = _SOURCE_FIXES[fix]().visit(tree)
    ast.fix_missing_locations(tree)
    with warnings.catch_warnings():
        # modAL.expected_error compares strings with ``is``; Python warns when
        # compiling it, which importing the shipped .pyc would not.
        warnings.simplefilter("ignore", SyntaxWarning)
        return compile(tree, filename, "exec", dont_inherit=True)


# --- fix 3: DataFrame.append in data_vstack ----------------------------------

_VSTACK_WRAPPERS = {}


def _data_vstack_wrapper(original):
    """modAL's ``data_vstack`` with DataFrames stacked as ``DataFrame.append`` did."""
    wrapper = _VSTACK_WRAPPERS.get(original)
    if wrapper is not None:
        return wrapper

    @functools.wraps(original)
    def data_vstack(blocks):
        first = blocks[0] if len(blocks) else None
        if first is None or hasattr(first, "append") or not _is_dataframe(first):
            return original(blocks)
        import pandas as pd

        # What pandas 1.x's DataFrame.append(list) did: rows (Series, dicts)
        # become one frame, with the caller's columns where they all match.
        others = list(blocks[1:])
        if others and not isinstance(others[0], pd.DataFrame):
            rows = pd.DataFrame(others)
            if (first.columns.get_indexer(rows.columns) >= 0).all():
                rows = rows.reindex(columns=first.columns)
            others = [rows]
        return pd.concat([first, *others], sort=False)

    setattr(data_vstack, _MARKER, True)
    _VSTACK_WRAPPERS[original] = data_vstack
    return data_vstack


def _is_dataframe(obj):
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def _original_data_vstack():
    data = sys.modules.get(_DATA_MODULE)
    fn = getattr(data, "data_vstack", None)
    while fn is not None and getattr(fn, _MARKER, False):
        fn = fn.__wrapped__
    return fn


def _patch_data_vstack_binding(module):
    """Rebind ``module.data_vstack`` if it is modAL's own function."""
    original = _original_data_vstack()
    if original is not None and getattr(module, "data_vstack", None) is original:
        module.data_vstack = _data_vstack_wrapper(original)


def _patch_data_vstack_everywhere():
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "modAL" or name.startswith("modAL.")):
            _patch_data_vstack_binding(module)


# --- the import hook --------------------------------------------------------


class _CompatLoader(importlib.abc.Loader):
    """Delegate to modAL's own loader, then apply the fixes to the module."""

    def __init__(self, wrapped, *, fixes):
        self._wrapped = wrapped
        self._source_fixes = frozenset(fixes) & set(_SOURCE_FIXES)
        self._fixes = frozenset(fixes)

    def __getattr__(self, name):  # get_source, get_filename, is_package, ...
        if name == "_wrapped":  # not yet set (copy, unpickling)
            raise AttributeError(name)
        return getattr(self._wrapped, name)

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def get_code(self, fullname):
        source = None
        if self._source_fixes:
            get_source = getattr(self._wrapped, "get_source", None)
            source = get_source(fullname) if get_source is not None else None
        if source is None:
            return self._wrapped.get_code(fullname)
        return _compile_fixed(source, self._wrapped.get_filename(fullname),
                              self._source_fixes)

    def exec_module(self, module):
        if self._source_fixes:
            exec(self.get_code(module.__name__), module.__dict__)
        else:
            self._wrapped.exec_module(module)
        if "check_X_y" in self._fixes:
            _patch_check_X_y_binding(module)
        if "DataFrame.append" in self._fixes:
            _patch_data_vstack_binding(module)


class _ModalCompatFinder(importlib.abc.MetaPathFinder):
    """Wrap the loaders of the few modAL modules that need a fix."""

    def __init__(self, *, module_fixes, fixes):
        self._module_fixes = {name: frozenset(f) for name, f in module_fixes.items()}
        self.fixes = frozenset(fixes)
        setattr(self, _MARKER, True)

    def find_spec(self, fullname, path=None, target=None):
        fixes = self._module_fixes.get(fullname)
        if not fixes:
            return None
        for finder in sys.meta_path:
            if getattr(finder, _MARKER, False):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or isinstance(spec.loader, _CompatLoader):
            return spec
        spec.loader = _CompatLoader(spec.loader, fixes=fixes)
        return spec


def _installed_finder():
    for finder in sys.meta_path:
        if getattr(finder, _MARKER, False):
            return finder
    return None


def patch_modal():
    """Make modAL work on current scikit-learn, NumPy and pandas.

    Patches the modAL modules already imported and installs an import hook for
    those imported later (see the module docstring). Safe to call repeatedly.
    ``import skmixal`` calls it, unless ``SKMIXAL_PATCH_MODAL=0``.

    Returns
    -------
    fixes : frozenset of str
        The fixes in force, among ``"check_X_y"``, ``"np.float"``,
        ``"DataFrame.append"`` and ``"sklearn.cluster.hierarchical"``; empty
        when modAL is not installed or needs no fix.
    """
    finder = _installed_finder()
    if finder is not None:
        return frozenset(getattr(finder, "fixes", ()))
    if not _modal_installed():
        return frozenset()

    module_fixes = {}

    def add(fix, modules):
        for name in modules:
            module_fixes.setdefault(name, set()).add(fix)

    fixes = set()
    if _needs_check_X_y_fix():
        fixes.add("check_X_y")
        add("check_X_y", _CHECK_X_Y_MODULES)
        # Modules imported before skmixal: any modAL module holding sklearn's
        # check_X_y, not only the ones listed.
        for name, module in list(sys.modules.items()):
            if module is not None and (name == "modAL" or name.startswith("modAL.")):
                _patch_check_X_y_binding(module)
    if _needs_np_float_fix():
        # A module that failed on np.float was never put in sys.modules, so
        # there is nothing to patch in place; the hook handles the next import.
        fixes.add("np.float")
        add("np.float", _NP_FLOAT_MODULES)
    if _needs_append_fix():
        fixes.add("DataFrame.append")
        add("DataFrame.append", {_DATA_MODULE})
        _patch_data_vstack_everywhere()
    if _needs_hierarchical_fix():
        fixes.add("sklearn.cluster.hierarchical")
        add("sklearn.cluster.hierarchical", _HIERARCHICAL_MODULES)

    if fixes:
        sys.meta_path.insert(0, _ModalCompatFinder(module_fixes=module_fixes,
                                                   fixes=fixes))
    return frozenset(fixes)


def patch_modal_unless_disabled():
    """What ``import skmixal`` runs: :func:`patch_modal`, unless turned off.

    Setting the environment variable ``SKMIXAL_PATCH_MODAL`` to ``0``,
    ``false``, ``no`` or ``off`` (any case) turns the import-time patch off;
    :func:`patch_modal` can still be called explicitly.

    Returns
    -------
    fixes : frozenset of str
        As from :func:`patch_modal`; empty when turned off.
    """
    if os.environ.get(ENV_VAR, "").strip().lower() in _OFF:
        return frozenset()
    return patch_modal()
