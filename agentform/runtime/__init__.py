"""The agent runtime: the processes that *are* the agents.

Launched by providers as ``python -m agentform.runtime ...`` (worker, engine); never imported by
the planning core (an import-linter contract keeps the process boundary honest). Submodules own
one concept each: ``conversation`` (message shapes), ``models`` (model adapters), ``tools`` (MCP
tools), ``store`` (tasks and step records), ``bus`` (NATS JetStream), ``natsd`` (the embedded
nats-server), ``worker`` (the agent loop), ``engine`` (the local supervisor and control API).
"""
