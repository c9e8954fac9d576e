"""``modelport package``: what model.tar.gz holds, and the serving side's safe extraction."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from modelport.core.contract import write_manifest
from modelport.core.errors import ModelFormatError, ModelportError
from modelport.deploy.sagemaker.package import PACKAGE_MANIFEST, extract, package, read_package


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="the packaged model is loaded with onnxruntime")
    pytest.importorskip("xgboost", reason="the test model is trained with xgboost")
    from sagemaker_helpers import train_onnx

    return train_onnx(tmp_path_factory.mktemp("sm-pkg"), n_trees=5)


def test_package_holds_artifact_and_manifest_only(onnx_model, tmp_path):
    out = tmp_path / "model.tar.gz"
    man = package(onnx_model, out)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names == [PACKAGE_MANIFEST, onnx_model.name]
    assert man["runtime"] == "onnx" and man["kind"] == "file"
    assert man["signature"]["task"] == "binary" and len(man["signature"]["features"]) == 8
    assert set(man["files"]) == {onnx_model.name}
    pkg = extract(out, tmp_path / "x")
    assert pkg.artifact == onnx_model.name and pkg.runtime == "onnx"
    assert (tmp_path / "x" / onnx_model.name).read_bytes() == onnx_model.read_bytes()


def test_package_is_reproducible(onnx_model, tmp_path):
    package(onnx_model, tmp_path / "a.tar.gz")
    package(onnx_model, tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_package_refuses_non_artifacts(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelportError):
        package(tmp_path / "notes.txt", tmp_path / "m.tar.gz")
    with pytest.raises(ModelportError, match="no such file"):
        package(tmp_path / "missing.onnx", tmp_path / "m.tar.gz")
    assert not (tmp_path / "m.tar.gz").exists()


def test_bundle_round_trip(tmp_path):
    bundle = tmp_path / "model.bundle"
    (bundle / "src").mkdir(parents=True)
    (bundle / "src" / "model.c").write_text("int f(void){return 0;}\n")
    (bundle / "README").write_text("x")
    write_manifest(bundle, format="c", runtime="ir", metadata={"modelport.task": "binary"}, entry="src/model.c")
    out = tmp_path / "b.tar.gz"
    man = package(bundle, out, check=False)  # no bundle runtime is registered to load it here
    assert man["kind"] == "bundle"
    assert set(man["files"]) == {"model.bundle/README", "model.bundle/src/model.c", "model.bundle/modelport.json"}
    pkg = extract(out, tmp_path / "x")
    assert (tmp_path / "x" / "model.bundle" / "src" / "model.c").read_text() == "int f(void){return 0;}\n"
    assert pkg.kind == "bundle"


def _evil(tmp_path, members, manifest=None):
    """A .tar.gz with a valid-looking manifest and the given (TarInfo, bytes|None) members."""
    out = tmp_path / "evil.tar.gz"
    doc = manifest or {"modelport_package": 1, "artifact": "m.onnx", "kind": "file", "runtime": "onnx",
                       "modelport_version": "0", "files": {}}
    data = json.dumps(doc).encode()
    with tarfile.open(out, "w:gz") as tar:
        info = tarfile.TarInfo(PACKAGE_MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for info, payload in members:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return out


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize("member,words", [
    (_file("../escape"), "unsafe path"),
    (_file("/etc/passwd"), "unsafe path"),
    (_file("a/../../escape"), "unsafe path"),
    (_link("m.onnx", "/etc/passwd", tarfile.SYMTYPE), "not a regular file"),
    (_link("m.onnx", PACKAGE_MANIFEST, tarfile.LNKTYPE), "not a regular file"),
    (_link("dev", "", tarfile.CHRTYPE), "not a regular file"),
    (_link("fifo", "", tarfile.FIFOTYPE), "not a regular file"),
], ids=["dotdot", "absolute", "nested-dotdot", "symlink", "hardlink", "device", "fifo"])
def test_extract_refuses_unsafe_members(tmp_path, member, words):
    out = _evil(tmp_path, [member])
    with pytest.raises(ModelFormatError, match=words):
        extract(out, tmp_path / "dest")
    assert not (tmp_path / "escape").exists()


def test_extract_enforces_size_and_checksums(onnx_model, tmp_path):
    out = tmp_path / "m.tar.gz"
    package(onnx_model, out)
    with pytest.raises(ModelFormatError, match="exceeds"):
        extract(out, tmp_path / "small", max_bytes=1000)
    # tampered artifact: same names, different bytes
    man = json.loads(tarfile.open(out).extractfile(PACKAGE_MANIFEST).read())
    bad = _evil(tmp_path, [_file(onnx_model.name, b"tampered")], manifest=man)
    with pytest.raises(ModelFormatError, match="checksum"):
        extract(bad, tmp_path / "d1")
    # an unlisted extra file
    extra = _evil(tmp_path, [_file(onnx_model.name, onnx_model.read_bytes()), _file("extra.py", b"print(1)")],
                  manifest=man)
    with pytest.raises(ModelFormatError, match="unlisted"):
        extract(extra, tmp_path / "d2")
    with pytest.raises(ModelFormatError, match="not a readable"):
        (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
        extract(tmp_path / "junk.tar.gz", tmp_path / "d3")


def test_read_package_rejects_foreign_directories(tmp_path):
    with pytest.raises(ModelFormatError, match="modelport package"):
        read_package(tmp_path)
