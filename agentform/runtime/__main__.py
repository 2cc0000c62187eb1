"""``python -m agentform.runtime``: the entry point of the runtime's processes.

``engine --dir DIR --project NAME --base-dir PATH`` runs the local engine in the foreground (the
local provider starts it detached); ``worker --config FILE --id ID`` runs one worker (the engine
starts these when it does not fork them); ``forks --dir DIR`` runs the engine's fork server
(:mod:`agentform.runtime.host.forks`, which the engine starts). argparse, not click: the
runtime does not depend on the CLI's libraries.

The engine runs under :data:`agentform.private.UMASK`: what it, SQLite and nats-server create
under ``.agentform/`` is its owner's alone, and a tree an older version left readable is
tightened as it starts. Its workers get back the umask the engine was started with
(``AGENTFORM_USER_UMASK``): they create nothing under ``.agentform/`` themselves (SQLite gives the
store's side files the database's own mode), but their tools (MCP servers) write the user's files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from agentform import private

# the umask the engine was started with, for its workers' tools (the worker reads it back:
# agentform.runtime.worker.process.USER_UMASK, a test keeps the two the same)
USER_UMASK = "AGENTFORM_USER_UMASK"


def _engine(args: argparse.Namespace) -> int:
    os.environ[USER_UMASK] = oct(os.umask(private.UMASK))
    workdir = private.directory(Path(args.dir).resolve())
    # the whole .agentform/ (state, runtime store, other environments' engines), or just the
    # engine directory when it lives elsewhere
    private.tighten(workdir.parent if workdir.parent.name == ".agentform" else workdir)
    logging.basicConfig(
        level=os.environ.get("AGENTFORM_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s engine %(message)s",
    )

    async def main() -> int:
        from agentform.runtime.host.forks import Forks, forks_of  # the standard library only

        # the fork server first: it imports the worker's modules while this process imports
        # the engine's (side by side on two cores), and is ready before the first agent is
        forks = Forks(workdir)
        await forks.launch()

        import uvicorn

        from agentform.runtime.host import logfiles
        from agentform.runtime.host.control import build_app
        from agentform.runtime.host.engine import Engine, EngineError

        engine = Engine(workdir, project=args.project, base_dir=Path(args.base_dir))
        forks_of(engine, workdir, adopt=forks)
        try:
            await engine.start(args.port)
        except EngineError as exc:
            print(f"agentform engine: {exc}", file=sys.stderr)
            await forks.close()
            return 3
        config = uvicorn.Config(
            build_app(engine),
            host="127.0.0.1",
            port=engine.api_port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, engine.stopping.set)
        api = asyncio.create_task(server._serve())
        supervise = asyncio.create_task(engine.supervise())
        rotate = asyncio.create_task(
            logfiles.keep_rotating(engine.files, engine.stopping, logfiles.limit())
        )
        logging.getLogger("agentform.engine").info(
            "engine for %s up: api http://127.0.0.1:%d", args.project, engine.api_port
        )
        await engine.stopping.wait()
        await engine.shutdown()
        await forks_of(engine, workdir).close()  # after the workers it forked are stopped
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(api, 5)
        supervise.cancel()
        rotate.cancel()
        return 0

    return asyncio.run(main())


def _worker(args: argparse.Namespace) -> int:
    from agentform.runtime.worker.process import run_worker

    return run_worker(Path(args.config), args.id)


def _forks(args: argparse.Namespace) -> int:
    from agentform.runtime.host.fork_server import serve

    return serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentform.runtime")
    commands = parser.add_subparsers(dest="command", required=True)
    engine = commands.add_parser("engine", help="run the local engine in the foreground")
    engine.add_argument("--dir", required=True, help="the engine's directory (.agentform/engine)")
    engine.add_argument("--project", required=True)
    engine.add_argument("--base-dir", required=True, help="the spec's directory")
    engine.add_argument("--port", type=int, default=0, help="control API port (default: free)")
    engine.set_defaults(run=_engine)
    worker = commands.add_parser("worker", help="run one worker of one agent")
    worker.add_argument("--config", required=True)
    worker.add_argument("--id", required=True)
    worker.set_defaults(run=_worker)
    forks = commands.add_parser("forks", help="run an engine's fork server (the engine starts it)")
    forks.add_argument("--dir", required=True, help="the engine's directory, for 'ps' to show")
    forks.set_defaults(run=_forks)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
