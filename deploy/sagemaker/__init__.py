"""SageMaker adapter (``modelport.deploy.sagemaker``): package an artifact as ``model.tar.gz``,
serve it with the SageMaker inference container contract, deploy it with boto3.

Imports the core and the runtimes only, never the converters (the serving process must
not load them).  See docs/sagemaker.md.
"""

from __future__ import annotations

__all__ = ["package", "extract", "read_package"]

from modelport.deploy.sagemaker.package import extract, package, read_package
