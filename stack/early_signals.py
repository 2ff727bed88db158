"""Stop signals work from the first moment of ``python -m stack ...`` (what ``make up`` runs).

The package imports everything it needs before ``__main__`` runs, which takes seconds on a
busy machine, and a process started with SIGINT ignored (a shell does that to a command it
runs in the background without job control) would lose a Ctrl-C sent meanwhile for good:
Python installs no handler of its own for an ignored signal. So the package imports this
first, and under ``python -m`` (``sys.argv[0]`` is ``-m`` while the package is being
imported) a stop signal ends the process at once; ``__main__`` then installs the handlers that
stop the stack in order. Imported any other way (the tests), this does nothing.
"""

from __future__ import annotations

import signal
import sys
from typing import Final

STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if sys.argv[:1] == ["-m"]:
    for _signum in STOP_SIGNALS:
        signal.signal(_signum, _stop)
    # A mask is inherited too; a blocked signal would wait until __main__ unblocks it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
