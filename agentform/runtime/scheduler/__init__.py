"""The scheduler: the spec's schedules fired as tasks (APScheduler, one leader per store).

Home of milestone 2, step 4. Like the A2A front door it feeds tasks to the engine, so it sits in
the a2a layer, below the host that runs it and above the worker. Empty until then: schedules
are validated but fire nothing yet, and ``agentform validate`` says so.
"""
