"""Staging directories that never outlive their conversion.

A conversion writes its artifact into ``OUTDIR/.modelport-XXXX/`` and renames it into place
only once verified.  :func:`staging_dir` removes that directory when the block ends, however
it ends, including on SIGTERM and SIGINT (what ``timeout``, Kubernetes and Ctrl-C send):
its handlers remove every live staging directory, restore the handlers that were there
before, and hand the signal on (the previous Python handler runs, e.g. ``KeyboardInterrupt``
for SIGINT; with the default disposition the signal is re-raised, so the process still dies
of it: exit status 128 + signum in a shell).  A process killed outright (SIGKILL, a crash)
cannot clean up; each staging directory therefore holds a marker naming its owner, and
:func:`sweep_stale` removes the directories whose owner is gone (the next conversion in
the same directory calls it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PREFIX", "MARKER", "staging_dir", "sweep_stale"]

#: Name prefix of staging directories.
PREFIX = ".modelport-"
#: File inside each staging directory naming the process that owns it.
MARKER = ".modelport-owner.json"

_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGINT", None)) if s is not None)
_lock = threading.RLock()
_active: list[Path] = []
_previous: dict[int, object] = {}


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused PID apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    now = _start_time(pid)
    return start is None or now is None or now == start


def _remove_all() -> None:
    for d in list(_active):
        shutil.rmtree(d, ignore_errors=True)
    _active.clear()


def _restore_handlers() -> None:
    for signum, handler in _previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signum, handler)  # type: ignore[arg-type]
    _previous.clear()


def _on_signal(signum: int, frame) -> None:
    with _lock:
        previous = _previous.get(signum, signal.SIG_DFL)
        _remove_all()
        _restore_handlers()
    if callable(previous):
        previous(signum, frame)  # e.g. default_int_handler: KeyboardInterrupt
        return
    if previous == signal.SIG_IGN:
        return
    # Default disposition: die of the same signal (exit status 128 + signum).
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current == signal.SIG_IGN or current is None:
            continue  # an ignored signal will not end the process; a foreign C handler stays
        _previous[signum] = current
        signal.signal(signum, _on_signal)


@contextlib.contextmanager
def staging_dir(parent: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh ``.modelport-XXXX`` directory inside ``parent``, removed when the block ends,
    on SIGTERM / SIGINT, or (after a crash) by the next :func:`sweep_stale`."""
    parent = Path(parent)
    sweep_stale(parent)
    with _lock:
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        first = not _active
        _active.append(path)
        if first:
            _install()
    try:
        marker = {"pid": os.getpid(), "start": _start_time(os.getpid()), "host": socket.gethostname()}
        (path / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        yield path
    finally:
        with _lock:
            shutil.rmtree(path, ignore_errors=True)
            if path in _active:
                _active.remove(path)
            if not _active:
                _restore_handlers()


def sweep_stale(parent: str | os.PathLike[str]) -> list[Path]:
    """Remove the staging directories in ``parent`` left by modelport processes of this host
    that no longer run (their marker's PID is dead or reused); returns what was removed.
    Directories without a readable marker, or owned by a live process or another host, stay."""
    removed: list[Path] = []
    try:
        entries = list(Path(parent).glob(PREFIX + "*"))
    except OSError:
        return removed
    host = socket.gethostname()
    for d in entries:
        try:
            if d.is_symlink() or not d.is_dir():
                continue
            owner = json.loads((d / MARKER).read_text(encoding="utf-8"))
            pid, start = int(owner["pid"]), owner.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner.get("host") != host or pid <= 0 or _alive(pid, start):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed
