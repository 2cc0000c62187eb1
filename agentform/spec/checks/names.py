"""Checks on one object at a time: valid names, runtime URLs, MCP endpoints, A2A agents, model
settings, cron expressions (and crons that never fire) and prompt templates (AF202, AF207,
AF209, AF210, AF211, AF213, AF221, AF014)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from agentform.addresses import KIND_OF_SECTION
from agentform.cron import HORIZON_YEARS, check_cron, next_fire
from agentform.names import NAME_PATTERN, did_you_mean, is_valid_name
from agentform.spec.checks import CheckContext
from agentform.spec.models import McpServer
from agentform.spec.templates import template_problem

__all__ = ["CHECKS"]

_SECTIONS = tuple(KIND_OF_SECTION)  # the named maps: agents, tools, models ...
_NAME_HINT = (
    "use lower-case letters, digits, '-' and '_', starting with a letter "
    f"(pattern {NAME_PATTERN}), at most 63 characters"
)


def check_names(ctx: CheckContext) -> None:
    spec = ctx.spec
    if not is_valid_name(spec.project):
        ctx.error("AF202", f"invalid project name {spec.project!r}", ("project",), hint=_NAME_HINT)
    for section in _SECTIONS:
        names = getattr(spec, section)
        if section == "variables":
            for name in names:
                if not name.isidentifier():
                    ctx.error(
                        "AF202",
                        f"invalid variable name {name!r}",
                        (section, name),
                        at_key=True,
                        hint="variable names are identifiers: letters, "
                        "digits and '_', used as ${var.NAME}",
                    )
            continue
        for name in names:
            if not is_valid_name(name):
                ctx.error(
                    "AF202",
                    f"invalid name {name!r} in {section}",
                    (section, name),
                    at_key=True,
                    hint=_NAME_HINT,
                )
    for name in spec.access.roles:
        if not is_valid_name(name):
            ctx.error(
                "AF202",
                f"invalid role name {name!r}",
                ("access", "roles", name),
                at_key=True,
                hint=_NAME_HINT,
            )


def _scheme(url: str) -> str:
    """The URL's scheme, or "" when urlparse rejects it (``http://[::1`` raises ValueError).

    A URL given whole as a secret reference (a database URL with its password) is resolved
    only at run time: its scheme cannot be checked here, so it passes as ``"secret"``.
    """
    if url.startswith("${secret."):
        return "secret"
    try:
        return urlparse(url).scheme
    except ValueError:
        return ""


def check_target_and_runtime(ctx: CheckContext) -> None:
    spec = ctx.spec
    if ctx.providers is not None and spec.target.provider not in ctx.providers:
        ctx.error(
            "AF211",
            f"provider {spec.target.provider!r} is not installed",
            ("target", "provider"),
            hint=did_you_mean(spec.target.provider, ctx.providers, "provider"),
        )
    bus = spec.runtime.bus.url
    if bus != "embedded" and _scheme(bus) not in ("nats", "tls", "ws", "wss", "secret"):
        ctx.error(
            "AF213",
            f"unsupported bus URL {bus!r}",
            ("runtime", "bus", "url"),
            hint="use 'embedded' or nats://host:4222",
        )
    store = spec.runtime.store.url
    scheme = _scheme(store).split("+")[0]
    if scheme not in ("sqlite", "postgresql", "secret"):
        ctx.error(
            "AF213",
            f"unsupported store URL {store!r}",
            ("runtime", "store", "url"),
            hint="use sqlite:///path/to.db or postgresql+psycopg://user@host/db",
        )


def check_models(ctx: CheckContext) -> None:
    for name, model in ctx.spec.models.items():
        path = ("models", name)
        if model.provider == "scripted" and not model.script:
            ctx.error(
                "AF103",
                f"scripted model {name!r} needs 'script'",
                path,
                hint="point 'script' at a rule file, relative to the spec",
            )
        if model.provider != "scripted" and not model.model:
            ctx.error(
                "AF103",
                f"model {name!r} needs 'model' (the provider's model id)",
                path,
                hint="for example model: gpt-4o-mini",
            )
        if model.provider != "scripted" and model.script:
            ctx.error(
                "AF210",
                f"model {name!r} has a 'script' but its provider is {model.provider!r}",
                (*path, "script"),
                hint="only scripted models read a rule file; in an environment overlay that "
                "switches the provider, remove it with 'script: null'",
            )
        if model.provider == "scripted" and (model.base_url or model.api_key):
            ctx.error(
                "AF210",
                f"scripted model {name!r} takes no base_url or api_key",
                path,
                hint="a scripted model runs offline from its rule file",
            )
        if model.api_key and not model.api_key.startswith("${secret."):
            ctx.warning(
                "AF014",
                f"api_key of model {name!r} is written in the spec",
                (*path, "api_key"),
                hint="anyone who can read the repository can read it; use "
                "${secret.NAME} so the value stays out of git, plans and state",
            )
        if model.base_url and _scheme(model.base_url) not in ("http", "https", "secret"):
            ctx.error("AF213", f"base_url of model {name!r} must be http(s)", (*path, "base_url"))


def check_tools(ctx: CheckContext) -> None:
    for name, tool in ctx.spec.tools.items():
        if (tool.mcp is None) == (tool.a2a is None):
            ctx.error(
                "AF210",
                f"tool {name!r} needs exactly one of mcp and a2a",
                ("tools", name),
                hint="mcp: {command: [...]} or {url: ...} serves tools over MCP; a2a: {url: "
                "https://host/.well-known/agent-card.json} delegates to an outside agent",
            )
        if tool.a2a is not None:
            _check_a2a(ctx, name, tool.a2a.url, tool.expose is not None)
        if tool.mcp is not None:
            _check_mcp(ctx, name, tool.mcp)


def _check_a2a(ctx: CheckContext, name: str, url: str, exposes: bool) -> None:
    path = ("tools", name, "a2a")
    if _scheme(url) not in ("http", "https", "secret"):
        ctx.error("AF213", f"A2A url of tool {name!r} must be http(s)", (*path, "url"))
    if exposes:
        ctx.error(
            "AF210",
            f"tool {name!r}: expose applies only to mcp tools",
            ("tools", name, "expose"),
            hint="an a2a tool is one tool taking a message; remove expose",
        )


def _check_mcp(ctx: CheckContext, name: str, mcp: McpServer) -> None:
    path = ("tools", name, "mcp")
    if (mcp.command is None) == (mcp.url is None):
        ctx.error(
            "AF210",
            f"tool {name!r} needs exactly one of mcp.command and mcp.url",
            path,
            hint="command: [prog, args...] starts a stdio server; url: "
            "http://host/mcp reaches a streamable HTTP server",
        )
    if mcp.url is not None and _scheme(mcp.url) not in ("http", "https", "secret"):
        ctx.error("AF213", f"MCP url of tool {name!r} must be http(s)", (*path, "url"))
    if mcp.url is not None and (mcp.env or mcp.cwd):
        ctx.error("AF210", f"tool {name!r}: env and cwd apply only to a command", path)
    if mcp.command is not None and mcp.headers:
        ctx.error("AF210", f"tool {name!r}: headers apply only to a url", path)


def check_schedules(ctx: CheckContext) -> None:
    for name, schedule in ctx.spec.schedules.items():
        path = ("schedules", name)
        if (schedule.cron is None) == (schedule.interval is None):
            ctx.error(
                "AF210",
                f"schedule {name!r} needs exactly one of cron and interval",
                path,
                hint="cron: '0 9 * * MON' or interval: 15m",
            )
            continue
        if schedule.cron is not None and check_cron(schedule.cron, "UTC"):
            problem = check_cron(schedule.cron, "UTC") or ""
            ctx.error(
                "AF207",
                f"invalid cron expression {schedule.cron!r}: {problem[:1].lower()}{problem[1:]}",
                (*path, "cron"),
                hint="five fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * MON'",
            )
        if check_cron("0 0 * * *", schedule.timezone):
            ctx.error(
                "AF207",
                f"unknown timezone {schedule.timezone!r}",
                (*path, "timezone"),
                hint="use an IANA name such as UTC or Europe/Berlin",
            )
        elif schedule.cron is not None and not check_cron(schedule.cron, "UTC"):
            _never_fires(ctx, name, schedule.cron, schedule.timezone)


def _never_fires(ctx: CheckContext, name: str, cron: str, timezone: str) -> None:
    if next_fire(cron, timezone, datetime.now(ZoneInfo(timezone))) is None:
        ctx.warning(
            "AF221",
            f"schedule {name!r} never fires: no time in the next {HORIZON_YEARS} years matches "
            f"cron {cron!r}",
            ("schedules", name, "cron"),
            hint="the day of month and the month must name a real date (not February 30 or"
            " April 31), and a day of month and a day of week given together must both match"
            " ('0 9 1 * MON' is a 1st of the month that is a Monday)",
        )


def check_templates(ctx: CheckContext) -> None:
    for name, tool in ctx.spec.tools.items():
        problem = template_problem(tool.lock) if tool.lock else None
        if problem:
            ctx.error(
                "AF209",
                f"the lock of tool {name!r} is not a valid template: {problem}",
                ("tools", name, "lock"),
                hint="a lock names what one call at a time may touch: order-{{ arguments.id }}",
            )
    for name, agent in ctx.spec.agents.items():
        if "{" in agent.instructions:
            problem = template_problem(agent.instructions)
            if problem:
                ctx.error(
                    "AF209",
                    f"instructions of agent {name!r} are not a valid template: {problem}",
                    ("agents", name, "instructions"),
                    hint="runtime templates use Jinja2 syntax: {{ customer.name }}",
                )


CHECKS = [
    check_names,
    check_target_and_runtime,
    check_models,
    check_tools,
    check_schedules,
    check_templates,
]
