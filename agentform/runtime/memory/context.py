"""What an agent remembers when a task starts, and what the task leaves behind when it ends.

At the start of a task (before anything is asked of the model) :func:`start_context` gathers,
for each store the agent lists:

* ``session``: the agent's earlier turns in this conversation (A2A context), newest kept first
  within the store's token budget; turns over it are dropped whole, never cut mid-message, and the
  model is told how many (``drop_oldest``), or they are summarised by the agent's model and the
  summary kept in the store, so the next task reuses it (``summarize``);
* ``long_term`` with ``inject: N``: the N entries of the task's scope key most relevant to the
  task's message, with their scores.

The result is a list of plain messages the agent loop records in the task's ``start`` step, so a
task replayed after a crash sees exactly the context it first saw. When the task completes,
:func:`record_turns` appends the user's message and the answer to each session store (with
idempotency keys: a replay does not add them twice), and :func:`end_task` deletes the task's
working memory.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from agentform.runtime.store.memory.config import InvalidScope, TaskScope, scope_key
from agentform.runtime.store.memory.service import Entry, Memory, MemoryStoreError

__all__ = [
    "Summarize",
    "end_task",
    "estimate_tokens",
    "fit_history",
    "record_turns",
    "start_context",
]

log = logging.getLogger("agentform.memory")

# (turns as plain messages) -> a summary; the worker passes the agent's model
Summarize = Callable[[list[dict[str, str]]], Awaitable[str]]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters a token, plus the message overhead);
    budgets are about not overflowing the context, so erring high is the safe side."""
    return len(text) // 4 + 4


def fit_history(turns: Sequence[Entry], budget: int) -> tuple[list[Entry], list[Entry]]:
    """Split ``turns`` (oldest first) into (dropped, kept): the newest whole turns that fit."""
    kept: list[Entry] = []
    used = 0
    for turn in reversed(turns):
        cost = estimate_tokens(turn.text)
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    return list(turns[: len(turns) - len(kept)]), kept


def _message(turn: Entry) -> dict[str, str]:
    return {"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text}


async def _session(
    memory: Memory,
    store: str,
    task: TaskScope,
    summarize: Summarize | None,
) -> list[dict[str, str]]:
    config = memory.config(store)
    scope = scope_key(config, task)
    rows = await asyncio.to_thread(
        lambda: memory.entries(store, scope, agent=task.agent, limit=None)
    )
    mine = [r for r in rows if r.agent == task.agent]
    turns = [r for r in mine if r.role in ("user", "assistant")]
    summaries = [r for r in mine if r.role == "summary"]
    dropped, kept = fit_history(turns, config.max_history_tokens)
    if not dropped:
        return [_message(t) for t in kept]
    budget = config.max_history_tokens
    if config.history_strategy != "summarize" or summarize is None:
        note = (
            f"({len(dropped)} earlier turns of this conversation are not shown: they are over"
            f" the {budget}-token history budget of memory {store!r}.)"
        )
        return [{"role": "system", "content": note}, *(_message(t) for t in kept)]
    upto = dropped[-1].id
    summary = next((s for s in summaries if int(s.meta.get("upto", 0)) == upto), None)
    if summary is None:
        previous = max(summaries, key=lambda s: int(s.meta.get("upto", 0)), default=None)
        start = int(previous.meta.get("upto", 0)) if previous is not None else 0
        todo = [_message(t) for t in dropped if t.id > start]
        if previous is not None:
            todo.insert(0, {"role": "system", "content": previous.text})
        text = (await summarize(todo)).strip()
        summary = await asyncio.to_thread(
            lambda: memory.add(
                store,
                scope,
                text,
                agent=task.agent,
                role="summary",
                key=f"summary:{task.agent}",
                meta={"upto": upto, "turns": len(dropped)},
                idem=f"{task.task_id}/summary",
            )
        )
    head = {
        "role": "system",
        "content": f"Summary of the earlier part of this conversation ({len(dropped)} turns):"
        f"\n{summary.text}",
    }
    return [head, *(_message(t) for t in kept)]


async def _injected(
    memory: Memory, store: str, task: TaskScope, query: str
) -> list[dict[str, str]]:
    config = memory.config(store)
    scope = scope_key(config, task)
    hits = await asyncio.to_thread(
        lambda: memory.search(
            store, query, scope=scope, limit=config.inject, agent=task.agent, task_id=task.task_id
        )
    )
    if not hits:
        return []
    lines = "\n".join(f"- {h.entry.text} (id {h.entry.id}, relevance {h.score:.2f})" for h in hits)
    return [{"role": "system", "content": f"From memory {store!r} ({scope}):\n{lines}"}]


async def start_context(
    memory: Memory,
    stores: Sequence[str],
    task: TaskScope,
    query: str,
    *,
    summarize: Summarize | None = None,
) -> list[dict[str, str]]:
    """The messages that go before the task's own message: history and injected memories."""
    out: list[dict[str, str]] = []
    for store in stores:
        config = memory.config(store)
        try:
            if config.kind == "session":
                out += await _session(memory, store, task, summarize)
            elif config.kind == "long_term" and config.inject:
                out += await _injected(memory, store, task, query)
        except InvalidScope as exc:
            log.info("task %s: no %s memory in context: %s", task.task_id, store, exc)
        except MemoryStoreError as exc:  # a denial is recorded; the task goes on without it
            log.warning("task %s: memory %s not loaded: %s", task.task_id, store, exc)
    return out


async def record_turns(
    memory: Memory, stores: Sequence[str], task: TaskScope, question: str, answer: str
) -> None:
    """Append the finished exchange to each session store the agent lists."""
    for store in stores:
        config = memory.config(store)
        if config.kind != "session":
            continue
        scope = scope_key(config, task)
        turns: Mapping[str, Any] = {"user": question, "assistant": answer}
        for role, body in turns.items():
            await asyncio.to_thread(
                functools.partial(
                    memory.add,
                    store,
                    scope,
                    str(body),
                    agent=task.agent,
                    role=role,
                    idem=f"{task.task_id}/{store}/{role}",
                    task_id=task.task_id,
                )
            )


async def end_task(memory: Memory, stores: Sequence[str], task: TaskScope) -> int:
    """Delete the task's working memory (it lives with the task); returns entries deleted."""
    gone = 0
    for store in stores:
        if memory.config(store).kind == "working":
            scope = f"task:{task.task_id}"
            gone += await asyncio.to_thread(functools.partial(memory.forget, store, scope))
    return gone
