"""The numpy-only core every part of modelport may import.

It imports nothing else of modelport: the errors and exit codes, the registry, the version,
the IR (model, validate, serialize, evaluate, probe), the artifact contract (signature and
metadata, bundles), the named tolerances and the float numerics.  Runtimes import only this
package; converters, deploy and benchmarks build on it (docs/architecture.md).
"""
