"""Write golden fixtures from WHATEVER xgboost is installed: real model files plus the outputs
that xgboost version itself computes on fixed probe rows.

    <venv-with-old-xgboost>/bin/python scripts/make_legacy_fixtures.py OUTDIR

For example (throwaway venvs outside the repo; xgboost 1.x needs numpy<2):

    python3 -m venv /tmp/xgb17 && /tmp/xgb17/bin/pip install "xgboost==1.7.6" "numpy<2"
    /tmp/xgb17/bin/python scripts/make_legacy_fixtures.py tests/fixtures/xgboost_legacy/1.7.6

Needs only xgboost and numpy (no modelport import: it must run on old releases).  Writes, per
model NAME:

* ``NAME.json`` (every version) and ``NAME.ubj`` (xgboost >= 1.6, where UBJSON exists);
* ``NAME.expected.json``: the probe rows (float32 bit patterns, 8 hex digits per value,
  concatenated row-major in one string), the margins
  (``predict(output_margin=True)``) and the predictions (``predict()``) computed by THIS xgboost,
  also as float32 hex, with their shapes.  Probe rows hold NaN in every feature, values exactly
  on split thresholds read from the model's own JSON and one float32 ULP either side, category
  codes seen, unseen and invalid (categorical model), and seeded random rows;
* with xgboost < 2.0 also ``legacy_binary.bin``: a model in the legacy binary format (the
  SageMaker-refusal test packs it into a model.tar.gz itself);
* ``README.md``: which xgboost produced the files and with which command.

Before writing, every saved file is loaded back into a fresh Booster and must reproduce the
margins bit for bit, so a fixture never records a save/load round-trip loss of xgboost's own.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import xgboost as xgb

N_ROWS = 300
N_FEATURES = 5
SEED = 20240601
#: Thresholds probed per feature (each gives three rows: on it, one ULP below, one ULP above).
THRESHOLDS_PER_FEATURE = 3
N_RANDOM_PROBES = 16
N_CATEGORIES = 5
CAT_FEATURE = 1


def _version() -> tuple[int, ...]:
    parts = []
    for p in xgb.__version__.split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


VERSION = _version()


def _data(kind: str, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    X[rng.uniform(size=X.shape) < 0.05] = np.nan  # some training NaN: learnt default directions
    z = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 2]) - 0.3 * np.nan_to_num(X[:, 3])
    if kind == "categorical":
        codes = rng.randint(0, N_CATEGORIES, size=N_ROWS).astype(np.float32)
        X[:, CAT_FEATURE] = codes
        z = z + np.array([0.0, 1.5, -1.0, 0.7, -2.0], dtype=np.float32)[codes.astype(int)]
        return X, z + 0.1 * rng.normal(size=N_ROWS)
    if kind == "binary":
        return X, (z + 0.3 * rng.normal(size=N_ROWS) > 0).astype(np.float32)
    if kind == "multiclass":
        return X, np.digitize(z + 0.3 * rng.normal(size=N_ROWS), [-0.5, 0.5]).astype(np.float32)
    if kind == "positive":
        return X, np.exp(0.5 * z + 0.1 * rng.normal(size=N_ROWS)).astype(np.float32)
    if kind == "count":
        return X, rng.poisson(np.exp(0.5 * z)).astype(np.float32)
    return X, (z + 0.1 * rng.normal(size=N_ROWS)).astype(np.float32)


def _cases() -> list[tuple[str, str, dict, int]]:
    """(name, data kind, params, rounds): tiny models, depth <= 3."""
    base = {"max_depth": 3, "eta": 0.3, "seed": 7, "nthread": 1}
    cases = [
        ("binary_logistic", "binary", {"objective": "binary:logistic"}, 3),
        # An explicit intercept: every version must map it through the logit link.
        ("binary_logistic_base_score", "binary", {"objective": "binary:logistic", "base_score": 0.3}, 3),
        ("multi_softprob", "multiclass", {"objective": "multi:softprob", "num_class": 3}, 2),
        ("reg_gamma", "positive", {"objective": "reg:gamma"}, 3),
        ("count_poisson", "count", {"objective": "count:poisson"}, 3),
        ("binary_logitraw", "binary", {"objective": "binary:logitraw"}, 3),
        ("gblinear", "regression", {"objective": "reg:squarederror", "booster": "gblinear",
                                    "updater": "coord_descent", "feature_selector": "cyclic"}, 4),
        ("gblinear_multi", "multiclass", {"objective": "multi:softprob", "num_class": 3,
                                          "booster": "gblinear", "updater": "coord_descent",
                                          "feature_selector": "cyclic"}, 3),
        ("dart", "regression", {"objective": "reg:squarederror", "booster": "dart", "rate_drop": 0.4,
                                "skip_drop": 0.0, "one_drop": 1}, 4),
    ]
    if VERSION >= (1, 6):
        cases.append(("categorical", "categorical", {"objective": "reg:squarederror", "tree_method": "hist",
                                                     "max_cat_to_onehot": 1}, 3))
    out = []
    for name, kind, params, rounds in cases:
        p = dict(base)
        p.update(params)
        if p.get("booster") == "gblinear":
            p.pop("max_depth")
        out.append((name, kind, p, rounds))
    return out


def _dmatrix(X: np.ndarray, label=None, categorical: bool = False) -> xgb.DMatrix:
    if categorical:
        ft = ["c" if j == CAT_FEATURE else "q" for j in range(N_FEATURES)]
        return xgb.DMatrix(X, label=label, missing=np.nan, feature_types=ft, enable_categorical=True)
    return xgb.DMatrix(X, label=label, missing=np.nan)


def _trees(doc: dict) -> list[dict]:
    gb = doc["learner"]["gradient_booster"]
    if gb.get("name") == "gblinear":
        return []
    inner = gb["gbtree"] if "gbtree" in gb else gb
    return inner["model"]["trees"]


def _thresholds(doc: dict) -> dict[int, list[np.float32]]:
    """Numeric split thresholds per feature, read from the model's JSON (float32 exact)."""
    found: dict[int, set] = {}
    for t in _trees(doc):
        left = t["left_children"]
        stype = t.get("split_type") or [0] * len(left)
        for i, (lc, f, c) in enumerate(zip(left, t["split_indices"], t["split_conditions"], strict=True)):
            if lc != -1 and int(stype[i]) == 0:
                found.setdefault(int(f), set()).add(np.float32(c))
    out = {}
    for f, vals in found.items():
        s = sorted(vals)
        pick = np.linspace(0, len(s) - 1, min(THRESHOLDS_PER_FEATURE, len(s))).round().astype(int)
        out[f] = [s[i] for i in sorted(set(pick.tolist()))]
    return out


def _probe_rows(doc: dict, X_train: np.ndarray, categorical: bool, rng: np.random.RandomState) -> np.ndarray:
    def rand_row() -> np.ndarray:
        r = X_train[rng.randint(0, X_train.shape[0])].copy()
        return r

    rows = [np.full(N_FEATURES, np.nan, dtype=np.float32)]
    for j in range(N_FEATURES):  # NaN in every feature, alone
        r = rand_row()
        r[j] = np.nan
        rows.append(r)
    inf = np.float32(np.inf)
    for f, ts in sorted(_thresholds(doc).items()):
        for t in ts:
            for v in (t, np.nextafter(t, -inf), np.nextafter(t, inf)):
                r = rand_row()
                r[f] = v
                rows.append(r)
    if categorical:
        # Seen codes, an unseen code, a negative and a huge (invalid) one, a non-integer.
        for v in list(range(N_CATEGORIES)) + [N_CATEGORIES + 2, -1, float(1 << 24), 2.5]:
            r = rand_row()
            r[CAT_FEATURE] = v
            rows.append(r)
    for _ in range(N_RANDOM_PROBES):
        r = rng.normal(size=N_FEATURES).astype(np.float32)
        if categorical:
            r[CAT_FEATURE] = rng.randint(0, N_CATEGORIES)
        r[rng.uniform(size=N_FEATURES) < 0.15] = np.nan
        rows.append(r)
    return np.asarray(rows, dtype=np.float32)


def _hex(a) -> str:
    """float32 values, row-major, as one string of 8-hex-digit bit patterns (lossless, NaN too)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return "".join(f"{int(u):08x}" for u in a.view(np.uint32).ravel())


def _bits_equal(a, b) -> bool:
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def _save(booster, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster.save_model(str(path))


def make(outdir: Path) -> list[str]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    has_ubj = VERSION >= (1, 6)
    for idx, (name, kind, params, rounds) in enumerate(_cases()):
        rng = np.random.RandomState(SEED + idx)
        X, y = _data(kind, rng)
        categorical = kind == "categorical"
        dtrain = _dmatrix(X, y, categorical)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgb.train(params, dtrain, num_boost_round=rounds)
        jpath = outdir / f"{name}.json"
        _save(booster, jpath)
        doc = json.loads(jpath.read_text())
        X_probe = _probe_rows(doc, X, categorical, rng)
        dprobe = _dmatrix(X_probe, None, categorical)
        margin = np.asarray(booster.predict(dprobe, output_margin=True), dtype=np.float32)
        pred = np.asarray(booster.predict(dprobe), dtype=np.float32)
        files = [jpath]
        if has_ubj:
            upath = outdir / f"{name}.ubj"
            _save(booster, upath)
            files.append(upath)
        for f in files:  # xgboost itself must read its own file back bit for bit
            b2 = xgb.Booster(model_file=str(f))
            m2 = np.asarray(b2.predict(dprobe, output_margin=True), dtype=np.float32)
            if not _bits_equal(m2, margin):
                raise SystemExit(f"{f}: xgboost {xgb.__version__} does not reproduce its own margins after reload")
        expected = {
            "xgboost_version": xgb.__version__,
            "model": name,
            "files": [f.name for f in files],
            "params": params,
            "num_boost_round": rounds,
            "feature_types": (["c" if j == CAT_FEATURE else "q" for j in range(N_FEATURES)]
                              if categorical else None),
            "probe_shape": list(X_probe.shape),
            "probe_rows_f32_hex": _hex(X_probe),
            "margin_shape": list(margin.shape),
            "margin_f32_hex": _hex(margin),
            "predict_shape": list(pred.shape),
            "predict_f32_hex": _hex(pred),
        }
        epath = outdir / f"{name}.expected.json"
        epath.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        written += [f.name for f in files] + [epath.name]
        if name == "binary_logistic" and VERSION < (2, 0):
            # Legacy binary format: the default of save_model for a non-.json name before 2.0.
            bpath = outdir / "legacy_binary.bin"
            _save(booster, bpath)
            if bpath.read_bytes()[:1] == b"{":
                raise SystemExit("expected the legacy binary format, got JSON/UBJSON")
            written.append(bpath.name)
    readme = outdir / "README.md"
    readme.write_text(
        f"# XGBoost {xgb.__version__} golden fixtures\n\n"
        f"Generated by xgboost {xgb.__version__} (numpy {np.__version__}, Python "
        f"{sys.version.split()[0]}) with:\n\n"
        f"    <venv with xgboost=={xgb.__version__}>/bin/python scripts/make_legacy_fixtures.py "
        f"tests/fixtures/xgboost_legacy/{xgb.__version__}\n\n"
        "Each `NAME.expected.json` holds the probe rows and the margins/predictions that THIS\n"
        "xgboost version computed on them (float32 bit patterns as hex). Checked by\n"
        "tests/test_xgboost_legacy_files.py. Do not edit by hand: regenerate.\n\n"
        "Files: " + ", ".join(sorted(written)) + "\n"
    )
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(f"usage: {argv[0]} OUTDIR", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    written = make(Path(argv[1]))
    print(f"xgboost {xgb.__version__}: wrote {len(written)} files to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
