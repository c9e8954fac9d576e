"""Real model files written by older XGBoost releases, with the outputs THAT release computed.

The fixtures under ``tests/fixtures/xgboost_legacy/<version>/`` come from
``scripts/make_legacy_fixtures.py`` run with each old xgboost (see the README.md in each
folder).  No xgboost import here: the stored outputs are the reference, so these tests pin the
frontend to every release's own semantics (trap 1 of docs/parity-traps.md and 13), not to 3.2's reading of
an old file.

* margins (``output_margin=True``) must be bit-identical;
* ``predict`` within ``evaluate.TRANSFORM_ULP`` float32 ULPs;
* the legacy binary format is refused in one line, by the plain detection and by SageMaker.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from modelport.converters.frontends import detect_frontend, load_model
from modelport.core.ir.evaluate import TRANSFORM_ULP, predict, predict_margin
from modelport.core.ir.model import TreeEnsemble
from modelport.core.numerics import ulp_distance
from modelport.core.errors import ModelFormatError, UnsupportedModelError

ROOT = Path(__file__).parent / "fixtures" / "xgboost_legacy"


def _from_hex(text: str, shape: list[int]) -> np.ndarray:
    """8 hex digits per float32 bit pattern, row-major (see scripts/make_legacy_fixtures.py)."""
    assert len(text) % 8 == 0
    bits = np.array([int(text[i:i + 8], 16) for i in range(0, len(text), 8)], dtype=np.uint32)
    return bits.view(np.float32).reshape(shape)


def _cases() -> list:
    out = []
    for exp_path in sorted(ROOT.glob("*/*.expected.json")):
        exp = json.loads(exp_path.read_text())
        for fname in exp["files"]:
            out.append(pytest.param(exp_path, fname, id=f"{exp_path.parent.name}/{fname}"))
    return out


CASES = _cases()


def _load_case(exp_path: Path, fname: str):
    exp = json.loads(exp_path.read_text())
    X = _from_hex(exp["probe_rows_f32_hex"], exp["probe_shape"])
    margin = _from_hex(exp["margin_f32_hex"], exp["margin_shape"])
    pred = _from_hex(exp["predict_f32_hex"], exp["predict_shape"])
    return exp, load_model(exp_path.parent / fname), X, margin, pred


_ulps = ulp_distance  # the one definition (modelport.core.numerics)


def test_fixtures_present():
    versions = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
    # 1.2.1 / 1.3.3 / 1.4.2 pin the releases where the intercept's place in the float32 sum and
    # logitraw's intercept link changed (see converters/frontends/xgboost.py _base_margin_last).
    assert {"1.0.2", "1.2.1", "1.3.3", "1.4.2", "1.7.6", "2.0.3", "2.1.4"} <= set(versions), versions
    for v in versions:
        assert (ROOT / v / "README.md").is_file(), f"{v}: README.md says how the files were made"
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert total < 800_000, f"legacy fixtures are {total} bytes: keep them small"


@pytest.mark.parametrize("exp_path,fname", CASES)
def test_margin_bitwise(exp_path, fname):
    exp, model, X, ref, _ = _load_case(exp_path, fname)
    ours = np.asarray(predict_margin(model, X), dtype=np.float32)
    # predict_margin is always [rows, outputs]; xgboost squeezes a single output to [rows].
    assert ours.shape == (ref.shape[0], ref.shape[1] if ref.ndim == 2 else 1), (
        f"margin shape {ours.shape} vs xgboost {exp['xgboost_version']} {ref.shape}")
    ref = ref.reshape(ours.shape)
    diff = ours.view(np.uint32) != ref.view(np.uint32)
    if diff.any():
        i = tuple(np.argwhere(diff)[0])
        pytest.fail(f"{fname} (xgboost {exp['xgboost_version']}): {int(diff.sum())}/{diff.size} margins differ "
                    f"in bits; first at {i}: ours {ours[i]!r} vs xgboost {ref[i]!r}")


@pytest.mark.parametrize("exp_path,fname", CASES)
def test_predict_within_ulp(exp_path, fname):
    exp, model, X, _, ref = _load_case(exp_path, fname)
    ours = np.asarray(predict(model, X), dtype=np.float32)
    assert ours.shape == ref.shape, f"predict shape {ours.shape} vs xgboost {exp['xgboost_version']} {ref.shape}"
    finite = np.isfinite(ref)
    assert np.array_equal(finite, np.isfinite(ours))
    worst = int(_ulps(ours[finite], ref[finite]).max(initial=0))
    assert worst <= TRANSFORM_ULP, f"{fname} (xgboost {exp['xgboost_version']}): predictions differ by {worst} ULP"


@pytest.mark.parametrize("exp_path,fname", CASES)
def test_provenance_and_leaf_size(exp_path, fname):
    exp = json.loads(exp_path.read_text())
    model = load_model(exp_path.parent / fname)
    want = ".".join(exp["xgboost_version"].split(".")[:3])
    assert model.provenance.framework_version == want
    assert model.provenance.objective == exp["params"]["objective"]
    if isinstance(model.booster, TreeEnsemble):
        # 1.x writes size_leaf_vector "0" for scalar leaves: the IR must still say 1.
        assert model.booster.leaf_dim == 1
        assert all(t.value.shape[1] == 1 for t in model.booster.trees)


@pytest.mark.parametrize("version,gbtree_base_last,dart_base_last", [
    ("1.2.1", True, True), ("1.3.3", False, True), ("1.4.2", False, False), ("1.7.6", False, False),
])
def test_intercept_position_by_writer_version(version, gbtree_base_last, dart_base_last):
    """Before 1.3 (gbtree) / 1.4 (dart) the intercept was added after the trees' float32 sum:
    encoded as base_score 0 plus one single-leaf tree per output at the end."""
    for name, last in (("count_poisson", gbtree_base_last), ("multi_softprob", gbtree_base_last),
                       ("dart", dart_base_last)):
        m = load_model(ROOT / version / f"{name}.json")
        assert (not np.any(m.base_score)) == last, (version, name, m.base_score)
        tail = m.booster.trees[-m.n_outputs:]
        assert all(t.left.size == 1 for t in tail) == last, (version, name)


@pytest.mark.parametrize("version,margin0", [("1.0.2", 0.0), ("1.2.1", 0.0), ("1.3.3", 0.5), ("1.7.6", 0.5)])
def test_logitraw_intercept_link_by_writer_version(version, margin0):
    """base_score 0.5 is margin 0 before 1.3 (LogisticRaw inherited the logit), 0.5 after."""
    m = load_model(ROOT / version / "binary_logitraw.json")
    lm = json.loads((ROOT / version / "binary_logitraw.json").read_text())["learner"]["learner_model_param"]
    assert float(lm["base_score"]) == 0.5
    start = m.base_score[0] if np.any(m.base_score) else m.booster.trees[-1].value[0, 0]
    assert float(start) == margin0


# ---------------------------------------------------------------- legacy binary format

LEGACY = sorted(ROOT.glob("*/legacy_binary.bin"))


def test_legacy_binary_fixture_exists():
    assert any(p.parent.name.startswith("1.7") for p in LEGACY), LEGACY


@pytest.mark.parametrize("path", LEGACY, ids=[p.parent.name for p in LEGACY])
def test_legacy_binary_plain_refused(path):
    for fn in (lambda: detect_frontend(path), lambda: load_model(path)):
        with pytest.raises(ModelFormatError) as ei:
            fn()
        msg = str(ei.value)
        assert "\n" not in msg and "not a model format modelport reads" in msg, msg


@pytest.mark.parametrize("path", LEGACY, ids=[p.parent.name for p in LEGACY])
def test_legacy_binary_sagemaker_refused(path, tmp_path):
    data = path.read_bytes()
    tar = tmp_path / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert detect_frontend(tar).name == "sagemaker-xgboost"
    with pytest.raises(UnsupportedModelError) as ei:
        load_model(tar)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    assert "legacy binary" in msg and "save_model('model.json')" in msg, msg
