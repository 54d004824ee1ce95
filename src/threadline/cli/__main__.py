"""``python -m threadline.cli``: the same as the ``threadline`` command."""

import sys

from threadline.cli import main

sys.exit(main())
