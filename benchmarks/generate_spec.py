"""Generate a large, realistic agentform spec for benchmarks: N agents and everything they use.

Writes ``DIR/agentform.yaml`` and one shared scripted-model rule file ``DIR/scripts/model.yaml``.
The output depends only on ``--agents`` and ``--seed``: the same arguments give the same bytes.

Shape, for N agents:

* ~N/50 scripted models (forward-only fallback chains), all pointing at the one script file;
* ~N/10 MCP tools, stdio and streamable HTTP, side effects none / idempotent / unsafe;
* ~N/20 memory stores of every kind; every model, tool and store is used by some agent;
* agents with multi-line instructions mixing runtime ``{{ }}`` / ``{% %}`` templates and spec-time
  ``${var.x}`` interpolation, 2-4 tools, 1-2 memory stores, limits, skills, and 0-3 delegates of
  higher index (so delegation is a DAG);
* ~N/10 policies: a ``require_approval`` policy with an ``args.amount > K`` condition for every
  unsafe tool, conditional ``deny`` policies, and conditional ``allow`` policies on agent globs;
* access roles: approvers (``approve:POLICY``) and team roles whose ``invoke:AGENT`` permissions,
  together with ~N/100 schedules, reach every agent nobody delegates to.

The spec validates with no errors; its only warnings are AF219 (settings the runtime does not
enforce yet: policies, circuit breakers, schedules, approve: permissions). Only the standard
library is used; YAML is written by the small emitter below (block style, flow lists of scalars,
literal blocks).

Usage: python benchmarks/generate_spec.py --agents 1000 --out benchmarks/out/agents-1000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["generate", "write_spec"]

SCRIPT_PATH = "scripts/model.yaml"
DELEGATION_WINDOW = 200  # delegates are picked among the next 200 agents: teams, not a hairball

DOMAINS = [
    "billing", "support", "sales", "onboarding", "shipping", "returns", "fraud", "compliance",
    "research", "marketing", "hr", "legal", "security", "devops", "data", "finance",
]  # fmt: skip
ROLES = [
    "triage", "resolver", "reviewer", "planner", "writer", "analyst", "router", "summarizer",
    "escalation", "auditor", "scheduler", "researcher",
]  # fmt: skip
TOOL_KINDS = [
    ("kb", "Search the {d} knowledge base", "none"),
    ("crm", "Read and update {d} customer records", "idempotent"),
    ("tickets", "Create and update {d} tickets", "idempotent"),
    ("search", "Full-text search over {d} documents", "none"),
    ("refunds", "Issue refunds for {d} orders", "unsafe"),
    ("payments", "Move money between {d} accounts", "unsafe"),
    ("email", "Send e-mail on behalf of the {d} team", "unsafe"),
    ("metrics", "Query {d} dashboards and metrics", "none"),
    ("calendar", "Book meetings for the {d} team", "idempotent"),
]
MEMORY_KINDS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("session", "conversation", {"ttl": "1d"}),
    ("long_term", "customer", {"retention": "365d", "redact": ["email", "phone"]}),
    ("working", None, {"ttl": "2h"}),  # a working store lives with its task: no scope
    ("shared", "global", {}),
    ("long_term", "user", {"retention": "90d", "redact": ["credit_card", "iban", "secret"]}),
]
CRONS = ["0 9 * * MON", "*/15 * * * *", "30 6 * * *", "0 */4 * * *", "0 18 * * FRI", "0 0 1 * *"]
TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


# --- the spec -------------------------------------------------------------------------------


def _count(n: int, per: int, minimum: int = 1) -> int:
    return max(minimum, round(n / per))


def _instructions(rng: random.Random, domain: str, role: str, index: int) -> str:
    threshold = rng.choice([50, 100, 250, 500, 1000])
    lines = [
        f"You are the {domain} {role} (agent #{index}) for ${{var.company}}, "
        "region ${var.region}.",
        'Greet {{ customer.name | default("the customer") }} and answer in '
        "{{ conversation.language | default('English') }}.",
        '{% if customer.tier == "gold" %}This customer is on the gold plan: answer first, '
        "escalate early.{% endif %}",
        f"Hand the task back to a human after {{{{ task.attempts }}}} reaches {rng.randint(2, 5)} "
        f"or when an amount is over {threshold} ${{var.currency}}.",
        "{% for item in task.items %}- check {{ item.sku }} ({{ item.quantity }} units)\n"
        "{% endfor %}Never reveal internal ids such as {{ ticket.id }} or tool names.",
        f"Write to the {domain} board only what the next {role} needs; contact "
        "${var.support_email} for anything else.",
    ]
    rng.shuffle(lines)
    return "\n".join(lines[: rng.randint(4, len(lines))]) + "\n"


def generate(agents: int, seed: int = 0) -> dict[str, Any]:
    """The spec document for ``agents`` agents, as plain Python values (deterministic)."""
    if agents < 1:
        raise ValueError("--agents must be at least 1")
    rng = random.Random(seed)
    n_models = _count(agents, 50)
    n_tools = max(3, _count(agents, 10))
    n_memory = _count(agents, 20)
    n_schedules = _count(agents, 100)
    n_policies = _count(agents, 10)
    width = len(str(agents - 1))

    models: dict[str, Any] = {}
    for m in range(n_models):
        body: dict[str, Any] = {
            "provider": "scripted",
            "script": SCRIPT_PATH,
            "temperature": round(rng.uniform(0, 1), 2),
            "max_tokens": rng.choice([512, 1024, 2048, 4096]),
            "timeout": rng.choice(["30s", "1m", "2m"]),
            "limits": {
                "requests_per_minute": rng.choice([60, 300, 500]),
                "max_concurrency": rng.choice([4, 8, 16]),
            },
            "pricing": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
        }
        if m + 1 < n_models and rng.random() < 0.5:
            body["fallback"] = [f"model-{m + 1:03d}"]  # forward only: chains end
        models[f"model-{m:03d}"] = body

    tools: dict[str, Any] = {}
    unsafe: list[str] = []
    for index in range(n_tools):
        kind, description, effects = TOOL_KINDS[index % len(TOOL_KINDS)]
        domain = DOMAINS[(index // len(TOOL_KINDS)) % len(DOMAINS)]
        name = f"{domain}-{kind}-{index:04d}"
        if index % 2:
            mcp: dict[str, Any] = {
                "url": f"https://mcp.${{var.tools_domain}}/{domain}/{kind}/{index}",
                "headers": {"Authorization": "Bearer ${secret.MCP_TOKEN}"},
            }
        else:
            mcp = {
                "command": ["python", "-m", f"mcp_servers.{kind}", "--shard", str(index)],
                "env": {"LOG_LEVEL": "info", "REGION": "${var.region}"},
            }
        tool: dict[str, Any] = {
            "description": description.format(d=domain),
            "mcp": mcp,
            "side_effects": effects,
            "timeout": rng.choice(["10s", "30s", "1m"]),
        }
        if kind == "crm":
            tool["expose"] = ["get_customer", "update_customer"]
        tools[name] = tool
        if effects == "unsafe":
            unsafe.append(name)
    tool_names = list(tools)

    memory: dict[str, Any] = {}
    for s in range(n_memory):
        kind, scope, extra = MEMORY_KINDS[s % len(MEMORY_KINDS)]
        memory[f"{kind.replace('_', '-')}-{s:03d}"] = {
            "kind": kind,
            **({"scope": scope} if scope else {}),
            **extra,
            "description": f"{kind.replace('_', ' ')} memory, scoped per {scope or 'task'}",
        }
    memory_names = list(memory)

    names = [
        f"{DOMAINS[i % len(DOMAINS)]}-{ROLES[(i // len(DOMAINS)) % len(ROLES)]}-{i:0{width}d}"
        for i in range(agents)
    ]
    delegated: set[int] = set()
    agent_docs: dict[str, Any] = {}
    tool_users: dict[str, list[str]] = {t: [] for t in tool_names}
    for i, name in enumerate(names):
        domain, role = name.split("-")[:2]
        # the i-th agent always takes tool i mod T (and store, model): nothing is left unused
        picked = [tool_names[i % n_tools]]
        picked += [t for t in rng.sample(tool_names, min(3, n_tools)) if t not in picked]
        picked = picked[: rng.randint(2, 4)]
        stores = [memory_names[i % n_memory]]
        if n_memory > 1 and rng.random() < 0.5:
            stores += [s for s in rng.sample(memory_names, 1) if s not in stores]
        later = range(i + 1, min(agents, i + 1 + DELEGATION_WINDOW))
        delegates = sorted(rng.sample(later, min(len(later), rng.randint(0, 3))))
        delegated.update(delegates)
        agent: dict[str, Any] = {
            "description": f"{role.capitalize()} for the {domain} team",
            "model": f"model-{i % n_models:03d}",
            "instructions": _instructions(rng, domain, role, i),
            "tools": picked,
            "memory": stores,
        }
        if delegates:
            agent["delegates"] = [names[d] for d in delegates]
        agent["replicas"] = "${var.replicas}" if i % 7 == 0 else rng.randint(1, 3)
        limits: dict[str, Any] = {
            "max_steps": rng.choice([10, 20, 40]),
            "max_tool_calls": rng.choice([5, 10, 25]),
            "max_cost_usd": rng.choice([0.25, 0.5, 1.0, 2.0]),
            "timeout": rng.choice(["2m", "5m", "15m"]),
        }
        if delegates:
            limits["max_depth"] = rng.randint(2, 6)
        agent["limits"] = limits
        if rng.random() < 0.3:
            agent["circuit_breaker"] = {"max_identical_calls": 3, "cooldown": "1m"}
        agent["skills"] = [
            {
                "id": f"{domain}-{role}",
                "name": f"{domain.capitalize()} {role}",
                "description": f"Handles {domain} requests as a {role}.",
                "tags": [domain, role],
                "examples": [f"Help me with a {domain} question"],
            }
        ]
        for t in picked:
            tool_users[t].append(name)
        agent_docs[name] = agent

    # every unsafe tool gets an approval policy covering exactly the agents that use it
    policies: dict[str, Any] = {}
    approver_of: dict[str, list[str]] = {}
    for t in unsafe:
        domain = t.split("-")[0]
        users = tool_users[t]
        pname = f"approve-{t}"
        policies[pname] = {
            "description": f"Large {t} calls need a {domain} approver",
            "agents": users if 0 < len(users) <= 5 and rng.random() < 0.5 else ["*"],
            "tools": [t],
            "effect": "require_approval",
            "when": f"args.amount > {rng.choice([50, 100, 200, 500, 1000, 5000])}"
            + rng.choice(["", " or args.currency != 'EUR'", " and task.priority != 'urgent'"]),
            "approvers": [f"approver-{domain}"],
            "approval_timeout": rng.choice(["1h", "4h", "1d"]),
        }
        approver_of.setdefault(f"approver-{domain}", []).append(pname)
    k = 0
    while len(policies) < n_policies:
        domain = DOMAINS[k % min(len(DOMAINS), agents)]  # a domain some agent belongs to
        if k % 3 == 0 and unsafe:
            t = unsafe[k % len(unsafe)]
            policies[f"deny-{t}-{k}"] = {
                "description": "Refuse amounts no human should approve",
                "tools": [t],
                "effect": "deny",
                "when": f"args.amount > {rng.randint(10, 100) * 1000}",
            }
        else:
            policies[f"allow-{domain}-{k}"] = {
                "description": f"Read-only {domain} tools outside business hours",
                "agents": [f"{domain}-*"],
                "tools": [t for t in tool_names if t.startswith(domain + "-")][:3] or ["*"],
                "effect": "allow",
                "when": f"context.hour < {rng.randint(6, 9)} "
                f"or context.hour > {rng.randint(17, 21)}",
            }
        k += 1

    # schedules start some of the agents nobody delegates to; team roles invoke the rest
    roots = [names[i] for i in range(agents) if i not in delegated]
    schedules: dict[str, Any] = {}
    for s, agent_name in enumerate(roots[:n_schedules]):
        body = {"agent": agent_name, "input": f"Run the periodic {agent_name} review"}
        if s % 4 == 3:
            body["interval"] = rng.choice(["15m", "1h", "6h"])
        else:
            body["cron"] = CRONS[s % len(CRONS)]
            body["timezone"] = TIMEZONES[s % len(TIMEZONES)]
        schedules[f"{agent_name}-periodic"] = body
    roles: dict[str, list[str]] = {}
    for agent_name in roots[n_schedules:]:
        domain = agent_name.split("-")[0]
        roles.setdefault(f"team-{domain}", []).append(f"invoke:{agent_name}")
    for role_name in roles:
        roles[role_name] += ["read:tasks", "read:traces"]
    for role_name, approvable in sorted(approver_of.items()):
        roles[role_name] = [f"approve:{p}" for p in approvable] + ["read:audit"]
    members = {f"{role_name}-lead@example.com": [role_name] for role_name in roles}
    roles["operator"] = ["read:*", *[f"cancel:{a}" for a in roots[:n_schedules]]]
    members["oncall@example.com"] = ["operator"]

    return {
        "version": 1,
        "project": f"bench-{agents}",
        "description": f"Benchmark spec with {agents} agents (seed {seed}).",
        "variables": {
            "company": {"type": "string", "default": "Acme Corp"},
            "region": {"type": "string", "default": "eu-west-1"},
            "currency": {"type": "string", "default": "EUR"},
            "support_email": {"type": "string", "default": "support@example.com"},
            "tools_domain": {"type": "string", "default": "tools.example.com"},
            "replicas": {"type": "integer", "default": 2},
        },
        "environments": {"prod": {"agents": {names[0]: {"replicas": 4}}}},
        "target": {"provider": "local"},
        "runtime": {
            "bus": {"url": "embedded"},
            "store": {"url": "sqlite:///.agentform/runtime.db"},
        },
        "models": models,
        "tools": tools,
        "memory": memory,
        "agents": agent_docs,
        "policies": policies,
        "access": {"roles": roles, "members": members},
        "schedules": schedules,
    }


SCRIPT = """\
# Rules of the scripted (offline, deterministic) model shared by every benchmark model:
# the first rule whose pattern matches the last user message answers.
rules:
  - match: "(?i)refund"
    reply: "I will check the order and ask for approval before refunding."
  - match: "(?i)status"
    reply: "Let me look that up for you."
  - match: ".*"
    reply: "Thanks, I have noted your request."
"""


# --- a small YAML emitter -------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./@*-]*")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def _emit(value: Any, indent: int) -> Iterator[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            nested = isinstance(item, dict) and bool(item)
            if nested or (isinstance(item, list) and any(isinstance(x, dict) for x in item)):
                yield head
                yield from _emit(item, indent + 1)
            elif isinstance(item, str) and "\n" in item:
                yield f"{head} |" + ("-" if not item.endswith("\n") else "")
                for line in item.rstrip("\n").split("\n"):
                    yield f"{pad}  {line}" if line else ""
            else:
                yield f"{head} {_inline(item)}"
    else:
        for item in value:
            lines = list(_emit(item, indent + 1))
            yield f"{pad}- {lines[0].lstrip()}"
            yield from lines[1:]


def _inline(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def write_spec(agents: int, out: Path, seed: int = 0) -> Path:
    """Write the spec and its script file under ``out``; return the spec file's path."""
    document = generate(agents, seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / SCRIPT_PATH).parent.mkdir(parents=True, exist_ok=True)
    (out / SCRIPT_PATH).write_text(SCRIPT, encoding="utf-8")
    header = (
        f"# Generated by benchmarks/generate_spec.py --agents {agents} --seed {seed}; "
        "do not edit.\n"
    )
    spec = out / "agentform.yaml"
    spec.write_text(header + "\n".join(_emit(document, 0)) + "\n", encoding="utf-8")
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, required=True, help="number of agents")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        spec = write_spec(args.agents, args.out, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {spec} ({spec.stat().st_size:,} bytes, {args.agents} agents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
