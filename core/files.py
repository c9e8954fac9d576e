"""Opening model files that may be hostile: regular files only, never blocking, size-capped.

Every reader of a model file goes through :func:`open_regular` (or :func:`read_head` /
:func:`read_model_bytes`), so that:

* a FIFO, socket, device or directory is refused BEFORE anything could block on it: the file
  is opened with ``O_NONBLOCK`` (opening a FIFO for reading then returns at once instead of
  waiting for a writer) and ``fstat`` of the open descriptor must say "regular file";
* a file larger than :data:`MAX_MODEL_BYTES` is refused before it is read: a corrupt or
  hostile file must not reach ``json.loads`` (whose Python objects take ~10x the file's bytes).

The cap is a documented constant (``docs/hostile-input.md``); it can be changed only
explicitly, with the environment variable ``MODELPORT_MAX_MODEL_BYTES`` (a byte count) or the
``limit=`` argument.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from modelport.core.errors import ModelFormatError

__all__ = ["MAX_MODEL_BYTES", "max_model_bytes", "open_regular", "read_head", "read_model_bytes", "sha256_file", "is_pickle"]

#: Largest model file (and largest archive member, decompressed) modelport reads: 1 GiB.
#: The largest real XGBoost JSON models we know of are a few hundred MB.
MAX_MODEL_BYTES = 1 << 30

_ENV = "MODELPORT_MAX_MODEL_BYTES"


def max_model_bytes() -> int:
    """:data:`MAX_MODEL_BYTES`, or the byte count in ``$MODELPORT_MAX_MODEL_BYTES`` when set."""
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return MAX_MODEL_BYTES
    if not raw.isdigit() or len(raw) > 18:
        raise ModelFormatError(f"{_ENV} must be a positive byte count, got {raw[:30]!r}")
    return int(raw)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], *, what: str = "model file") -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a regular file without ever
    blocking (``O_NONBLOCK``, then ``fstat`` on the descriptor: no stat/open race)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ModelFormatError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelFormatError(f"cannot read {what} {str(path)!r}: {_kind(st.st_mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_head(path: str | os.PathLike[str], n: int, *, what: str = "model file") -> bytes:
    """The first ``n`` bytes of a regular file (see :func:`open_regular`)."""
    with open_regular(path, what=what) as fh:
        try:
            return fh.read(n)
        except OSError as exc:
            raise ModelFormatError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None


def read_model_bytes(path: str | os.PathLike[str], *, what: str = "model file", limit: int | None = None) -> bytes:
    """The whole regular file, refused up front when larger than ``limit`` (default
    :func:`max_model_bytes`), and never more than ``limit`` bytes read even if it grows."""
    limit = max_model_bytes() if limit is None else limit
    path = Path(path)
    with open_regular(path, what=what) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ModelFormatError(f"{path.name}: the file is {size} bytes, more than the {limit}-byte limit "
                                   f"for a {what} (set {_ENV} to raise it)")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise ModelFormatError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ModelFormatError(f"{path.name}: the file grew past the {limit}-byte limit while being read")
    return data


def sha256_file(path: str | os.PathLike[str], *, what: str = "file", chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a regular file, streamed in ``chunk``-byte blocks (an archive of
    gigabytes is never held in memory; a FIFO is refused, not waited on)."""
    import hashlib

    h = hashlib.sha256()
    with open_regular(path, what=what) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_pickle(head: bytes) -> bool:
    """True when ``head`` starts a Python pickle of protocol 2-5 (PROTO 0x80 and the protocol
    number), which is also how an uncompressed ``joblib.dump`` file starts."""
    return len(head) > 2 and head[0] == 0x80 and 2 <= head[1] <= 5
