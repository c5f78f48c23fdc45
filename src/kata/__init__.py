"""LLM Katas harness: catalog, stub generation, grading, diagnosis and the `kata` CLI."""

__version__ = "0.1.0"
