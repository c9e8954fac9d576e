"""The ``rust`` runtime: a Rust bundle (``model.rs``) compiled once with ``rustc -O`` next to a
generated ``main.rs`` (``mod model;``), one process per ``predict`` batch.

    rt = modelport.runtimes.load("model.rs")      # the bundle directory
    rt.predict(X)

Build (cached outside the bundle, see :mod:`._harness`): ``rustc --edition 2018 -O`` directly,
no cargo and no registry access; the generated code uses the standard library only and
stable features, so Debian's older rustc builds it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.core.errors import InputDataError, ModelFormatError
from modelport.core.toolchains import RUST
from modelport.runtimes.base import RUNTIMES, RuntimeSpec
from modelport.runtimes.native._harness import ProcessRuntime, run_tool

__all__ = ["RustRuntime", "load_rust", "HARNESS"]

#: The scoring program: reads rows (little-endian float32/float64), writes margins + predictions.
HARNESS = """\
mod model;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "--names" {
        for name in model::FEATURE_NAMES.iter() {
            println!("{}", name.bytes().map(|c| format!("{:02x}", c)).collect::<String>());
        }
        return;
    }
    let input = std::fs::read(&args[1]).expect("error: cannot read the rows");
    let n: usize = args[3].parse().expect("error: bad row count");
    let m = model::Model::new();
    let (nf, no, np) = (model::N_FEATURES, model::N_OUTPUTS, model::N_PREDICTIONS);
    let mut x = vec![0.0{it}; nf];
    let mut mg = vec![0.0f32; no];
    let mut p = vec![0.0f32; np];
    let mut out: Vec<u8> = Vec::with_capacity(4 * n * (no + np));
    let mut w = [0u8; {size}];
    for r in 0..n {
        for j in 0..nf {
            let o = (r * nf + j) * {size};
            w.copy_from_slice(&input[o..o + {size}]);
            x[j] = {it}::from_le_bytes(w);
        }
        m.predict_into(&x, &mut mg, &mut p);
        for v in mg.iter().chain(p.iter()) {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(&args[2], &out).expect("error: cannot write the predictions");
}
"""


class RustRuntime(ProcessRuntime):
    """A Rust bundle compiled with rustc (see the module docstring)."""

    name = "rust"
    toolchain = RUST
    harness_version = "3"

    def _build(self, workdir: Path) -> None:
        src = workdir / "bundle" / "model.rs"
        if not src.is_file():
            raise ModelFormatError(f"{self.path.name}: the bundle has no model.rs")
        it, size = ("f64", 8) if self.dtype.name == "float64" else ("f32", 4)
        (workdir / "bundle" / "main.rs").write_text(HARNESS.replace("{it}", it).replace("{size}", str(size)),
                                                    encoding="ascii")
        cmd = [self._tools[0], "--edition", "2018", "-O", "--crate-name", "modelport_harness", "-o",
               str(workdir / "harness"), str(workdir / "bundle" / "main.rs")]
        run_tool(cmd, what="rustc", cwd=workdir, timeout=self.compile_timeout)

    def _command(self, workdir: Path, args: list[str]) -> list[str]:
        return [str(workdir / "harness"), *args]


def load_rust(path: str | Path, **options: Any) -> RustRuntime:
    """Load a Rust bundle; options: ``compile_timeout``, ``run_timeout`` (seconds)."""
    unknown = set(options) - {"compile_timeout", "run_timeout"}
    if unknown:
        raise InputDataError(f"the rust runtime takes compile_timeout= and run_timeout=, not {', '.join(sorted(unknown))}")
    return RustRuntime(path, **options)


RUNTIMES.register(
    "rust",
    RuntimeSpec(name="rust", description="generated Rust compiled with rustc -O, one process per batch",
                sniff=lambda head, name="": False, load=load_rust, toolchain=(RUST,)),
)
