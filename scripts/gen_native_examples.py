"""Regenerate the example code in docs/native-examples/ (C and Python in both code shapes; Java,
JavaScript, Go and Rust unrolled) for a hand-built two-tree model.

    python scripts/gen_native_examples.py           # rewrite the examples
    python scripts/gen_native_examples.py --check   # exit 1 if any is out of date (the tests run this)

The model: binary:logistic, three features (one with a hostile name), a missing-value
sentinel of -999, base score -0.2, tree 0 of depth 2 and tree 1 a single split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "docs" / "native-examples"


def example_model():
    """The two-tree model the examples are generated from."""
    from modelport.core.ir.model import (
        Comparison, Feature, Model, PostTransform, Provenance, Task, Tree, TreeEnsemble,
    )

    def tree(left, right, feature, threshold, value, default_left):
        n = len(left)
        return Tree(left=np.array(left, np.int32), right=np.array(right, np.int32),
                    feature=np.array(feature, np.int32), threshold=np.array(threshold, np.float32),
                    default_left=np.array(default_left, bool), is_categorical=np.zeros(n, bool),
                    cat_offsets=np.zeros(n + 1, np.int64), cat_values=np.zeros(0, np.int32),
                    value=np.array(value, np.float32).reshape(n, 1))

    t0 = tree([1, 3, 5, -1, -1, -1, -1], [2, 4, 6, -1, -1, -1, -1], [0, 1, 2, 0, 0, 0, 0],
              [0.1, -1.5, 3e-8, 0, 0, 0, 0], [0, 0, 0, 1.25, -0.5, 0.75, 2.0],
              [True, False, True, True, True, True, True])
    t1 = tree([1, -1, -1], [2, -1, -1], [2, 0, 0], [1.0000001, 0, 0], [0, 0.3, -0.3], [False, True, True])
    ens = TreeEnsemble(trees=(t0, t1), tree_output=np.zeros(2, np.int32), tree_weight=np.ones(2, np.float32),
                       comparison=Comparison.LT, threshold_dtype="float32", categories_in_set_go_left=False)
    feats = (Feature("age"), Feature('income "net" */ \\n'), Feature("score"))
    prov = Provenance(source_format="hand", framework="example", framework_version="", sha256="",
                      objective="binary:logistic")
    return Model(task=Task.BINARY, features=feats, n_outputs=1, n_classes=2, booster=ens,
                 base_score=np.array([-0.2], np.float32), post_transform=PostTransform.SIGMOID,
                 missing=-999.0, provenance=prov)


def _without_metadata(text: str) -> str:
    """The module without its checksum line and with METADATA elided: the artifact metadata
    (``modelport.core.contract``) changes with every release and is not what the example shows."""
    body = text.split("\n", 1)[1]
    start = body.index("METADATA = {\n")
    end = body.index("\n}\n", start) + 3
    note = "METADATA = {}  # in a real artifact: the modelport.* metadata map (elided in this example)\n"
    return "# modelport-python-model 1 sha256=<checksum of the rest; elided in this example>\n" + body[:start] + note + body[end:]


def render() -> dict[str, str]:
    """File name -> text of every example."""
    from modelport.converters.targets.native.c import generate_c
    from modelport.converters.targets.native.go import generate_go
    from modelport.converters.targets.native.java import generate_java
    from modelport.converters.targets.native.javascript import generate_javascript
    from modelport.converters.targets.native.python import generate_python
    from modelport.converters.targets.native.rust import generate_rust

    m = example_model()
    out: dict[str, str] = {}
    for shape in ("unrolled", "arrays"):
        files = generate_c(m, shape=shape)
        out["model.h"] = files["model.h"]
        out[f"model_{shape}.c"] = files["model.c"]
        out[f"model_{shape}.py"] = _without_metadata(generate_python(m, shape=shape))
    # The other languages share one emitter family: the unrolled shape shows the trees as code
    # (the arrays shape carries its node tables as one encoded string).
    out["Model_unrolled.java"] = generate_java(m, shape="unrolled")
    out["model_unrolled.mjs"] = generate_javascript(m, shape="unrolled")
    out["model_unrolled.go"] = generate_go(m, shape="unrolled")
    out["model_unrolled.rs"] = generate_rust(m, shape="unrolled")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed examples are out of date")
    args = ap.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="ascii") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="ascii")
    if stale:
        print(f"docs/native-examples is out of date ({', '.join(stale)}): run python scripts/gen_native_examples.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
