"""Memory as tools: what an agent's model calls to remember, recall, share and keep notes.

:class:`MemoryTools` is a toolbox (the shape the agent loop calls) built from the stores the agent
lists, offering only what the store's ``access`` lets the agent do:

* ``long_term``: ``remember`` (a fact, optionally named by ``key`` to replace it later),
  ``recall`` (ranked search within the task's scope key), ``forget``;
* ``shared``: ``shared_get``, ``shared_set`` (compare-and-set on the version read),
  ``shared_add`` (an atomic counter), ``shared_list``, ``shared_watch`` (wait for a change);
* ``working``: ``scratch_write`` and ``scratch_read``, notes of the task itself.

Session stores have no tools: their history is put in context (:mod:`.context`). The scope key of
every request comes from the task (its conversation, its ``customer_id`` input...), never from
the model, so a model cannot reach another customer's memory whatever it asks. Every write
carries the tool call's idempotency key: a call replayed after a crash does not write twice.
Refusals, caps and version conflicts come back to the model as error results it can act on.
:class:`CombinedTools` puts these next to the agent's other tools.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from agentform.runtime.conversation import ToolSpec
from agentform.runtime.store.memory.config import InvalidScope, TaskScope, scope_key
from agentform.runtime.store.memory.service import Entry, Memory, MemoryStoreError, VersionConflict

__all__ = ["CURRENT_TASK", "CombinedTools", "MemoryTools", "memory_tool_names"]

# the task the current asyncio task runs; set by the worker before the agent loop runs it
CURRENT_TASK: ContextVar[TaskScope | None] = ContextVar("agentform_memory_task", default=None)
WATCH_POLL = 0.2
MAX_WATCH = 30.0

_KIND_TOOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "long_term": {"read": ("recall",), "write": ("remember", "forget")},
    "shared": {
        "read": ("shared_get", "shared_list", "shared_watch"),
        "write": ("shared_set", "shared_add"),
    },
    "working": {"read": ("scratch_read",), "write": ("scratch_write",)},
}


def memory_tool_names() -> frozenset[str]:
    return frozenset(n for modes in _KIND_TOOLS.values() for ns in modes.values() for n in ns)


@dataclass(frozen=True, slots=True)
class Result:
    content: str
    is_error: bool = False


def _ok(value: Any) -> Result:
    return Result(json.dumps(value, ensure_ascii=False, default=str))


def _entry(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entry.id, "text": entry.text, "version": entry.version}
    if entry.key is not None:
        out["key"] = entry.key
    if entry.kind == "shared":
        out = {"key": entry.key, "value": entry.value, "version": entry.version}
    return out


def _obj(extra: Mapping[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(extra), "required": list(required)}


_STR = {"type": "string"}
_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "remember": (
        "Remember a fact for later tasks (about this customer/user, as the store is scoped)."
        " Give a key to name the fact so remembering it again replaces it.",
        _obj({"text": _STR, "key": _STR}, ["text"]),
    ),
    "recall": (
        "Search what was remembered; returns the best matches with scores.",
        _obj({"query": _STR, "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, ["query"]),
    ),
    "forget": (
        "Forget a remembered fact, by its id or its key.",
        _obj({"id": {"type": "integer"}, "key": _STR}, []),
    ),
    "shared_get": (
        "Read a shared key: its value and version (version 0: it does not exist).",
        _obj({"key": _STR}, ["key"]),
    ),
    "shared_set": (
        "Write a shared key if it is still at the version you read (0 to create it); on a"
        " conflict read it again and redo your change.",
        _obj(
            {"key": _STR, "value": {}, "version": {"type": "integer", "minimum": 0}},
            ["key", "value", "version"],
        ),
    ),
    "shared_add": (
        "Add a number to a shared counter atomically (created at 0); returns the new value.",
        _obj({"key": _STR, "amount": {"type": "number"}}, ["key"]),
    ),
    "shared_list": (
        "List shared keys (optionally those starting with a prefix) with their versions.",
        _obj({"prefix": _STR}, []),
    ),
    "shared_watch": (
        "Wait until a shared key changes past the version you know (at most timeout seconds).",
        _obj(
            {
                "key": _STR,
                "version": {"type": "integer", "minimum": 0},
                "timeout": {"type": "number", "minimum": 0, "maximum": MAX_WATCH},
            },
            ["key", "version"],
        ),
    ),
    "scratch_write": (
        "Keep a note for the rest of this task (gone when the task ends).",
        _obj({"key": _STR, "text": _STR}, ["key", "text"]),
    ),
    "scratch_read": (
        "Read this task's notes (one key, or all).",
        _obj({"key": _STR}, []),
    ),
}


class MemoryTools:
    """The memory tools of one agent, over the stores it lists."""

    def __init__(
        self,
        memory: Memory,
        agent: str,
        stores: Sequence[str],
        *,
        current: Callable[[], TaskScope | None] = CURRENT_TASK.get,
    ) -> None:
        self.memory = memory
        self.agent = agent
        self.current = current
        self.routes: dict[str, list[str]] = {}  # tool name -> stores offering it
        for store in stores:
            config = memory.config(store)
            for mode, names in _KIND_TOOLS.get(config.kind, {}).items():
                if config.allows(agent, mode):
                    for name in names:
                        self.routes.setdefault(name, []).append(store)

    def specs(self) -> list[ToolSpec]:
        out = []
        for name, stores in self.routes.items():
            description, parameters = _SPECS[name]
            params = json.loads(json.dumps(parameters))
            if len(stores) > 1:
                params["properties"]["store"] = {"type": "string", "enum": stores}
                params["required"].append("store")
            out.append(ToolSpec(name, f"{description} Stores: {', '.join(stores)}.", params))
        return out

    def side_effects(self, name: str) -> str:
        return "idempotent"  # every write carries the call's idempotency key

    def owner(self, name: str) -> str | None:
        stores = self.routes.get(name)
        return f"memory.{stores[0]}" if stores else None

    def __contains__(self, name: str) -> bool:
        return name in self.routes

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str
    ) -> Result:
        stores = self.routes.get(name)
        if not stores:
            return Result(f"there is no memory tool {name!r}", True)
        store = str(arguments.get("store") or stores[0])
        if store not in stores:
            return Result(f"{name} works on {', '.join(stores)}, not {store!r}", True)
        task = self.current()
        if task is None:
            return Result("memory tools work only inside a task", True)
        try:
            scope = scope_key(self.memory.config(store), task)
            return await self._dispatch(name, store, scope, task, arguments, idempotency_key)
        except (InvalidScope, MemoryStoreError) as exc:
            return Result(str(exc), True)
        except KeyError as exc:
            return Result(f"{name} needs the argument {exc.args[0]!r}", True)
        except (TypeError, ValueError, ArithmeticError) as exc:
            return Result(f"bad arguments for {name}: {exc}", True)

    async def _dispatch(
        self,
        name: str,
        store: str,
        scope: str,
        task: TaskScope,
        args: Mapping[str, Any],
        idem: str,
    ) -> Result:
        m, agent, tid = self.memory, self.agent, task.task_id

        def run(fn: Callable[[], Any]) -> Any:
            return asyncio.to_thread(fn)

        if name == "remember":
            key = args.get("key")
            entry = await run(
                lambda: m.add(
                    store,
                    scope,
                    _text(args, "text"),
                    agent=agent,
                    key=str(key) if key else None,
                    idem=idem,
                    task_id=tid,
                )
            )
            return _ok({"remembered": _entry(entry)})
        if name == "recall":
            limit = int(args.get("limit") or 5)
            hits = await run(
                lambda: m.search(
                    store,
                    _text(args, "query"),
                    scope=scope,
                    limit=min(limit, 20),
                    agent=agent,
                    task_id=tid,
                )
            )
            return _ok([{**_entry(h.entry), "score": h.score} for h in hits])
        if name == "forget":
            ids = [int(args["id"])] if args.get("id") is not None else None
            key = str(args["key"]) if args.get("key") else None
            if ids is None and key is None:
                return Result("say which fact to forget: its id or its key", True)
            gone = await run(
                lambda: m.forget(store, scope, ids=ids, key=key, agent=agent, task_id=tid)
            )
            return _ok({"forgotten": gone})
        if name == "shared_get":
            found = await run(
                lambda: m.get(store, scope, _text(args, "key"), agent=agent, task_id=tid)
            )
            if found is None:
                return _ok({"key": args["key"], "value": None, "version": 0})
            return _ok(_entry(found))
        if name == "shared_set":
            version = int(args["version"])
            try:
                entry = await run(
                    lambda: m.put(
                        store,
                        scope,
                        _text(args, "key"),
                        args["value"],
                        expected_version=version,
                        agent=agent,
                        idem=idem,
                        task_id=tid,
                    )
                )
            except VersionConflict as exc:
                current = _entry(exc.current) if exc.current is not None else None
                return Result(json.dumps({"conflict": str(exc), "current": current}), True)
            return _ok(_entry(entry))
        if name == "shared_add":
            amount = float(args.get("amount", 1))
            number: float = int(amount) if amount.is_integer() else amount
            entry = await run(
                lambda: m.increment(
                    store, scope, _text(args, "key"), number, agent=agent, idem=idem, task_id=tid
                )
            )
            return _ok(_entry(entry))
        if name == "shared_list":
            prefix = str(args.get("prefix") or "")
            rows = await run(lambda: m.entries(store, scope, agent=agent, limit=500))
            keys = [_entry(e) for e in rows if e.key is not None and e.key.startswith(prefix)]
            return _ok(keys)
        if name == "shared_watch":
            return await self._watch(store, scope, task, args)
        if name == "scratch_write":
            entry = await run(
                lambda: m.add(
                    store,
                    scope,
                    _text(args, "text"),
                    agent=agent,
                    key=_text(args, "key"),
                    idem=idem,
                    task_id=tid,
                )
            )
            return _ok(_entry(entry))
        if name == "scratch_read":
            rows = await run(lambda: m.entries(store, scope, agent=agent, limit=None))
            key = args.get("key")
            notes = {e.key: e.text for e in rows if key is None or e.key == key}
            return _ok(notes)
        return Result(f"there is no memory tool {name!r}", True)

    async def _watch(
        self, store: str, scope: str, task: TaskScope, args: Mapping[str, Any]
    ) -> Result:
        key, known = _text(args, "key"), int(args["version"])
        deadline = time.monotonic() + min(float(args.get("timeout") or 10), MAX_WATCH)
        while True:
            found = await asyncio.to_thread(
                lambda: self.memory.get(store, scope, key, agent=self.agent, task_id=task.task_id)
            )
            version = found.version if found is not None else 0
            if version != known:
                changed = _entry(found) if found is not None else {"key": key, "version": 0}
                return _ok({"changed": True, **changed})
            if time.monotonic() >= deadline:
                return _ok({"changed": False, "key": key, "version": version})
            await asyncio.sleep(WATCH_POLL)


def _text(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name!r} must be a non-empty string")
    return value


class CombinedTools:
    """The agent's own tools and its memory tools, as one toolbox (memory names win)."""

    def __init__(self, inner: Any, memory: MemoryTools) -> None:
        self.inner = inner
        self.memory = memory

    def specs(self) -> list[ToolSpec]:
        mine = self.memory.specs()
        names = {s.name for s in mine}
        return [s for s in self.inner.specs() if s.name not in names] + mine

    def side_effects(self, name: str) -> str:
        if name in self.memory:
            return self.memory.side_effects(name)
        return str(self.inner.side_effects(name))

    def owner(self, name: str) -> str | None:
        if name in self.memory:
            return self.memory.owner(name)
        owner = self.inner.owner(name)
        return str(owner) if owner is not None else None

    async def call(self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str) -> Any:
        if name in self.memory:
            return await self.memory.call(name, arguments, idempotency_key=idempotency_key)
        return await self.inner.call(name, arguments, idempotency_key=idempotency_key)

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()
