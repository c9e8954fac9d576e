"""The ``java`` runtime: a Java bundle (``Model.java``) compiled once with ``javac`` and scored
by a generated harness class, one ``java`` process per ``predict`` batch.

    rt = modelport.runtimes.load("model.java")    # the bundle directory
    rt.predict(X)

Build (cached outside the bundle, see :mod:`._harness`): ``javac --release 8`` (plain
``javac`` for a JDK 8 compiler, which has no ``--release``), so the generated class is proven
to be Java 8 source.  The JVM runs with the serial collector (one scoring thread; the
machine's other cores stay free).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.core.errors import InputDataError, ModelFormatError
from modelport.core.toolchains import JAVA
from modelport.runtimes.base import RUNTIMES, RuntimeSpec
from modelport.runtimes.native._harness import ProcessRuntime, run_tool

__all__ = ["JavaRuntime", "load_java", "HARNESS"]

#: The scoring program: reads rows (little-endian float32/float64), writes margins + predictions.
HARNESS = """\
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Paths;

public final class ModelportHarness {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("--names")) {
            StringBuilder sb = new StringBuilder();
            for (String name : Model.featureNames()) {
                for (byte c : name.getBytes(java.nio.charset.StandardCharsets.UTF_8)) sb.append(String.format("%02x", c & 255));
                sb.append('\\n');
            }
            System.out.print(sb);
            return;
        }
        byte[] in = Files.readAllBytes(Paths.get(args[0]));
        int n = Integer.parseInt(args[2]);
        int nf = Model.N_FEATURES, no = Model.N_OUTPUTS, np = Model.N_PREDICTIONS;
        ByteBuffer ib = ByteBuffer.wrap(in).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer ob = ByteBuffer.allocate(n * (no + np) * 4).order(ByteOrder.LITTLE_ENDIAN);
        {it}[] x = new {it}[nf];
        float[] m = new float[no];
        float[] p = new float[np];
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < nf; j++) x[j] = ib.{get}();
            Model.predictInto(x, m, p);
            for (int k = 0; k < no; k++) ob.putFloat(m[k]);
            for (int k = 0; k < np; k++) ob.putFloat(p[k]);
        }
        Files.write(Paths.get(args[1]), ob.array());
    }
}
"""


class JavaRuntime(ProcessRuntime):
    """A Java bundle compiled with javac and run by java (see the module docstring)."""

    name = "java"
    toolchain = JAVA
    harness_version = "3"

    def _build(self, workdir: Path) -> None:
        javac = self._tools[0]
        src = workdir / "bundle" / "Model.java"
        if not src.is_file():
            raise ModelFormatError(f"{self.path.name}: the bundle has no Model.java")
        it, get = ("double", "getDouble") if self.dtype.name == "float64" else ("float", "getFloat")
        harness = workdir / "bundle" / "ModelportHarness.java"
        harness.write_text(HARNESS.replace("{it}", it).replace("{get}", get), encoding="ascii")
        classes = workdir / "classes"
        classes.mkdir()
        base = [javac, "-J-Xss16m", "-J-XX:+UseSerialGC", "-encoding", "US-ASCII", "-nowarn", "-d", str(classes)]
        files = [str(src), str(harness)]
        try:
            run_tool([*base, "--release", "8", "-Xlint:-options", *files], what="javac", timeout=self.compile_timeout)
        except Exception as exc:
            if "--release" not in str(exc):
                raise
            run_tool([*base, *files], what="javac", timeout=self.compile_timeout)  # a JDK 8 javac

    def _command(self, workdir: Path, args: list[str]) -> list[str]:
        java = self._tools[1]
        return [java, "-XX:+UseSerialGC", "-Xss16m", "-cp", str(workdir / "classes"), "ModelportHarness", *args]


def load_java(path: str | Path, **options: Any) -> JavaRuntime:
    """Load a Java bundle; options: ``compile_timeout``, ``run_timeout`` (seconds)."""
    unknown = set(options) - {"compile_timeout", "run_timeout"}
    if unknown:
        raise InputDataError(f"the java runtime takes compile_timeout= and run_timeout=, not {', '.join(sorted(unknown))}")
    return JavaRuntime(path, **options)


RUNTIMES.register(
    "java",
    RuntimeSpec(name="java", description="generated Java compiled with javac, one JVM process per batch",
                sniff=lambda head, name="": False, load=load_java, toolchain=(JAVA,)),
)
