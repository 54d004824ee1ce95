"""Inside the sandbox: the matplotlib backend (``MPLBACKEND=module://threadline_show``).

Figures render with Agg; ``plt.show()`` turns every open figure into PNG bytes the driver sends
to the host as image outputs, then closes them. The driver also flushes figures still open when a
call ends, as a notebook's inline backend does."""

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg

# PNGs rendered since the driver last took them.
PENDING: list[bytes] = []


def flush_figures() -> None:
    from matplotlib import pyplot

    for number in pyplot.get_fignums():
        figure = pyplot.figure(number)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        PENDING.append(buffer.getvalue())
    pyplot.close("all")


def show(*args: object, **kwargs: object) -> None:
    flush_figures()
