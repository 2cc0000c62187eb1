"""The worker: one process of one agent, pulling its tasks and running the agent loop.

Owns the process (:mod:`.process`), its configuration as the engine renders it
(:mod:`.config`), heartbeats and keep-alives (:mod:`.liveness`), the agent loop (:mod:`.loop`)
with what a task's records say so far and its limits (:mod:`.progress`), prompt templates
(:mod:`.prompts`) and delegation along the spec's edges (:mod:`.delegation`). Below the host and
the A2A front door; above tools, policy, memory and models, which it puts together per task.
"""
