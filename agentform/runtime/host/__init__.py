"""The host: the local engine that supervises one project's runtime on this machine.

Owns the engine process (:mod:`.engine`) and its parts, each a function of an
:class:`~.view.EngineView`: the bus link (:mod:`.bus_link`), worker supervision
(:mod:`.supervisor`), rollouts (:mod:`.rollout`), health checks (:mod:`.health`), its files
(:mod:`.files`), the control API on 127.0.0.1 (:mod:`.control`) and the client the CLI and the
local provider call it with (:mod:`.client`). The top layer of the runtime: it may import every
other runtime package; none imports it.
"""
