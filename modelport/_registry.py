"""A tiny name → entry registry with an overwrite guard, shared by every axis
(frontends, targets, runtimes).  The registries drive the CLI choices, the docs'
support table and the parity-test parameters."""

from __future__ import annotations

from typing import Generic, TypeVar
from collections.abc import Iterator

T = TypeVar("T")

__all__ = ["Registry"]


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
