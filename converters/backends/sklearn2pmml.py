"""``--backend sklearn2pmml`` for ``--to pmml``: the JPMML converters (on Java) that the
sklearn2pmml package bundles, as a second opinion on modelport's own PMML writer.

* XGBoost ``.json`` / ``.ubj``: JPMML-XGBoost converts the FILE (no xgboost, no
  scikit-learn); modelport passes the feature names and types it read (the file's own feature
  map is often empty) as JPMML's ``FeatureMap``.
* LightGBM ``model.txt``: JPMML-LightGBM converts the file.
* scikit-learn: refused.  JPMML-SkLearn checks the scikit-learn version recorded in the
  pickle and rejects any newer than it knows (:data:`SKLEARN_RANGE`), and running it means
  running sklearn2pmml's ``com.sklearn2pmml.Main``, which reports failed conversions
  (``telemetry.jpmml.org``) and expires after 12 months; see docs/pmml.md.

Java runs in a subprocess with a timeout and a heap cap (:mod:`._jpmml`).  modelport then adds
to JPMML's document, without touching its models: Header ``Extension`` elements with the
artifact contract (:func:`~modelport.core.contract.artifact_metadata`, backend
``"sklearn2pmml"``) naming the fields that hold the margins and the probabilities, and, where
JPMML's top-level model has no named result, an ``OutputField`` for its predicted value.  The
pmml runtime then verifies the file like any other: margins against the reference evaluator
under the pmml target's tolerance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.sax.saxutils import quoteattr

from modelport.converters.backends import BACKENDS, Backend, BackendSource
from modelport.converters.backends._jpmml import jar_version, jpmml_jars, run_jpmml, sklearn2pmml_version
from modelport.core.contract import METADATA_PREFIX, artifact_metadata
from modelport.core.errors import ModelFormatError, UnsupportedModelError

__all__ = ["write_sklearn2pmml", "annotate_pmml", "SKLEARN_RANGE"]

#: scikit-learn versions JPMML-SkLearn 1.9.41 (sklearn2pmml 0.133) accepts: its
#: ``sklearn.Step.checkSkLearnVersion`` refuses anything newer than 1.9.0; sklearn2pmml's
#: README states support from 0.17.
SKLEARN_RANGE = ("0.17", "1.9.0")

#: IR feature types as JPMML-XGBoost feature-map types (XGBoost's ``fmap`` letters).
_FMAP_TYPES = {"float": "q", "int": "int", "indicator": "i", "categorical": "c"}
_MODELS = ("MiningModel", "TreeModel", "RegressionModel")
_POST = {"logit": "sigmoid", "softmax": "softmax", "exp": "exp", "none": "identity"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kids(el, name: str) -> list:
    return [c for c in el if _local(c.tag) == name]


def _structure(root, where: str) -> dict:
    """Where JPMML's document keeps the margins, the probabilities and the prediction."""
    models = [c for c in root if _local(c.tag) in _MODELS]
    if len(models) != 1 or _local(models[0].tag) != "MiningModel":
        raise UnsupportedModelError(f"{where}: JPMML wrote no single top-level MiningModel")
    top = models[0]
    seg = _kids(top, "Segmentation")
    method = seg[0].get("multipleModelMethod", "") if seg else ""
    names = {el.get("name") for el in root.iter() if el.get("name")}
    targets = {df.get("name"): [v.get("value") for v in _kids(df, "Value") if v.get("property", "valid") == "valid"]
               for dd in _kids(root, "DataDictionary") for df in _kids(dd, "DataField")}
    out = {"top": top, "names": names, "function": top.get("functionName", "")}
    if method in ("sum", "weightedSum", "average", "weightedAverage"):
        if out["function"] != "regression":
            raise UnsupportedModelError(f"{where}: JPMML wrote a {out['function']} {method} MiningModel")
        out.update(margins=None, probabilities=[], link="none")
        return out
    if method != "modelChain":
        raise UnsupportedModelError(f"{where}: JPMML wrote a {method or 'plain'} MiningModel, which modelport's "
                                    "pmml runtime cannot evaluate (docs/pmml.md)")
    segs = _kids(seg[0], "Segment")
    last = [c for c in segs[-1] if _local(c.tag) in _MODELS] if segs else []
    if not last or _local(last[0].tag) != "RegressionModel":
        raise UnsupportedModelError(f"{where}: JPMML's model chain does not end in a RegressionModel")
    margins = []
    for s in segs[:-1]:
        for m in (c for c in s if _local(c.tag) in _MODELS):
            for o in (of for outp in _kids(m, "Output") for of in _kids(outp, "OutputField")):
                if o.get("feature", "predictedValue") == "predictedValue":
                    margins.append(o.get("name"))
    probs = {of.get("value"): of.get("name") for outp in _kids(last[0], "Output") for of in _kids(outp, "OutputField")
             if of.get("feature") == "probability"}
    target = next((mf.get("name") for ms in _kids(top, "MiningSchema") for mf in _kids(ms, "MiningField")
                   if mf.get("usageType") == "target"), None)
    classes = targets.get(target, [])
    if out["function"] == "classification" and (not classes or set(classes) != set(probs)):
        raise UnsupportedModelError(f"{where}: JPMML's probability outputs do not match the target's classes")
    out.update(margins=margins, probabilities=[probs[c] for c in classes] if out["function"] == "classification" else [],
               link=last[0].get("normalizationMethod", "none"))
    return out


def _fresh(names: set, base: str) -> str:
    name = base
    while name in names:
        name += "_"
    names.add(name)
    return name


def annotate_pmml(path: Path, meta: dict[str, str], *, n_outputs: int) -> dict[str, str]:
    """Add modelport's Header Extensions (``meta`` plus the ``pmml_*`` field keys) and, when
    JPMML's top-level model names no result, an OutputField for it, to the PMML file at
    ``path`` in place; returns the metadata written.  JPMML's elements are kept byte for byte."""
    from modelport.runtimes._pmml_load import parse_pmml

    path = Path(path)
    st = _structure(parse_pmml(path), path.name)
    names = st["names"]
    added = ""
    if st["function"] == "classification":
        margins, preds = st["margins"], []
    else:
        pred = _fresh(names, "modelport_prediction")
        added = (f'<OutputField name={quoteattr(pred)} optype="continuous" dataType="double" '
                 'feature="predictedValue"/>')
        margins, preds = (st["margins"] if st["margins"] is not None else [pred]), [pred]
    if len(margins) != n_outputs:
        raise UnsupportedModelError(f"{path.name}: JPMML's document has {len(margins)} margin fields for a model with "
                                    f"{n_outputs} outputs")
    meta = dict(meta)
    meta[METADATA_PREFIX + "pmml_margin_fields"] = json.dumps(margins)
    meta[METADATA_PREFIX + "pmml_prediction_fields"] = json.dumps(preds)
    meta[METADATA_PREFIX + "pmml_probability_fields"] = json.dumps(st["probabilities"])
    meta[METADATA_PREFIX + "pmml_label_field"] = ""
    text = path.read_text(encoding="utf-8")
    header = re.search(r"<Header\b[^>]*?(/?)>", text)
    if header is None:
        raise ModelFormatError(f"{path.name}: JPMML's document has no Header")
    ext = "".join(f"\n\t\t<Extension extender=\"modelport\" name={quoteattr(k)} value={quoteattr(v)}/>"
                  for k, v in meta.items())
    if header.group(1):  # <Header/>
        text = text[:header.start()] + header.group(0)[:-2] + ">" + ext + "\n\t</Header>" + text[header.end():]
    else:
        text = text[:header.end()] + ext + text[header.end():]
    if added:
        top = re.search(r"<MiningModel\b", text)
        schema_end = re.compile(r"</MiningSchema>|<MiningSchema\b[^>]*/>").search(text, top.end())
        pos = schema_end.end()
        nxt = re.compile(r"\s*<Output\b[^>]*>").match(text, pos)
        if nxt:  # the top-level model has an Output: add to it
            pos = nxt.end()
            text = text[:pos] + "\n\t\t\t" + added + text[pos:]
        else:
            text = text[:pos] + "\n\t\t<Output>\n\t\t\t" + added + "\n\t\t</Output>" + text[pos:]
    path.write_text(text, encoding="utf-8")
    return meta


def _xgboost(source: BackendSource, out: Path) -> None:
    model = source.model
    if model is None:
        raise UnsupportedModelError("--backend sklearn2pmml converts XGBoost files that modelport can read")
    fmt = model.provenance.source_format if model.provenance else ""
    if fmt not in ("xgboost-json", "xgboost-ubj"):
        raise UnsupportedModelError(f"--backend sklearn2pmml converts XGBoost .json/.ubj files; {source.path.name} is "
                                    f"{fmt or 'not one'}: extract the model file and convert that")
    jars = jpmml_jars()
    library = f"JPMML-XGBoost {jar_version(jars, 'pmml-xgboost')}".strip()
    feats = [(f.name, _FMAP_TYPES.get(f.type.value, "q")) for f in model.features]
    run_jpmml("xgboost", source.path, out, library=library, features=feats)
    meta = artifact_metadata(model, backend="sklearn2pmml",
                             extra={"sklearn2pmml_version": sklearn2pmml_version(), "jpmml_library": library})
    annotate_pmml(out, meta, n_outputs=int(model.n_outputs))


def _lightgbm(source: BackendSource, out: Path) -> None:
    fm = source.framework_model
    if fm is None:
        raise UnsupportedModelError("--backend sklearn2pmml needs the LightGBM model opened with lightgbm")
    if fm.source != "lightgbm-text":
        raise UnsupportedModelError(f"--backend sklearn2pmml converts LightGBM model.txt files, not {fm.source}")
    jars = jpmml_jars()
    library = f"JPMML-LightGBM {jar_version(jars, 'pmml-lightgbm')}".strip()
    run_jpmml("lightgbm", source.path, out, library=library)
    from modelport.core.version import __version__
    from modelport.runtimes._pmml_load import parse_pmml

    st = _structure(parse_pmml(out), out.name)
    n_out = fm.n_classes if fm.task == "multiclass" else 1
    props = {
        "features": json.dumps([{"name": n, "type": "float", "categories": None} for n in fm.feature_names]),
        "task": fm.task, "booster": "tree_ensemble", "post_transform": _POST.get(st["link"], "identity"),
        "n_outputs": str(n_out), "n_classes": str(fm.n_classes), "missing": repr(float("nan")),
        "output_names": "[]", "objective": fm.objective, "source_format": fm.source, "framework": fm.framework,
        "framework_version": fm.framework_version, "source_sha256": fm.sha256, "rounds": "",
        "modelport_version": __version__, "backend": "sklearn2pmml",
        "sklearn2pmml_version": sklearn2pmml_version(), "jpmml_library": library,
    }
    annotate_pmml(out, {METADATA_PREFIX + k: v for k, v in props.items()}, n_outputs=n_out)


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def _sklearn(source: BackendSource) -> None:
    fm, prov = source.framework_model, source.model.provenance if source.model is not None else None
    have = fm.framework_version if fm is not None else prov.framework_version if prov is not None else ""
    lo, hi = SKLEARN_RANGE
    if not have or not (_version_tuple(lo) <= _version_tuple(have) <= _version_tuple(hi)):
        raise UnsupportedModelError(
            f"--backend sklearn2pmml cannot convert this scikit-learn {have} model: JPMML-SkLearn (sklearn2pmml "
            f"{sklearn2pmml_version() or '0.133'}) supports scikit-learn {lo} to {hi} only; use --to pmml with the "
            "default backend, or --to onnx --backend onnxmltools")
    raise UnsupportedModelError(
        "--backend sklearn2pmml does not run sklearn2pmml's own converter (com.sklearn2pmml.Main reports failed conversions "
        "to telemetry.jpmml.org and stops working 12 months after its build); use --to pmml with the default backend")


def write_sklearn2pmml(source: BackendSource, out_path: Path) -> None:
    """Convert ``source`` with the JPMML converter for its framework and write the annotated
    PMML file (see the module docstring)."""
    out = Path(out_path)
    if source.framework == "xgboost":
        _xgboost(source, out)
    elif source.framework == "lightgbm":
        _lightgbm(source, out)
    elif source.framework == "scikit-learn":
        _sklearn(source)
    else:
        raise UnsupportedModelError(f"--backend sklearn2pmml has no converter for {source.framework} models")


BACKENDS.register(
    "pmml:sklearn2pmml",
    Backend(name="sklearn2pmml", target="pmml", frameworks=("xgboost", "lightgbm", "scikit-learn"),
            description="the JPMML converters bundled with sklearn2pmml (JPMML-XGBoost, JPMML-LightGBM), on Java",
            write=write_sklearn2pmml, extra="sklearn2pmml"),
)
