"""The runtime code_interpreter's code gets: numpy, pandas and matplotlib (Agg) from the
project's own install, input files read by pandas, figures returned as PNG bytes."""

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.sandbox.conftest import Sandbox
from threadline.providers.sandbox import ExecutionResult


def test_a_csv_put_into_mnt_data_is_read_by_pandas(sandbox: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    source.write_text("region,amount\nnorth,10\nsouth,32\n")
    path = sandbox.put_file("csv", "sales.csv", source)
    code = f"import pandas as pd\ndf = pd.read_csv({path!r})\nprint(int(df['amount'].sum()))"
    result = sandbox.execute("csv", code)
    assert result.error is None, result.logs
    assert result.logs == "42\n"
    assert result.files == []  # an input is not an output


def test_numpy_works_and_a_dataframe_written_out_is_collected(sandbox: Sandbox) -> None:
    code = (
        "import numpy as np, pandas as pd\n"
        "frame = pd.DataFrame({'x': np.arange(3), 'y': np.arange(3) ** 2})\n"
        "frame.to_csv('/mnt/data/squares.csv', index=False)\n"
        "frame['y'].sum()"
    )
    result = sandbox.execute("numpy", code)
    assert result.error is None, result.logs
    assert result.logs == "np.int64(5)\n"  # the final expression, as a notebook shows it
    (collected,) = result.files
    assert collected.name == "squares.csv"
    assert collected.path.read_text() == "x,y\n0,0\n1,1\n2,4\n"


def test_a_matplotlib_plot_arrives_as_png_bytes(sandbox: Sandbox) -> None:
    code = (
        "import matplotlib\n"
        "import matplotlib.pyplot as plt\n"
        "print(matplotlib.get_backend())\n"
        "plt.plot([1, 4, 9])\n"
        "plt.title('squares')\n"
        "plt.show()\n"
        "plt.figure()\n"
        "plt.bar(['a', 'b'], [3, 5]);\n"  # left open: shown at the end of the call
    )
    result = sandbox.execute("plot", code)
    assert result.error is None, result.logs
    assert result.logs.strip() == "module://threadline_show"
    assert len(result.images) == 2
    for png in result.images:
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert result.files == []  # figures are not files in /mnt/data
    assert sandbox.execute("plot", "import os\nos.listdir('/mnt/data')").logs == "[]\n"


# Code that picks the Agg backend itself, as models write out of habit: plt.show() still shows.
_PYPLOT = "import matplotlib.pyplot as plt\n"
AGG_SWITCHES = {
    "use before pyplot": "import matplotlib\nmatplotlib.use('Agg')\n" + _PYPLOT,
    "use after pyplot": _PYPLOT + "import matplotlib\nmatplotlib.use('Agg')\n",
    "use forced": "import matplotlib\nmatplotlib.use('agg', force=True)\n" + _PYPLOT,
    "switch_backend": _PYPLOT + "plt.switch_backend('agg')\n",
}


def _one_png(result: ExecutionResult) -> None:
    assert result.error is None, result.logs
    assert len(result.images) == 1, result.logs
    image = Image.open(io.BytesIO(result.images[0]))
    assert image.format == "PNG" and image.width > 100 and image.height > 100


@pytest.mark.parametrize("switch", AGG_SWITCHES.values(), ids=list(AGG_SWITCHES))
def test_show_on_the_agg_backend_the_code_chose_is_one_image(sandbox: Sandbox, switch: str) -> None:
    code = switch + "plt.plot([1, 4, 9])\nplt.show()\nprint(matplotlib.get_backend().lower())"
    result = sandbox.execute("agg", "import matplotlib\n" + code)
    _one_png(result)
    assert result.logs == "agg\n"  # the code's choice stands; only show() is the session's


def test_a_figure_left_open_on_agg_is_one_image_at_the_end_of_the_call(sandbox: Sandbox) -> None:
    code = AGG_SWITCHES["use before pyplot"] + "fig, ax = plt.subplots()\nax.bar(['a'], [3]);"
    _one_png(sandbox.execute("agg-open", code))
    # Shown once: the next call has nothing left to show.
    assert sandbox.execute("agg-open", "plt.get_fignums()").images == []


def test_a_figure_shown_and_one_left_open_are_two_images_not_three(sandbox: Sandbox) -> None:
    code = (
        AGG_SWITCHES["switch_backend"]
        + "plt.plot([1, 2])\nplt.show()\n"  # shown now, and closed
        + "plt.figure()\nplt.plot([2, 1]);"  # still open at the end
    )
    result = sandbox.execute("agg-both", code)
    assert result.error is None, result.logs
    assert len(result.images) == 2
    assert result.images[0] != result.images[1]
