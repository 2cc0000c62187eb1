"""The policy decision point: one place that allows, denies or asks a human.

Home of milestone 2, step 2: consulted by the worker before every tool call, delegation and
memory access (and by the front doors for inbound requests), it matches the spec's policies
(``agents``, ``tools``, ``when``), records the decision as a step before acting on it, and turns
``require_approval`` into an approval request. Sits beside tools, memory and models in the
runtime's layers (below the worker that consults it); empty until then: the spec's policies are
not enforced at run time yet, and ``agentform validate`` says so.
"""
