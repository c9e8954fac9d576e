"""Running the JPMML converters that the sklearn2pmml wheel bundles, without scikit-learn.

The ``sklearn2pmml`` package ships JPMML-XGBoost and JPMML-LightGBM as jars in
``sklearn2pmml/resources`` (listed in ``classpath.txt``).  Neither jar has a ``main``, so a
small driver (:data:`DRIVER_SOURCE`, compiled once with ``javac`` into
``$XDG_CACHE_HOME/modelport/jpmml/<hash>``, keyed by the source, the jars and the JDK) calls
their public API: ``XGBoostUtil.loadLearner`` + what ``Learner.encodePMML`` does (schema from
modelport's feature names and types, ``encodeModel``, ``XGBoostEncoder.encodePMML``) for an XGBoost
``.json``/``.ubj`` file, ``LightGBMUtil.loadGBDT`` + ``GBDT.encodePMML`` for a LightGBM
``model.txt``, and serialises the PMML with jpmml-model's ``MetroJAXBSerializer``.  The job is
a JSON file (gson parses it, so hostile feature names travel safely).

Java runs as a subprocess with a wall-clock timeout (:data:`JAVA_TIMEOUT`), a heap cap
(:data:`JAVA_HEAP`) and a large thread stack (JPMML encodes trees recursively); a failure is
one line: the driver prints ``<exception class>: <message>`` and exits 2.

The sklearn2pmml package itself (its Python code, its ``com.sklearn2pmml.Main``) is never run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import tempfile
from pathlib import Path

from modelport.core.errors import MissingDependencyError, ModelportError, UnsupportedModelError, require
from modelport.core.toolchains import Toolchain

__all__ = ["JDK", "JAVA_TIMEOUT", "JAVA_HEAP", "DRIVER_SOURCE", "jpmml_jars", "sklearn2pmml_version", "run_jpmml"]

#: JPMML 1.9 jars are Java 11 class files (their manifests say ``Java-Version: 11``).
JDK = Toolchain("jdk11", (("javac",), ("java",)),
                "install a JDK 11 or newer (Debian: apt-get install default-jdk-headless)")
#: Seconds one conversion may take (a 1,000-tree model converts in a few seconds).
JAVA_TIMEOUT = 600.0
#: Java heap cap (``-Xmx``) and thread stack (``-Xss``: JPMML walks trees recursively).
JAVA_HEAP = "2g"
JAVA_STACK = "256m"
_INSTALL = "pip install 'modelport[sklearn2pmml]'"
_DONE = ".complete"

DRIVER_SOURCE = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
import com.google.gson.*;
import org.dmg.pmml.PMML;
import org.jpmml.model.metro.MetroJAXBSerializer;

/** modelport's driver for JPMML-XGBoost / JPMML-LightGBM: one JSON job in, one PMML file out. */
public class ModelportJpmml {
    public static void main(String[] args) {
        try {
            run(args[0]);
        } catch (Throwable t) {
            String msg = String.valueOf(t.getMessage()).replace('\n', ' ').replace('\r', ' ');
            System.err.println("JPMML-ERROR " + t.getClass().getName() + ": " + msg);
            System.exit(2);
        }
    }

    static void run(String jobPath) throws Exception {
        JsonObject job;
        try (Reader r = new InputStreamReader(new FileInputStream(jobPath), StandardCharsets.UTF_8)) {
            job = JsonParser.parseReader(r).getAsJsonObject();
        }
        String kind = job.get("kind").getAsString();
        Map<String, Object> options = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : job.getAsJsonObject("options").entrySet()) {
            JsonPrimitive p = e.getValue().getAsJsonPrimitive();
            Object v = p.isBoolean() ? (Object) p.getAsBoolean() : p.isNumber() ? (Object) p.getAsNumber() : p.getAsString();
            options.put(e.getKey(), v);
        }
        PMML pmml;
        try (InputStream is = new BufferedInputStream(new FileInputStream(job.get("input").getAsString()))) {
            if (kind.equals("xgboost")) {
                org.jpmml.xgboost.Learner learner = org.jpmml.xgboost.XGBoostUtil.loadLearner(is);
                org.jpmml.xgboost.FeatureMap fmap = new org.jpmml.xgboost.FeatureMap();
                for (JsonElement f : job.getAsJsonArray("features")) {
                    JsonArray a = f.getAsJsonArray();
                    fmap.addEntry(a.get(0).getAsString(), a.get(1).getAsString());
                }
                // Learner.encodePMML without its embedded feature map (Learner.encodeFeatureMap throws
                // ArrayIndexOutOfBoundsException on files with feature_names and no feature_types,
                // what xgboost 3.2 saves): the names and types modelport read from the same file.
                org.jpmml.xgboost.XGBoostEncoder encoder = new org.jpmml.xgboost.XGBoostEncoder();
                org.jpmml.converter.Schema schema = learner.encodeSchema(null, null, fmap, encoder);
                pmml = encoder.encodePMML(learner.encodeModel(options, schema));
            } else if (kind.equals("lightgbm")) {
                org.jpmml.lightgbm.GBDT gbdt = org.jpmml.lightgbm.LightGBMUtil.loadGBDT(is);
                pmml = gbdt.encodePMML(options, null, null);
            } else {
                throw new IllegalArgumentException("unknown kind " + kind);
            }
        }
        try (OutputStream os = new BufferedOutputStream(new FileOutputStream(job.get("output").getAsString()))) {
            new MetroJAXBSerializer().serializePretty(pmml, os);
        }
    }
}
"""


def _resources() -> Path:
    """sklearn2pmml's ``resources`` directory, found without importing the package (its
    ``__init__`` imports scikit-learn, pandas and dill)."""
    spec = importlib.util.find_spec("sklearn2pmml")
    if spec is None or not spec.submodule_search_locations:
        require("sklearn2pmml", extra="sklearn2pmml", purpose="--backend sklearn2pmml (the JPMML jars it carries)")
        raise MissingDependencyError(f"--backend sklearn2pmml needs the 'sklearn2pmml' package (its JPMML jars): {_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "resources"


def sklearn2pmml_version() -> str:
    """The installed sklearn2pmml distribution's version ('' when unknown)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sklearn2pmml")
    except PackageNotFoundError:
        return ""


def jpmml_jars() -> list[Path]:
    """The jars of sklearn2pmml's ``classpath.txt``, in its order (each must exist)."""
    res = _resources()
    try:
        names = [ln.strip() for ln in (res / "classpath.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError:
        raise MissingDependencyError(f"the sklearn2pmml package has no resources/classpath.txt: reinstall it ({_INSTALL})") from None
    jars = [res / n for n in names]
    absent = [j.name for j in jars if not j.is_file()]
    if absent or not jars:
        raise MissingDependencyError(f"the sklearn2pmml package lacks {', '.join(absent) or 'its jars'}: reinstall it ({_INSTALL})")
    return jars


def jar_version(jars: list[Path], prefix: str) -> str:
    """The version in a jar's file name, e.g. ``"1.9.10"`` for ``pmml-xgboost-1.9.10.jar``."""
    for j in jars:
        rest = j.name[len(prefix) + 1:-4] if j.name.startswith(prefix + "-") and j.name.endswith(".jar") else ""
        if rest[:1].isdigit():
            return rest
    return ""


def _cache_root() -> Path:
    from modelport.runtimes.native._harness import cache_root

    return cache_root() / "jpmml"


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("JPMML-ERROR "):
            return ln[len("JPMML-ERROR "):][:400]
    for ln in lines:
        if "error" in ln.lower() or "exception" in ln.lower():
            return ln[:400]
    return lines[0][:400] if lines else "(no output)"


def _driver(javac: str, jars: list[Path]) -> Path:
    """The compiled driver's class directory (built once, atomically, in the cache)."""
    from modelport.runtimes.native._harness import tool_identity

    h = hashlib.sha256(DRIVER_SOURCE.encode())
    h.update(tool_identity(javac).encode())
    for j in jars:
        h.update(f"\0{j.name}:{j.stat().st_size}".encode())
    final = _cache_root() / h.hexdigest()[:32]
    if (final / _DONE).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        (tmp / "ModelportJpmml.java").write_text(DRIVER_SOURCE, encoding="utf-8")
        cmd = [javac, "-nowarn", "-encoding", "UTF-8", "-cp", os.pathsep.join(map(str, jars)), "-d", str(tmp),
               str(tmp / "ModelportJpmml.java")]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=JAVA_TIMEOUT)  # noqa: S603 - fixed argv
        except subprocess.TimeoutExpired:
            raise ModelportError(f"compiling the JPMML driver timed out after {JAVA_TIMEOUT:.0f} s") from None
        if res.returncode != 0:
            out = res.stderr.decode("utf-8", "replace") + "\n" + res.stdout.decode("utf-8", "replace")
            raise ModelportError(f"compiling the JPMML driver failed (is sklearn2pmml's JPMML API as expected?): {_first_error(out)}")
        (tmp / _DONE).write_text("", encoding="utf-8")
        try:
            tmp.rename(final)
        except OSError:  # another process finished the same build first
            if not (final / _DONE).is_file():
                raise
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return final


def run_jpmml(kind: str, source: Path, out: Path, *, library: str, features: list[tuple[str, str]] | None = None,
              options: dict | None = None, timeout: float = JAVA_TIMEOUT) -> None:
    """Convert ``source`` (``kind`` ``"xgboost"`` or ``"lightgbm"``) to the PMML file ``out``
    with the JPMML library; ``library`` names it in errors.  A failure is a one-line
    :class:`UnsupportedModelError` (JPMML refused the model) or :class:`ModelportError`."""
    javac, java = JDK.require("--backend sklearn2pmml")
    jars = jpmml_jars()
    classes = _driver(javac, jars)
    with tempfile.TemporaryDirectory(prefix="modelport-jpmml-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"kind": kind, "input": str(Path(source).resolve()), "output": str(Path(out).resolve()),
                                   "options": options or {}, "features": [list(f) for f in features or []]}),
                       encoding="utf-8")
        cmd = [java, f"-Xmx{JAVA_HEAP}", f"-Xss{JAVA_STACK}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Djava.awt.headless=true", "-cp", os.pathsep.join([str(classes)] + [str(j) for j in jars]),
               "ModelportJpmml", str(job)]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd=tmp)  # noqa: S603 - fixed argv
        except subprocess.TimeoutExpired:
            raise ModelportError(f"{library} timed out after {timeout:.0f} s converting {Path(source).name}") from None
        except OSError as exc:
            raise ModelportError(f"--backend sklearn2pmml could not start {java!r}: {exc.strerror or exc}") from None
    if res.returncode != 0:
        text = res.stderr.decode("utf-8", "replace") + "\n" + res.stdout.decode("utf-8", "replace")
        line = _first_error(text)
        if "OutOfMemoryError" in line or "StackOverflowError" in line:
            raise ModelportError(f"{library} ran out of memory converting {Path(source).name} "
                                 f"(-Xmx{JAVA_HEAP}, -Xss{JAVA_STACK}): {line}")
        raise UnsupportedModelError(f"{library} cannot convert {Path(source).name}: {line}")
    if not Path(out).is_file():
        raise ModelportError(f"{library} wrote no PMML for {Path(source).name}")
