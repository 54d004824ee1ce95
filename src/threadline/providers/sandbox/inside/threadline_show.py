"""Inside the sandbox: the matplotlib backend (``MPLBACKEND=module://threadline_show``).

Figures render with Agg; ``plt.show()`` turns every open figure into PNG bytes the driver sends
to the host as image outputs, then closes them (``threadline_figures``, which also gives Agg
itself this ``show``, for code that switches to it)."""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from threadline_figures import show

FigureCanvas = FigureCanvasAgg

__all__ = ["FigureCanvas", "show"]
