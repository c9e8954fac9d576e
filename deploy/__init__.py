"""Deployment adapters (``modelport.deploy``): they import the runtimes and the core, never
the converters, so a serving process loads no converter."""
