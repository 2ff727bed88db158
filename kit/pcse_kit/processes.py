"""Child processes that cannot outlive us, even when we are killed with SIGKILL."""

from __future__ import annotations

import ctypes
import os
import signal
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

_PR_SET_PDEATHSIG: Final = 1


def _libc_prctl() -> Callable[..., int]:
    function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return function


# Resolved once at import: symbol lookup after fork, in a child of a threaded parent, could
# take the loader's lock while another thread held it.
_prctl: Final = _libc_prctl()


def set_parent_death_signal(sig: signal.Signals, *, expected_parent: int) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies.

    If the parent is already gone (we were re-parented before the call), exit now: the
    signal would never come.
    """
    if _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != expected_parent:
        os._exit(1)


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` making a child receive ``sig`` when we die, even by SIGKILL.

    subprocess runs ``preexec_fn`` after it has changed uid and gid, which matters: a
    credential change clears the parent-death signal, so setting it any earlier would not
    stick. The signal follows the *thread* that forked, so spawn from a long-lived thread.
    """
    parent_pid = os.getpid()

    def setup() -> None:
        set_parent_death_signal(sig, expected_parent=parent_pid)

    return setup
