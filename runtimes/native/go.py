"""The ``go`` runtime: a Go bundle (``model.go``, ``package model``) built once with
``go build`` together with a generated ``main`` package, one process per ``predict`` batch.

    rt = modelport.runtimes.load("model.go")      # the bundle directory
    rt.predict(X)

Build (cached outside the bundle, see :mod:`._harness`): a module ``modelportharness`` with
the bundle's file as package ``model``; ``go build -trimpath`` with ``CGO_ENABLED=0`` (no C
compiler needed), ``GOFLAGS=-mod=mod``, ``GOPROXY=off`` (the module has no dependencies:
nothing is ever downloaded) and ``GOCACHE``/``GOPATH`` under the cache directory, so it
works for a user whose home directory is read-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelport.core.errors import InputDataError, ModelFormatError
from modelport.core.toolchains import GO
from modelport.runtimes.base import RUNTIMES, RuntimeSpec
from modelport.runtimes.native._harness import ProcessRuntime, cache_root, run_tool

__all__ = ["GoRuntime", "load_go", "HARNESS", "go_env"]

#: The scoring program: reads rows (little-endian float32/float64), writes margins + predictions.
HARNESS = """\
package main

import (
\t"encoding/binary"
\t"encoding/hex"
\t"fmt"
\t"math"
\t"os"
\t"strconv"

\t"modelportharness/model"
)

func main() {
\tif os.Args[1] == "--names" {
\t\tfor _, name := range model.FeatureNames {
\t\t\tfmt.Println(hex.EncodeToString([]byte(name)))
\t\t}
\t\treturn
\t}
\tin, err := os.ReadFile(os.Args[1])
\tif err != nil {
\t\tfmt.Fprintln(os.Stderr, "error:", err)
\t\tos.Exit(2)
\t}
\tn, _ := strconv.Atoi(os.Args[3])
\tnf, no, np := model.NFeatures, model.NOutputs, model.NPredictions
\tout := make([]byte, 4*n*(no+np))
\tx := make([]{it}, nf)
\tm := make([]float32, no)
\tp := make([]float32, np)
\tpos, w := 0, 0
\tfor r := 0; r < n; r++ {
\t\tfor j := 0; j < nf; j++ {
\t\t\tx[j] = {read}
\t\t\tpos += {size}
\t\t}
\t\tmodel.PredictInto(x, m, p)
\t\tfor _, v := range m {
\t\t\tbinary.LittleEndian.PutUint32(out[w:], math.Float32bits(v))
\t\t\tw += 4
\t\t}
\t\tfor _, v := range p {
\t\t\tbinary.LittleEndian.PutUint32(out[w:], math.Float32bits(v))
\t\t\tw += 4
\t\t}
\t}
\tif err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
\t\tfmt.Fprintln(os.Stderr, "error:", err)
\t\tos.Exit(2)
\t}
}
"""

_READ = {"float32": ("math.Float32frombits(binary.LittleEndian.Uint32(in[pos:]))", 4),
         "float64": ("math.Float64frombits(binary.LittleEndian.Uint64(in[pos:]))", 8)}


def go_env() -> dict[str, str]:
    """The environment ``go build`` runs in: writable caches, offline, no cgo."""
    root = cache_root() / "go-toolchain"
    env = dict(os.environ)
    env.update(GOCACHE=str(root / "gocache"), GOPATH=str(root / "gopath"), GOFLAGS="-mod=mod", GOPROXY="off",
               GO111MODULE="on", CGO_ENABLED="0", GOTOOLCHAIN="local", GOTELEMETRY="off", GOWORK="off")
    return env


class GoRuntime(ProcessRuntime):
    """A Go bundle built with go build (see the module docstring)."""

    name = "go"
    toolchain = GO
    harness_version = "3"

    def _build(self, workdir: Path) -> None:
        src = workdir / "bundle" / "model.go"
        if not src.is_file():
            raise ModelFormatError(f"{self.path.name}: the bundle has no model.go")
        mod = workdir / "src"
        (mod / "model").mkdir(parents=True)
        os.replace(src, mod / "model" / "model.go")
        (mod / "go.mod").write_text("module modelportharness\n\ngo 1.16\n", encoding="ascii")
        read, size = _READ[self.dtype.name]
        (mod / "main.go").write_text(HARNESS.replace("{it}", self.dtype.name).replace("{read}", read)
                                     .replace("{size}", str(size)), encoding="ascii")
        cmd = [self._tools[0], "build", "-trimpath", "-buildvcs=false", "-o", str(workdir / "harness"), "."]
        run_tool(cmd, what="go build", cwd=mod, env=go_env(), timeout=self.compile_timeout)

    def _command(self, workdir: Path, args: list[str]) -> list[str]:
        return [str(workdir / "harness"), *args]


def load_go(path: str | Path, **options: Any) -> GoRuntime:
    """Load a Go bundle; options: ``compile_timeout``, ``run_timeout`` (seconds)."""
    unknown = set(options) - {"compile_timeout", "run_timeout"}
    if unknown:
        raise InputDataError(f"the go runtime takes compile_timeout= and run_timeout=, not {', '.join(sorted(unknown))}")
    return GoRuntime(path, **options)


RUNTIMES.register(
    "go",
    RuntimeSpec(name="go", description="generated Go built with go build, one process per batch",
                sniff=lambda head, name="": False, load=load_go, toolchain=(GO,)),
)
