"""The bench's HTML report renders in a real browser with its plots drawn: headless Chromium
takes a screenshot of the file (network disabled), and the plot colours must cover real area
of the page -- a broken image, a blank figure or a page that needs the network shows none."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)

# matplotlib's tab10 colours the report draws with: the first three series' lines (baseline, ir,
# onnx) and the size / conversion-time / load-time bars.  (The red memory bars may have zero
# length: a tiny model can load without growing the process's peak memory.)
PLOT_COLOURS = {"blue": (0x1F, 0x77, 0xB4), "orange": (0xFF, 0x7F, 0x0E), "green": (0x2C, 0xA0, 0x2C)}


def _screenshot(chromium: str, page, png, profile) -> None:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,2000", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"


def _colour_area(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 6) -> int:
    return int(np.all(np.abs(img[:, :, :3].astype(int) - np.array(rgb)) <= tol, axis=2).sum())


@pytest.mark.slow
@pytest.mark.onnx
def test_report_renders_with_plots_in_headless_chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    xgb = pytest.importorskip("xgboost")
    pytest.importorskip("matplotlib")
    pytest.importorskip("onnxruntime")
    PIL = pytest.importorskip("PIL.Image")
    from modelport._bench import BenchOptions, run_bench
    from modelport._report import write_reports

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(X, label=(X[:, 0] > 0).astype(float), feature_names=["a b", "ç", "&amp;td>"]), 8)
    model = tmp_path / "m.json"
    booster.save_model(str(model))
    result = run_bench(model, BenchOptions(formats=("ir", "onnx"), batches=(1, 10), budget=0.01, progress=False))
    page = write_reports(result, tmp_path / "report")["html"]

    png = tmp_path / "shot.png"
    _screenshot(CHROMIUM, page, png, tmp_path / "profile")
    img = np.asarray(PIL.open(png).convert("RGB"))
    assert img.shape[:2] == (2000, 1200)
    # Plot pixels: each series / bar colour covers real area (lines are 2 px wide, bars solid).
    areas = {name: _colour_area(img, rgb) for name, rgb in PLOT_COLOURS.items()}
    assert all(a > 1500 for a in areas.values()), areas
    # The plot band is not blank: many distinct colours (anti-aliased lines, text, grids).
    band = img[300:1500].reshape(-1, 3)
    assert len(np.unique(band, axis=0)) > 200
    # The tables rendered too (the page is not just images): plenty of dark text pixels.
    assert int((img[:, :, :3].max(axis=2) < 60).sum()) > 5000
