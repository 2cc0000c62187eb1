"""Every agent as an A2A server, built on the official ``a2a-sdk``.

:mod:`.card` (the agent card), :mod:`.mapping` (runtime records as A2A types), :mod:`.handler`
(the SDK request handler in front of the engine's tasks), :mod:`.auth` (bearer tokens and the
invoke permission) and :mod:`.host` (one uvicorn server per agent in the engine's loop). See
``docs/a2a.md``.
"""

from agentform.runtime.a2a.host import A2AHost

__all__ = ["A2AHost"]
