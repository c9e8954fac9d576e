"""The ``javascript`` runtime: a JavaScript bundle (``model.mjs``) imported by a generated
harness module and run by ``node``, one process per ``predict`` batch.

    rt = modelport.runtimes.load("model.mjs")     # the bundle directory
    rt.predict(X)

Nothing is compiled: the build step copies the module and writes the harness into the cache
(outside the bundle, see :mod:`._harness`) and checks that node can import it, so a broken
module fails at load time with node's first error line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.core.errors import InputDataError, ModelFormatError
from modelport.core.toolchains import NODE
from modelport.runtimes.base import RUNTIMES, RuntimeSpec
from modelport.runtimes.native._harness import ProcessRuntime, run_tool

__all__ = ["JavaScriptRuntime", "load_javascript", "HARNESS"]

#: The scoring program: reads rows (little-endian float32/float64), writes margins + predictions.
HARNESS = """\
import { readFileSync, writeFileSync } from "node:fs";
import * as M from "./bundle/model.mjs";

const [inPath, outPath, nText] = process.argv.slice(2);
if (inPath === "--check") process.exit(0);
if (inPath === "--names") {
  const enc = new TextEncoder();
  for (const name of M.FEATURE_NAMES) {
    process.stdout.write(Array.from(enc.encode(name), (c) => c.toString(16).padStart(2, "0")).join("") + "\\n");
  }
  process.exit(0);
}
const n = Number(nText), nf = M.N_FEATURES, no = M.N_OUTPUTS, np = M.N_PREDICTIONS;
const raw = readFileSync(inPath);
const X = new {it}(n * nf);
new Uint8Array(X.buffer).set(raw.subarray(0, X.byteLength));
const out = new Float32Array(n * (no + np));
const m = new Float32Array(no), p = new Float32Array(np);
for (let r = 0; r < n; r++) {
  M.predictInto(X.subarray(r * nf, (r + 1) * nf), m, p);
  out.set(m, r * (no + np));
  out.set(p, r * (no + np) + no);
}
writeFileSync(outPath, new Uint8Array(out.buffer));
"""


class JavaScriptRuntime(ProcessRuntime):
    """A JavaScript bundle run by node (see the module docstring)."""

    name = "javascript"
    toolchain = NODE
    harness_version = "3"

    def _build(self, workdir: Path) -> None:
        if not (workdir / "bundle" / "model.mjs").is_file():
            raise ModelFormatError(f"{self.path.name}: the bundle has no model.mjs")
        it = "Float64Array" if self.dtype.name == "float64" else "Float32Array"
        (workdir / "harness.mjs").write_text(HARNESS.replace("{it}", it), encoding="ascii")
        run_tool(self._command(workdir, ["--check"]), what="node (importing model.mjs)", timeout=self.compile_timeout)

    def _command(self, workdir: Path, args: list[str]) -> list[str]:
        return [self._tools[0], str(workdir / "harness.mjs"), *args]


def load_javascript(path: str | Path, **options: Any) -> JavaScriptRuntime:
    """Load a JavaScript bundle; options: ``compile_timeout``, ``run_timeout`` (seconds)."""
    unknown = set(options) - {"compile_timeout", "run_timeout"}
    if unknown:
        raise InputDataError(f"the javascript runtime takes compile_timeout= and run_timeout=, not {', '.join(sorted(unknown))}")
    return JavaScriptRuntime(path, **options)


RUNTIMES.register(
    "javascript",
    RuntimeSpec(name="javascript", description="generated ES module run by node, one process per batch",
                sniff=lambda head, name="": False, load=load_javascript, toolchain=(NODE,)),
)
