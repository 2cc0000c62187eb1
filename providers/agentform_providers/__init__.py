"""Built-in agentform providers, shipped in the same wheel and found through entry points.

Nothing in :mod:`agentform` imports this package; the ``agentform.providers`` entry-point group
in pyproject.toml registers each provider, exactly as a third-party package would.
"""
