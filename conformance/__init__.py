"""openai-compat-conformance: a conformance suite for OpenAI-compatible LLM providers.

The package is a library (providers, catalog, checks, results, report) with a thin CLI
(`conformance.cli`) and a pytest plugin (`conformance.plugin`) on top.
"""

__version__ = "0.1.0"
