"""Worker processes end when the process that started them dies.

A pool's workers wait on a queue whose write end they hold themselves, so when the
parent is killed (``kill -9``, the out-of-memory killer, a CI job's timeout) nothing
tells them: they would wait for work forever, each holding an open index and its
memory. A daemon thread in every worker watches the parent's pid instead.
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds between two looks at the parent's pid.
POLL_S = 0.5


def exit_with_parent() -> None:
    """In a worker process: end it (exit status 1) as soon as its parent is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os._exit(1)  # the parent is gone: nobody awaits this worker's results

    threading.Thread(target=watch, name="provcheck-parent-watch", daemon=True).start()
