"""The contract across the process boundary: typed values the runtime receives from planning.

Planning builds one frozen value per resource kind from the spec; the runtime reads the same
typed objects. Nothing here imports the spec, the runtime or the CLI.
"""
