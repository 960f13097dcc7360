"""Narrow fixes that let modAL run on current scikit-learn and NumPy.

Every modAL release (0.4.1, 0.4.2.1) is broken on today's dependencies in two
places, and :func:`patch_modal` repairs exactly those two, only where they are
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

Why an import hook: both fixes must land in modAL's modules, but importing modAL
from ``import skmixal`` would cost about half a second (modAL pulls in pandas)
and would make skmixal unimportable whenever modAL's own dependencies are
missing. :func:`patch_modal` therefore patches the modAL modules already
imported and puts a finder on :data:`sys.meta_path` that reacts to the few
module names listed below, so modules imported later are fixed as they load.
The finder delegates the actual finding to the other finders and wraps the
loader it gets back; every other import passes through untouched.

Calling :func:`patch_modal` again changes nothing. Where modAL is not installed,
or neither fix is needed (scikit-learn < 1.8, NumPy < 1.24), it does nothing.
"""

import ast
import functools
import importlib.abc
import importlib.metadata
import importlib.util
import inspect
import sys
import warnings

import numpy as np

__all__ = ["patch_modal"]

# Modules that bind sklearn's ``check_X_y`` by name and call it with
# ``force_all_finite=``: 0.4.1 in models.base, 0.4.2.1 in models.learners
# (found by grepping both releases).
_CHECK_X_Y_MODULES = frozenset({"modAL.models.base", "modAL.models.learners"})
# Modules whose function signatures annotate with ``np.float``.
_NP_FLOAT_MODULES = frozenset({"modAL.expected_error"})
# Names under which modAL's modules import NumPy.
_NUMPY_ALIASES = frozenset({"np", "numpy"})

# Set on our finder and on our check_X_y wrapper, so that a second call (even
# after this module was reloaded) recognises them.
_MARKER = "_skmixal_modal_compat"


def _modal_version():
    """Installed modAL-python version as a string, or None if not installed."""
    try:
        return importlib.metadata.version("modAL-python")
    except importlib.metadata.PackageNotFoundError:
        return None


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


def _compile_without_np_float(source, filename):
    tree = _NpFloatInAnnotations().visit(ast.parse(source, filename))
    ast.fix_missing_locations(tree)
    with warnings.catch_warnings():
        # modAL.expected_error compares strings with ``is``; Python warns when
        # compiling it, which importing the shipped .pyc would not.
        warnings.simplefilter("ignore", SyntaxWarning)
        return compile(tree, filename, "exec", dont_inherit=True)


# --- the import hook --------------------------------------------------------


class _CompatLoader(importlib.abc.Loader):
    """Delegate to modAL's own loader, then apply the fixes to the module."""

    def __init__(self, wrapped, *, fix_np_float, fix_check_X_y):
        self._wrapped = wrapped
        self._fix_np_float = fix_np_float
        self._fix_check_X_y = fix_check_X_y

    def __getattr__(self, name):  # get_source, get_filename, is_package, ...
        if name == "_wrapped":  # not yet set (copy, unpickling)
            raise AttributeError(name)
        return getattr(self._wrapped, name)

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def get_code(self, fullname):
        source = None
        if self._fix_np_float:
            get_source = getattr(self._wrapped, "get_source", None)
            source = get_source(fullname) if get_source is not None else None
        if source is None:
            return self._wrapped.get_code(fullname)
        return _compile_without_np_float(source, self._wrapped.get_filename(fullname))

    def exec_module(self, module):
        if self._fix_np_float:
            exec(self.get_code(module.__name__), module.__dict__)
        else:
            self._wrapped.exec_module(module)
        if self._fix_check_X_y:
            _patch_check_X_y_binding(module)


class _ModalCompatFinder(importlib.abc.MetaPathFinder):
    """Wrap the loaders of the few modAL modules that need a fix."""

    def __init__(self, *, check_X_y_modules, np_float_modules):
        self._check_X_y_modules = frozenset(check_X_y_modules)
        self._np_float_modules = frozenset(np_float_modules)
        setattr(self, _MARKER, True)

    def find_spec(self, fullname, path=None, target=None):
        fix_check_X_y = fullname in self._check_X_y_modules
        fix_np_float = fullname in self._np_float_modules
        if not (fix_check_X_y or fix_np_float):
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
        spec.loader = _CompatLoader(
            spec.loader, fix_np_float=fix_np_float, fix_check_X_y=fix_check_X_y
        )
        return spec


def _installed_finder():
    for finder in sys.meta_path:
        if getattr(finder, _MARKER, False):
            return finder
    return None


def patch_modal():
    """Make modAL work on scikit-learn >= 1.8 and NumPy >= 1.24.

    Patches the modAL modules already imported and installs an import hook for
    those imported later (see the module docstring). Safe to call repeatedly.

    Returns
    -------
    fixes : frozenset of str
        The fixes in force: ``"check_X_y"`` and/or ``"np.float"``; empty when
        modAL is not installed or needs no fix.
    """
    if _installed_finder() is not None:
        finder = _installed_finder()
        fixes = set()
        if finder._check_X_y_modules:
            fixes.add("check_X_y")
        if finder._np_float_modules:
            fixes.add("np.float")
        return frozenset(fixes)

    if not _modal_installed():
        return frozenset()

    fixes = set()
    check_X_y_modules = frozenset()
    np_float_modules = frozenset()
    if _needs_check_X_y_fix():
        fixes.add("check_X_y")
        check_X_y_modules = _CHECK_X_Y_MODULES
        # Modules imported before skmixal: any modAL module holding sklearn's
        # check_X_y, not only the ones listed.
        for name, module in list(sys.modules.items()):
            if module is not None and (name == "modAL" or name.startswith("modAL.")):
                _patch_check_X_y_binding(module)
    if _needs_np_float_fix():
        # A module that failed on np.float was never put in sys.modules, so
        # there is nothing to patch in place; the hook handles the next import.
        fixes.add("np.float")
        np_float_modules = _NP_FLOAT_MODULES

    if fixes:
        sys.meta_path.insert(
            0,
            _ModalCompatFinder(
                check_X_y_modules=check_X_y_modules, np_float_modules=np_float_modules
            ),
        )
    return frozenset(fixes)
