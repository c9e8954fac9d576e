"""A tiny name → entry registry with an overwrite guard, shared by every axis
(frontends, targets, runtimes).  The registries drive the CLI choices, the docs'
support table and the parity-test parameters."""

from __future__ import annotations

from typing import Generic, TypeVar
from collections.abc import Iterator

T = TypeVar("T")

__all__ = ["Registry", "HEAD_BYTES"]

#: How many leading bytes of a file the ``sniff`` functions see.
HEAD_BYTES = 4096


class Registry(Generic[T]):
    """Ordered mapping of unique names to entries."""

    def __init__(self, axis: str) -> None:
        self.axis = axis
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name``; refuses to overwrite unless ``replace=True``."""
        if name in self._entries and not replace:
            raise ValueError(f"{self.axis} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry called ``name``; a KeyError lists the known names."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "(none)"
            raise KeyError(f"unknown {self.axis} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def detect(self, path, *, what: str, unknown: str):
        """The first entry whose ``sniff(head, file_name)`` accepts the file's first
        :data:`HEAD_BYTES` bytes: files are recognised by content, not by name.  Raises
        ModelFormatError naming ``what`` the file is for an unreadable or empty file, and
        ``unknown`` (a sentence) when no entry accepts it."""
        from pathlib import Path

        from modelport.core.errors import ModelFormatError
        from modelport.core.files import read_head

        path = Path(path)
        head = read_head(path, HEAD_BYTES, what=what)  # regular files only: a FIFO never blocks
        if not head:
            raise ModelFormatError(f"{path.name}: the file is empty")
        for entry in self._entries.values():
            if entry.sniff(head, path.name):
                return entry
        raise ModelFormatError(f"{path.name}: {unknown}")
