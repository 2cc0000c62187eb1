"""The scheduler: the spec's schedules fired as tasks (APScheduler, one leader per store).

* :mod:`.schedules` owns :class:`Schedules`, what the engine holds: the declared schedules, their
  run-time state (paused, last fire) in the runtime store, and firing one now;
* :mod:`.jobs` owns APScheduler inside the engine, its job store a table of the runtime store;
* :mod:`.leader` owns the leader lease in NATS KV: of all the engines on one store and bus, only
  the one holding it runs APScheduler, and a standby takes over within the lease's time to live
  when the leader dies.

Like the A2A front door it feeds tasks to the engine (through a function the engine passes, so
a fire goes through the engine's normal submit path), so it sits in the a2a layer, below the
host that runs it and above the worker.
"""

from agentform.runtime.scheduler.schedules import Listed, Schedules

__all__ = ["Listed", "Schedules"]
