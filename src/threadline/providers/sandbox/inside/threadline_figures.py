"""Inside the sandbox: matplotlib figures as image outputs, whatever backend the code chose.

The session's backend is ``threadline_show`` (``MPLBACKEND``): ``plt.show()`` renders every open
figure to PNG bytes (``PENDING``) and closes it, and the driver takes them after each call, with
the figures still open then, as a notebook's inline backend does. Code often switches to Agg
itself (``matplotlib.use('Agg')``, ``plt.switch_backend('agg')``), a habit from scripts, where
Agg's ``show`` does nothing: so the Agg backend's ``show`` is made this one when matplotlib
loads it (an import hook, installed by the driver before any user code runs: nothing of
matplotlib is imported until the code imports it). Standard library only at import time."""

import io
import sys
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

# PNGs rendered since the driver last took them.
PENDING: list[bytes] = []

_AGG_MODULE = "matplotlib.backends.backend_agg"


def flush_figures() -> None:
    """Render every open figure into ``PENDING``, then close them all (a figure shown is
    closed: it never comes back twice)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in pyplot.get_fignums():
        figure = pyplot.figure(number)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        PENDING.append(buffer.getvalue())
    pyplot.close("all")


def show(*args: object, **kwargs: object) -> None:
    flush_figures()


class _AggShowsFigures(MetaPathFinder):
    """Finds matplotlib's Agg backend as the other finders do, and sets its ``show`` to ours
    once it is loaded: ``pyplot.switch_backend`` reads the backend module's ``show``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != _AGG_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            _show_after_load(loader)
        return spec


def _show_after_load(loader: Loader) -> None:
    load = loader.exec_module

    def exec_module(module: ModuleType) -> None:
        load(module)
        module.show = show  # type: ignore[attr-defined]

    loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's loader only


def install() -> None:
    """Make Agg's ``show`` ours from now on (before matplotlib is imported)."""
    if not any(isinstance(finder, _AggShowsFigures) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AggShowsFigures())
