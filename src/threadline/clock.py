"""Wall-clock time as the API reports it: integer Unix seconds."""

import time


def now() -> int:
    return int(time.time())
