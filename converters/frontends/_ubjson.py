"""A small, iterative UBJSON decoder for XGBoost's ``.ubj`` model files.

XGBoost writes Universal Binary JSON (https://ubjson.org, draft 12) big-endian, with
optimised containers (``[$<type>#<count>`` followed by raw values) for its numeric per-node
arrays; see ``src/common/json.cc`` (``UBJWriter``) upstream.  There is no ``ubjson`` package
on the index we install from, and the ones that exist recurse per nesting level, so this
decoder keeps an explicit stack: hostile nesting depth cannot raise ``RecursionError``.

Typed numeric arrays are returned as numpy arrays (native byte order) rather than lists so a
large model decodes in milliseconds.  Every malformation raises :class:`UBJSONError` with a
one-line message giving the byte offset.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["INT_MARKERS", "UBJSONError", "loads"]

# Fixed-size scalar markers: marker -> (struct format, numpy dtype for typed arrays).
_SCALARS = {
    b"i": (">b", ">i1"),
    b"U": (">B", ">u1"),
    b"I": (">h", ">i2"),
    b"l": (">i", ">i4"),
    b"L": (">q", ">i8"),
    b"d": (">f", ">f4"),
    b"D": (">d", ">f8"),
}
#: Integer type markers (int8, uint8, int16, int32, int64): a length or count is one of these.
INT_MARKERS = (b"i", b"U", b"I", b"l", b"L")
#: Refuse container counts beyond this (a corrupt count must not allocate gigabytes).
_MAX_COUNT = 1 << 31
#: Longest text accepted for an ``H`` (high-precision) number.
_MAX_NUMBER_CHARS = 400
#: Markers whose values take no bytes after a ``$`` type: a count of them costs nothing to
#: write, so it is bounded by the size of the file instead (one value per byte at most).
_ZERO_WIDTH = (b"Z", b"T", b"F", b"N")


class UBJSONError(ValueError):
    """The bytes are not well-formed UBJSON."""


class _Reader:
    __slots__ = ("buf", "pos", "n", "free_values")

    def __init__(self, buf: bytes) -> None:
        self.buf = memoryview(buf)
        self.pos = 0
        self.n = len(buf)
        self.free_values = len(buf)  # zero-width values left for the whole document

    def take(self, k: int) -> memoryview:
        if k < 0 or self.pos + k > self.n:
            raise UBJSONError(f"truncated UBJSON: need {k} byte(s) at offset {self.pos}, file has {self.n}")
        out = self.buf[self.pos : self.pos + k]
        self.pos += k
        return out

    def marker(self) -> bytes:
        m = bytes(self.take(1))
        while m == b"N":  # no-op marker, allowed anywhere a value may start
            m = bytes(self.take(1))
        return m

    def scalar(self, m: bytes):
        fmt = _SCALARS[m][0]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self) -> int:
        m = self.marker()
        if m not in INT_MARKERS:
            raise UBJSONError(f"bad UBJSON length marker {m!r} at offset {self.pos - 1}")
        k = self.scalar(m)
        if k < 0 or k > _MAX_COUNT:
            raise UBJSONError(f"bad UBJSON length {k} at offset {self.pos}")
        return k

    def string(self) -> str:
        k = self.count()
        raw = self.take(k)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError:
            raise UBJSONError(f"invalid UTF-8 in UBJSON string ending at offset {self.pos}") from None

    def leaf(self, m: bytes):
        """A non-container value whose marker ``m`` has been read."""
        if m in _SCALARS:
            return self.scalar(m)
        if m == b"S":
            return self.string()
        if m == b"H":  # high-precision number, as text (XGBoost never writes one)
            at = self.pos - 1
            text = self.string()
            if len(text) > _MAX_NUMBER_CHARS:
                raise UBJSONError(f"UBJSON high-precision number of {len(text)} characters at offset {at}")
            try:
                return float(text)
            except ValueError:
                raise UBJSONError(f"UBJSON high-precision number {text[:20]!r} at offset {at} is not a number") from None
        if m == b"C":
            return chr(self.take(1)[0])
        if m == b"T":
            return True
        if m == b"F":
            return False
        if m == b"Z":
            return None
        raise UBJSONError(f"unknown UBJSON marker {m!r} at offset {self.pos - 1}")


class _Container:
    """A container being filled: list or dict, with an optional fixed count / type."""

    __slots__ = ("value", "is_obj", "remaining", "vtype", "key")

    def __init__(self, is_obj: bool, remaining: int | None, vtype: bytes | None) -> None:
        self.value: list | dict = {} if is_obj else []
        self.is_obj = is_obj
        self.remaining = remaining
        self.vtype = vtype
        self.key: str | None = None


def _open(r: _Reader, is_obj: bool):
    """Read an optional ``$type`` / ``#count`` header; typed numeric arrays are read whole."""
    vtype = None
    count = None
    if r.pos < r.n and r.buf[r.pos] == ord("$"):
        r.pos += 1
        vtype = bytes(r.take(1))
        if r.pos >= r.n or r.buf[r.pos] != ord("#"):
            raise UBJSONError(f"UBJSON type marker without count at offset {r.pos}")
    if r.pos < r.n and r.buf[r.pos] == ord("#"):
        r.pos += 1
        at = r.pos
        count = r.count()
        _check_count(r, count, vtype, is_obj, at)
    if not is_obj and vtype in _SCALARS:
        dt = np.dtype(_SCALARS[vtype][1])
        raw = r.take(count * dt.itemsize)
        return np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="))
    return _Container(is_obj, count, vtype)


def _check_count(r: _Reader, count: int, vtype: bytes | None, is_obj: bool, at: int) -> None:
    """A container count must fit in what is left of the file: every value (and every object
    key) takes at least one byte, except typed zero-width values (``[$Z#...``), whose total
    over the whole document is bounded by the file's size: a 27-byte file cannot ask for
    2**31 of them, nor many small containers for many each."""
    left = r.n - r.pos
    if vtype in _ZERO_WIDTH:
        per, room = (1, left) if is_obj else (0, r.free_values)
        if not is_obj:
            r.free_values -= min(count, r.free_values)
    elif vtype in _SCALARS:
        per, room = struct.calcsize(_SCALARS[vtype][0]) + (1 if is_obj else 0), left
    else:
        per, room = (2 if is_obj else 1), left
    if (count * per if per else count) > room:
        raise UBJSONError(f"UBJSON count {count} at offset {at} exceeds what the remaining {left} byte(s) can hold")


def loads(data: bytes):
    """Decode one UBJSON value from ``data`` (trailing bytes are an error)."""
    r = _Reader(data)
    stack: list[_Container] = []
    result = None
    done = False
    while not done:
        top = stack[-1] if stack else None
        if top is not None:
            # Close the container if its count is used up or its end marker comes next.
            if top.remaining == 0:
                value = stack.pop().value
            elif top.remaining is None and r.pos < r.n and r.buf[r.pos] == ord("}" if top.is_obj else "]"):
                r.pos += 1
                value = stack.pop().value
            else:
                if top.is_obj and top.key is None:
                    top.key = r.string()  # object keys carry no 'S' marker
                    continue
                m = top.vtype or r.marker()
                if top.remaining is not None:
                    top.remaining -= 1
                if m in (b"{", b"["):
                    opened = _open(r, m == b"{")
                    if isinstance(opened, _Container):
                        if len(stack) > 10_000:
                            raise UBJSONError(f"UBJSON nested deeper than 10000 at offset {r.pos}")
                        stack.append(opened)
                        continue
                    value = opened
                elif m in (b"}", b"]"):
                    raise UBJSONError(f"unexpected {m.decode()} at offset {r.pos - 1}")
                else:
                    value = r.leaf(m)
                # fall through: attach `value` to the top container
                if top.is_obj:
                    top.value[top.key] = value
                    top.key = None
                else:
                    top.value.append(value)
                continue
            # a container closed: attach to its parent or finish
            if stack:
                parent = stack[-1]
                if parent.is_obj:
                    parent.value[parent.key] = value
                    parent.key = None
                else:
                    parent.value.append(value)
            else:
                result, done = value, True
            continue
        # top level
        m = r.marker()
        if m in (b"{", b"["):
            opened = _open(r, m == b"{")
            if isinstance(opened, _Container):
                stack.append(opened)
                continue
            result, done = opened, True
        else:
            result, done = r.leaf(m), True
    if r.pos != r.n:
        raise UBJSONError(f"trailing bytes after UBJSON value at offset {r.pos} of {r.n}")
    return result
