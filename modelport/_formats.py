"""The registries as plain tables: drives ``modelport formats`` and ``docs/supported.md``."""

from __future__ import annotations

from typing import Any

__all__ = ["registry_tables"]


def registry_tables() -> dict[str, list[dict[str, Any]]]:
    """Every registered frontend, framework source, target and runtime, sorted by name
    (registration order depends on which module happened to be imported first)."""
    from modelport.converters.frontends import all_frontends
    from modelport.converters.frontends._sources import all_sources
    from modelport.converters.backends import backend_names
    from modelport.converters.targets import all_targets
    from modelport.runtimes import all_runtimes

    frontends = [
        {"name": n, "framework": f.framework, "extensions": list(f.extensions), "description": f.description}
        for n, f in sorted(all_frontends().items())
    ]
    sources = [
        {"name": n, "framework": f.framework, "extensions": list(f.extensions), "description": f.description}
        for n, f in sorted(all_sources().items())
    ]
    targets = [
        {"name": n, "extension": t.extension, "runtime": t.runtime, "backends": list(backend_names(n)),
         "description": t.description}
        for n, t in sorted(all_targets().items())
    ]
    rts = [{"name": n, "description": r.description} for n, r in sorted(all_runtimes().items())]
    return {"frontends": frontends, "sources": sources, "targets": targets, "runtimes": rts}
