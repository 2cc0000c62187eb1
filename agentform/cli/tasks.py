"""The task verbs: ``send`` (give an agent work) and ``tasks list|show|cancel`` (what it did).

They talk to the project's local engine through its control API, reached as every runtime verb
reaches it (:mod:`agentform.cli.runtime`: ``--spec``, ``--env``, the client and its errors).
:func:`describe_step` puts one recorded step (model answer, tool call, tool result, final
answer, failure) on one line, for ``send --follow`` and ``tasks show``. Nothing here runs agents
itself.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
import yaml

from agentform.cli.console import fail
from agentform.cli.runtime import call_engine, engine_client, project_options

__all__ = ["describe_step", "send_command", "tasks_group"]


def _inputs(items: tuple[str, ...]) -> dict[str, Any]:
    """``user.name=Ada`` → ``{"user": {"name": "Ada"}}``; values are parsed as YAML."""
    inputs: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--input")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        target = inputs
        *parents, last = key.split(".")
        for part in parents:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                raise click.BadParameter(
                    f"{key!r} conflicts with another --input", param_hint="--input"
                )
            target = nested
        target[last] = value
    return inputs


def _short(value: Any, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _decided(decision: Any) -> str:
    """What the policies said of a call that went ahead, when any policy applied."""
    if not isinstance(decision, dict) or not decision.get("policies"):
        return ""
    return f"  [{decision.get('effect')}: {', '.join(decision['policies'])}]"


def describe_step(step: dict[str, Any]) -> str:
    """One line per recorded step, for ``send --follow`` and ``tasks show``."""
    data, kind, seq = step.get("data") or {}, step.get("kind"), step.get("seq")
    if kind == "start":
        line = f"[{seq}] start: instructions {_short(data.get('instructions', ''), 70)}"
        context = data.get("context") or []
        if context:  # history and memories put into context (docs/memory.md)
            line += f"; {len(context)} message(s) from memory"
        return line
    if kind == "model":
        response = data.get("response") or {}
        usage = f"{step.get('input_tokens', 0)}+{step.get('output_tokens', 0)} tokens"
        timing = f"{float(step.get('latency_ms') or 0):.1f} ms"
        calls = response.get("tool_calls") or []
        said = (
            "calls " + ", ".join(f"{c['name']}({_short(c.get('arguments'), 60)})" for c in calls)
            if calls
            else f"answers {_short(response.get('text', ''), 70)}"
        )
        return f"[{seq}] model {response.get('model', '')}: {usage}, {timing}: {said}"
    if kind == "tool_call":
        line = f"[{seq}] tool call {data.get('name')}({_short(data.get('arguments'), 70)})"
        return line + _decided(data.get("decision"))
    if kind == "approval":
        decision = data.get("decision") or {}
        return (
            f"[{seq}] held for approval: {data.get('name')} ({decision.get('reason', '')});"
            f" 'agentform approvals show {data.get('approval')}'"
        )
    if kind == "question":
        return (
            f"[{seq}] asks: {_short(data.get('question', ''), 90)}"
            f" (answer with 'agentform tasks reply {step.get('task_id', 'TASK')} TEXT')"
        )
    if kind == "outcome_check":
        return (
            f"[{seq}] unknown outcome: {data.get('name')} (key {data.get('key')}) was"
            " interrupted by a crash; waiting for a human:"
            f" 'agentform approvals resolve {data.get('approval')} happened|retry|fail'"
        )
    if kind == "trip":
        then = {
            "fail": "the task fails",
            "fallback_model": "the call is refused and the model's fallback takes over",
            "ask_human": f"waiting for a human: 'agentform approvals approve|deny"
            f" {data.get('approval', 'ID')}'",
        }.get(str(data.get("action")), str(data.get("action")))
        return f"[{seq}] breaker tripped on {data.get('name')}: {data.get('reason')}; {then}"
    if kind == "tool_result":
        mark = "error" if data.get("is_error") else "result"
        timing = f"{float(step.get('latency_ms') or 0):.1f} ms"
        return (
            f"[{seq}] tool {mark} {data.get('name')}, {timing}: {_short(data.get('content'), 70)}"
        )
    if kind == "final":
        return f"[{seq}] answer: {_short(data.get('text', ''), 90)}"
    if kind == "error":
        return f"[{seq}] failed: {data.get('reason')}"
    return f"[{seq}] {kind}: {_short(data, 80)}"


@click.command("send")
@click.argument("agent")
@click.argument("text")
@project_options
@click.option(
    "--context", "context_id", metavar="ID", help="Continue this conversation (A2A context)."
)
@click.option(
    "--id", "task_id", metavar="ID", help="Task id; sending the same id again is a no-op."
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Task input for the instructions' templates, e.g. --input customer.name=Ada (repeatable).",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the answer.")
@click.option("--follow", "-f", is_flag=True, help="Show every step as it happens.")
@click.option("--json", "as_json", is_flag=True, help="Print the finished task as JSON.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the answer.")
def send_command(
    agent: str,
    text: str,
    spec: str,
    env: str | None,
    context_id: str | None,
    task_id: str | None,
    inputs: tuple[str, ...],
    wait: bool,
    follow: bool,
    as_json: bool,
    timeout: float,
) -> None:
    """Send TEXT to AGENT as a task and print the answer.

    The task is accepted once the bus has stored it; a worker of the agent runs it. With
    --follow every step (model answers, tool calls, tool results) is printed as it is recorded.
    An agent with ask_user may end its turn with a question: it is printed, with how to answer
    ('agentform tasks reply TASK TEXT'), and the task waits for the answer.
    Exit status: 0 completed, 1 failed or not accepted, 3 the agent asks a question.
    """
    client = engine_client(spec, env)
    body: dict[str, Any] = {"agent": agent, "input": text, "inputs": _inputs(inputs)}
    if context_id:
        body["context_id"] = context_id
    if task_id:
        body["id"] = task_id
    task = call_engine(lambda: client.request("POST", "/v1/tasks", body=body))
    if not wait and not follow:
        click.echo(task["id"])
        return
    if follow:
        click.echo(f"task {task['id']} accepted (agent {agent}, context {task['context_id']})")
    started = time.monotonic()
    final: dict[str, Any] | None = None
    for event in call_engine(lambda: list(_events(client, task["id"], follow, timeout))):
        if event.get("kind") == "status":
            final = event["task"]
        if event.get("kind") == "question":
            click.echo(f"{agent} asks: {event['question']}")
            click.echo(
                f"answer with: agentform tasks reply {task['id']} 'YOUR ANSWER'"
                " (the task waits until then)",
                err=True,
            )
            sys.exit(3)
    if final is None:
        hint = f"see 'agentform tasks show {task['id']}'"
        fail(f"task {task['id']} did not finish within {timeout:.0f}s; {hint}")
    if as_json:
        click.echo(json.dumps(final, indent=2))
    elif final["status"] == "completed":
        if follow:
            click.echo(f"completed in {time.monotonic() - started:.2f}s")
        click.echo(final.get("result") or "")
    if final["status"] != "completed":
        fail(f"task {final['id']} {final['status']}: {final.get('error')}")


def _events(client: Any, task_id: str, follow: bool, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    agents: dict[str, str] = {}
    for event in client.events(task_id, timeout=timeout):
        if follow and event.get("kind") == "child":
            child = event["task"]
            agents[child["id"]] = child["agent"]
            indent = "    " * event.get("depth", 1)
            click.echo(f"{indent}└─ delegated to {child['agent']}: task {child['id']}")
        elif follow and event.get("kind") == "step":
            indent = "    " * event.get("depth", 0)
            who = f"{agents.get(event.get('task', ''), '')} " if event.get("task") else ""
            click.echo(f"  {indent}{who}{describe_step(event['step'])}")
        yield event
        step = event.get("step") or {}
        if event.get("kind") == "step" and step.get("kind") == "question" and not event.get("task"):
            # the agent asks whoever sent the task: stop waiting, say how to answer
            yield {"kind": "question", "question": (step.get("data") or {}).get("question", "")}
            return
        if time.monotonic() > deadline:
            return


@click.group("tasks")
def tasks_group() -> None:
    """List tasks and show every recorded step of one."""


@tasks_group.command("list")
@project_options
@click.option("--agent", metavar="NAME", help="Only this agent's tasks.")
@click.option("--status", "status_filter", metavar="STATUS", help="Only tasks in this status.")
@click.option(
    "--caller",
    metavar="SUBJECT",
    help="Only tasks this caller sent: a token's subject, operator, schedule:NAME, agent:NAME.",
)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def tasks_list(
    spec: str,
    env: str | None,
    agent: str | None,
    status_filter: str | None,
    caller: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest tasks first."""
    client = engine_client(spec, env)
    params = {"agent": agent, "status": status_filter, "caller": caller, "limit": limit}
    tasks = call_engine(lambda: client.request("GET", "/v1/tasks", params=params))
    if as_json:
        click.echo(json.dumps(tasks, indent=2))
        return
    click.echo(f"{'ID':<34} {'AGENT':<16} {'STATUS':<15} {'TOKENS':>7}  INPUT")
    for task in tasks:
        tokens = task["input_tokens"] + task["output_tokens"]
        click.echo(
            f"{task['id']:<34} {task['agent']:<16} {task['status']:<15} {tokens:>7}"
            f"  {_short(task['input'], 50)}"
        )


@tasks_group.command("show")
@click.argument("task_id")
@project_options
@click.option("--json", "as_json", is_flag=True)
def tasks_show(task_id: str, spec: str, env: str | None, as_json: bool) -> None:
    """Every recorded step of TASK_ID, with tokens and latency, and the tree of the tasks it
    delegated to, with their timings."""
    client = engine_client(spec, env)
    task = call_engine(lambda: client.request("GET", f"/v1/tasks/{task_id}"))
    if as_json:
        click.echo(json.dumps(task, indent=2))
        return
    click.echo(f"task     {task['id']}  ({task['status']})")
    click.echo(
        f"agent    {task['agent']}, context {task['context_id']}, attempts {task['attempts']}"
    )
    if task.get("parent_id"):
        click.echo(f"parent   {task['parent_id']}")
    if task.get("caller"):
        click.echo(f"asked by {task['caller']}")
    click.echo(f"input    {_short(task['input'], 90)}")
    click.echo(f"tokens   {task['input_tokens']} in, {task['output_tokens']} out")
    if task["steps"] is None:  # a subject's token without read:traces
        click.echo("  (steps hidden: reading another's steps needs read:traces)")
    for step in task["steps"] or []:
        click.echo("  " + describe_step(step))
    if task.get("result") is not None:
        click.echo(f"result   {task['result']}")
    if task.get("error"):
        click.echo(f"error    {task['error']}")
    tree = list(_tree(client, task, 0))
    if len(tree) > 1:
        click.echo("tree")
        for depth, node in tree:
            name = f"{'    ' * depth}{node['agent']}"
            click.echo(f"  {name:<22} {node['status']:<10} {_took(node):>8}  {node['id']}")


def _tree(client: Any, node: dict[str, Any], depth: int) -> Any:
    """The task and its descendants, depth first, children in the order they were created."""
    yield depth, node
    children = call_engine(
        lambda: client.request("GET", "/v1/tasks", params={"parent": node["id"], "limit": 1000})
    )
    for child in sorted(children, key=lambda c: c["created_at"]):
        yield from _tree(client, child, depth + 1)


def _took(task: dict[str, Any]) -> str:
    from datetime import datetime

    if not task.get("finished_at"):
        return "running"
    seconds = (
        datetime.fromisoformat(task["finished_at"]) - datetime.fromisoformat(task["created_at"])
    ).total_seconds()
    return f"{seconds:.2f}s"


@tasks_group.command("reply")
@click.argument("task_id")
@click.argument("text")
@project_options
@click.option("--follow", "-f", is_flag=True, help="Then show every step until the task ends.")
def tasks_reply(task_id: str, text: str, spec: str, env: str | None, follow: bool) -> None:
    """Answer the question TASK_ID's agent asked (ask_user): the task goes on with TEXT.

    Only whoever sent the task may answer (with --token, that token's subject; else the
    operator, who sent it with 'agentform send'), or an admin.
    """
    client = engine_client(spec, env)
    call_engine(lambda: client.request("POST", f"/v1/tasks/{task_id}/reply", body={"text": text}))
    click.echo(f"answered; task {task_id} goes on")
    if follow:
        for event in call_engine(lambda: list(_events(client, task_id, True, 300.0))):
            if event.get("kind") == "status":
                click.echo(event["task"].get("result") or event["task"].get("error") or "")


@tasks_group.command("cancel")
@click.argument("task_id")
@project_options
def tasks_cancel(task_id: str, spec: str, env: str | None) -> None:
    """Cancel TASK_ID: a queued task never starts, a running one stops before its next step."""
    client = engine_client(spec, env)
    call_engine(lambda: client.request("POST", f"/v1/tasks/{task_id}/cancel"))
    click.echo(f"task {task_id} canceled")
