"""External toolchains that targets and runtimes declare (a C compiler, javac, node, ...).

A target or runtime lists the toolchains it needs; :meth:`Toolchain.require` turns a missing
one into a one-line :class:`~modelport.core.errors.MissingDependencyError` that names what to
install.  Nothing here runs a tool except to locate it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from modelport.core.errors import MissingDependencyError

__all__ = ["Toolchain", "CC", "JAVA", "NODE", "GO", "RUST", "TOOLCHAINS", "missing"]


@dataclass(frozen=True)
class Toolchain:
    """A set of executables that must all be on PATH (or named by ``env``)."""

    name: str
    """Short name, e.g. ``"c"``."""
    executables: tuple[tuple[str, ...], ...]
    """Each inner tuple lists alternatives for one required program, e.g. ``(("cc", "gcc", "clang"),)``."""
    install: str
    """How to get it, for the error message."""
    env: str = ""
    """An environment variable that overrides the first program's path (e.g. ``CC``)."""

    def find(self) -> tuple[str, ...] | None:
        """Absolute paths of the programs, one per required program, or None if any is absent."""
        found = []
        for i, alternatives in enumerate(self.executables):
            override = os.environ.get(self.env) if (self.env and i == 0) else None
            candidates = (override,) if override else alternatives
            path = next((p for p in (shutil.which(c) for c in candidates if c) if p), None)
            if path is None:
                return None
            found.append(path)
        return tuple(found)

    def available(self) -> bool:
        """True when every program is found."""
        return self.find() is not None

    def require(self, purpose: str) -> tuple[str, ...]:
        """The programs' paths, or a one-line MissingDependencyError naming what to install."""
        paths = self.find()
        if paths is None:
            wanted = " and ".join("/".join(alt) for alt in self.executables)
            raise MissingDependencyError(f"{purpose} needs {wanted} on PATH: {self.install}")
        return paths


CC = Toolchain("c", (("cc", "gcc", "clang"),), "install a C compiler (Debian: apt-get install gcc)", env="CC")
JAVA = Toolchain("java", (("javac",), ("java",)), "install a JDK 8 or newer (Debian: apt-get install default-jdk-headless)")
JVM = Toolchain("jvm", (("java",),), "install a Java runtime 8 or newer (Debian: apt-get install default-jre-headless)")
NODE = Toolchain("node", (("node",),), "install Node.js 14 or newer (Debian: apt-get install nodejs)")
GO = Toolchain("go", (("go",),), "install Go 1.18 or newer (Debian: apt-get install golang-go)")
RUST = Toolchain("rust", (("rustc",),), "install a Rust toolchain (Debian: apt-get install rustc, or rustup)")

#: Every known toolchain by name.
TOOLCHAINS: dict[str, Toolchain] = {t.name: t for t in (CC, JAVA, JVM, NODE, GO, RUST)}


def missing(toolchains) -> list[Toolchain]:
    """The toolchains among ``toolchains`` that are not available here."""
    return [t for t in toolchains if not t.available()]
