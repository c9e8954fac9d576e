"""Reports of ``modelport bench``: a self-contained HTML page (plots as inline SVG images,
no scripts, no external stylesheets, nothing fetched from the network) and a Markdown
summary that pastes into a pull request.  Both are rendered from the bench's JSON result
alone, so a saved ``report.json`` can be rendered again."""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

__all__ = ["render_html", "render_markdown", "render_plots", "write_reports"]

_TAB = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # matplotlib's tab10 blue, orange, green, red
_STATUS_TEXT = {"ok": "measured", "unavailable": "cannot run here", "unsupported": "cannot express this model",
                "failed": "failed", "parity_failure": "parity failure", "no_runtime": "no runtime"}


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
    return str(n)


def _parity(row: dict) -> tuple[str, str]:
    p = row.get("parity")
    if p is None:
        return ("not verified" if row.get("status") in ("ok", "no_runtime") else "-"), "-"
    ulp = p["margin_max_ulp"] if p.get("margin_max_ulp") is not None else p["max_ulp"]
    return ("PASS" if p["passed"] else "FAIL"), f"{ulp} (margin), {p['max_ulp']} ({p['output']})" \
        if p.get("margin_max_ulp") is not None else str(p["max_ulp"])


def _measured(result: dict) -> list[dict]:
    return [r for r in result["formats"] if "latency" in r]


def _series(result: dict) -> list[tuple[str, dict]]:
    """(label, row) for the baseline (when it ran) and every measured format."""
    base = result["baseline"]
    out = [("baseline: " + base["name"].split()[0], base)] if base.get("status") == "ok" else []
    return out + [(r["format"], r) for r in _measured(result)]


# --------------------------------------------------------------------------- plots


def render_plots(result: dict) -> dict[str, str] | str:
    """Plot name → SVG text, or a sentence saying why there are no plots."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plots: matplotlib is not installed (pip install 'modelport[bench]')"
    series = _series(result)
    if not series:
        return "no plots: no format could be measured"
    plt.rcParams.update({"svg.hashsalt": "modelport", "font.size": 9})
    colours = plt.get_cmap("tab10" if len(series) <= 10 else "tab20").colors
    ncol = len(colours)
    plots: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for i, (label, row) in enumerate(series):
        q = row["latency"]["quantiles_us"]
        pct = [100 * k / (len(q) - 1) for k in range(len(q))]
        ax.step(q, pct, where="post", color=colours[i % ncol], lw=2, label=label, ls="-" if i < ncol else "--")
    ax.set_xscale("log")
    ax.set_xlabel("single-row latency, µs (log scale)")
    ax.set_ylabel("percentile of calls")
    ax.set_title("Latency distribution per format (left is faster)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    plots["latency"] = _svg(fig, plt)

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for i, (label, row) in enumerate(series):
        b = sorted(int(k) for k in row["throughput"])
        ax.plot(b, [row["throughput"][str(k)]["rows_per_s"] for k in b], marker="o", lw=2, color=colours[i % ncol],
                label=label, ls="-" if i < ncol else "--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size, rows (log scale)")
    ax.set_ylabel("rows per second (log scale)")
    ax.set_title("Throughput against batch size (higher is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    plots["throughput"] = _svg(fig, plt)

    rows = [r for r in result["formats"] if r.get("artifact_bytes") is not None]
    if rows:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 0.8 + 0.45 * len(rows)))
        names = [r["format"] for r in rows]
        _bars(a1, names, [r["artifact_bytes"] / 1024 for r in rows], "artifact size on disk, KiB", _TAB[0], "{:,.1f}")
        _bars(a2, names, [r["convert_seconds"] for r in rows], "conversion + verification time, s", _TAB[1],
              "{:.2f}")
        a2.set_yticklabels([])
        fig.tight_layout()
        plots["size"] = _svg(fig, plt)
    loaded = [r for r in _measured(result) if "load_seconds" in r]
    if loaded:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 0.8 + 0.45 * len(loaded)))
        names = [r["format"] for r in loaded]
        _bars(a1, names, [(r["load_seconds"] + r.get("first_predict_seconds", 0)) * 1e3 for r in loaded],
              "load + first prediction, ms", _TAB[2], "{:,.1f}")
        _bars(a2, names, [r["memory"]["peak_bytes"] / 2**20 for r in loaded], "peak memory growth (this process), MiB",
              _TAB[3],
              "{:,.1f}")
        a2.set_yticklabels([])
        fig.tight_layout()
        plots["load"] = _svg(fig, plt)
    return plots


def _bars(ax, names: list[str], values: list[float], label: str, colour, fmt: str) -> None:
    bars = ax.barh(names, values, color=colour)
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    ax.set_xlabel(label)
    ax.set_xlim(0, (max(values) or 1) * 1.35)
    ax.invert_yaxis()


def _svg(fig, plt) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


# --------------------------------------------------------------------------- shared content


def _header(result: dict) -> dict[str, str]:
    m, s, env = result["model"], result["settings"], result["environment"]
    mach = env["machine"]
    mem = f"{mach['memory_bytes'] / 2**30:.1f} GiB" if mach.get("memory_bytes") else "unknown"
    return {
        "model": f"{Path(m['path']).name}: {m['framework']} {m['framework_version']}, {m['objective'] or m['task']}, "
                 f"{m['n_trees']} trees, {m['n_features']} features",
        "rows": f"{result['rows']['n']:,} rows, {result['rows']['source']}",
        "machine": f"{mach['cpu']}; {mach['cores']} cores ({mach['usable_cores']} usable); {mem} memory; "
                   f"{mach['os']} {mach['arch']}; {mach['python']}",
        "timing": f"{s['threads']} thread(s) per runtime and baseline; clock {s['clock']} (resolution "
                  f"{s['clock_resolution_ns']} ns); warm-up, then samples until the median moves < 2% "
                  f"(budget {s['budget_seconds']} s per measurement); every timed call gets different rows "
                  "(no credit for a runtime's memo of its last input); load times "
                  + ("cold (empty build cache)" if s.get("cold_caches") else "with the user's build cache"),
        "memory": next((f"peak memory growth while loading and predicting the largest batch: {r['memory']['method']}"
                        for r in _measured(result) if r.get("memory")), "not measured"),
        "baseline": result["baseline"]["name"] + ("" if result["baseline"]["status"] == "ok"
                                                  else f" (not measured: {result['baseline']['reason']})"),
        "versions": ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
    }


def _result_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    batches = [str(b) for b in result["settings"]["batches"]]
    head = ["format", "parity", "p50 µs", "p95 µs", "p99 µs", *[f"rows/s @ {int(b):,}" for b in batches],
            "p50 vs baseline", f"time vs baseline @ {int(batches[-1]):,}", "load ms", "peak memory", "size",
            "convert s"]
    rows = []
    for label, r in _series(result):
        is_base = r is result["baseline"]
        v = r.get("vs_baseline", {})
        rows.append([label, "-" if is_base else _parity(r)[0], f"{r['latency']['p50_us']:,.1f}",
                     f"{r['latency']['p95_us']:,.1f}", f"{r['latency']['p99_us']:,.1f}",
                     *[f"{r['throughput'][b]['rows_per_s']:,.0f}" for b in batches],
                     "1.00x" if is_base else (f"{v['p50_latency']:.2f}x" if v else "-"),
                     "1.00x" if is_base else (f"{v['time_' + batches[-1]]:.2f}x" if v else "-"),
                     "-" if is_base else f"{(r['load_seconds'] + r.get('first_predict_seconds', 0)) * 1e3:,.1f}",
                     "-" if is_base else _size(r["memory"]["peak_bytes"])
                     + (" + child process" if r["memory"].get("child_processes") else ""),
                     "-" if is_base else _size(r.get("artifact_bytes")),
                     "-" if is_base else f"{r['convert_seconds']:.2f}"])
    return head, rows


def _parity_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    head = ["format", "verified", "max ULP", "rows", "tolerance", "max abs diff vs baseline", "status"]
    rows = []
    for r in result["formats"]:
        verdict, ulp = _parity(r)
        p = r.get("parity") or {}
        d = r.get("max_abs_diff_vs_baseline")
        rows.append([r["format"], verdict, ulp, str(p.get("rows", "-")), p.get("tolerance", "-"),
                     "-" if d is None else f"{d:.3g}",
                     _STATUS_TEXT.get(r["status"], r["status"]) + (f": {r['reason']}" if r.get("reason") else "")])
    return head, rows


# --------------------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(map(_md_cell, head)) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(map(_md_cell, r)) + " |" for r in rows)]


def render_markdown(result: dict) -> str:
    """The Markdown summary (tables only: it pastes into a pull request)."""
    h = _header(result)
    lines = ["# modelport bench", "", f"- **Model**: {_md_cell(h['model'])}", f"- **Rows**: {_md_cell(h['rows'])}",
             f"- **Machine**: {_md_cell(h['machine'])}", f"- **Timing**: {_md_cell(h['timing'])}",
             f"- **Memory**: {_md_cell(h['memory'])}", f"- **Baseline**: {_md_cell(h['baseline'])}",
             f"- **Versions**: {_md_cell(h['versions'])}", "",
             "## Which format for which need", ""]
    recs = result.get("recommendations") or []
    lines += [f"- **{_md_cell(r['need'])}**: `{r['format']}` ({_md_cell(r['why'])})" for r in recs] or \
        ["- no format both ran and passed parity here"]
    lines += ["", "## Speed (time ratios > 1: slower than the baseline)", "", *_md_table(*_result_rows(result)),
              "", "## Parity (every artifact verified against the reference before it was measured)", "",
              *_md_table(*_parity_rows(result)), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}td.l{text-align:left}tr:nth-child(even){background:#f6f8fa}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure.plot{margin:0;border:1px solid #ddd;padding:4px}
figure.plot img{display:block;max-width:100%}.pass{color:#11772d;font-weight:600}.fail{color:#b00020;font-weight:600}
"""


def _html_table(head: list[str], rows: list[list[str]], *, left: tuple[int, ...] = ()) -> str:
    def cell(i: int, v: str) -> str:
        cls = {"PASS": ' class="pass"', "FAIL": ' class="fail"'}.get(v, ' class="l"' if i in left else "")
        return f"<td{cls}>{html.escape(str(v))}</td>"

    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows]
    return "".join(out) + "</tbody></table>"


def render_html(result: dict, plots: dict[str, str] | str | None = None) -> str:
    """The self-contained HTML report (``plots`` from :func:`render_plots`; rendered when None)."""
    plots = render_plots(result) if plots is None else plots
    h = _header(result)
    esc = html.escape
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\">", f"<title>modelport bench: {esc(Path(result['model']['path']).name)}</title>",
             f"<style>{_CSS}</style></head><body>", "<h1>modelport bench</h1><dl>"]
    for key in ("model", "rows", "machine", "timing", "memory", "baseline", "versions"):
        parts.append(f"<dt>{key}</dt><dd>{esc(h[key])}</dd>")
    parts.append(f"<dt>generated</dt><dd>{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}</dd></dl>")
    parts.append("<h2>Which format for which need</h2><ul>")
    recs = result.get("recommendations") or []
    parts += [f"<li><b>{esc(r['need'])}</b>: <code>{esc(r['format'])}</code> ({esc(r['why'])})</li>" for r in recs]
    parts.append("</ul>" if recs else "<li>no format both ran and passed parity here</li></ul>")
    parts.append("<h2>Plots</h2>")
    if isinstance(plots, str):
        parts.append(f"<p>{esc(plots)}</p>")
    else:
        parts.append('<div class="plots">')
        for name, svg in plots.items():
            data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
            parts.append(f'<figure class="plot" id="plot-{name}"><img alt="{name} plot" '
                         f'src="data:image/svg+xml;base64,{data}"></figure>')
        parts.append("</div>")
    parts.append("<h2>Speed (time ratios &gt; 1: slower than the baseline)</h2>")
    parts.append(_html_table(*_result_rows(result)))
    parts.append("<h2>Parity (every artifact verified against the reference before it was measured)</h2>")
    parts.append(_html_table(*_parity_rows(result), left=(1, 2, 4, 6)))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_reports(result: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and ``report.json`` into ``out_dir`` (created if
    needed); return their paths keyed ``html``, ``markdown``, ``json``."""
    from modelport._verify import jsonable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "markdown": out / "report.md", "json": out / "report.json"}
    paths["html"].write_text(render_html(result), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(result), encoding="utf-8")
    paths["json"].write_text(json.dumps(jsonable(result), indent=2, allow_nan=False, default=str), encoding="utf-8")
    return {k: v.resolve() for k, v in paths.items()}
