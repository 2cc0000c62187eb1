"""The catalogue of diagnostic codes: stable identifiers users can search for and suppress.

Each code has a short kebab-case name and a one-line description; the SARIF renderer publishes
them as rules and ``docs/diagnostics.md`` lists them. Codes are never reused for another meaning.
Ranges: ``AF0xx`` reading files and YAML, ``AF1xx`` the shape of the spec (schema),
``AF2xx`` semantic checks across the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "Code"]


@dataclass(frozen=True, slots=True)
class Code:
    id: str
    name: str
    description: str


_TABLE = [
    ("AF001", "yaml-syntax", "The file is not well-formed YAML."),
    ("AF002", "duplicate-key", "A mapping defines the same key twice."),
    ("AF003", "tab-indentation", "A tab character is used where YAML requires spaces."),
    (
        "AF004",
        "file-unreadable",
        "A spec file or included file is missing or unreadable, or a file the spec names is"
        " outside the project.",
    ),
    ("AF005", "include-cycle", "Spec files include each other in a loop."),
    ("AF006", "not-text", "A spec file is not UTF-8 text."),
    ("AF007", "too-large", "A spec file exceeds a size, node-count or nesting limit."),
    ("AF008", "undefined-variable", "An interpolation refers to a variable that has no value."),
    ("AF009", "interpolation-error", "A ${...} expression does not parse or fails to evaluate."),
    ("AF010", "unknown-environment", "The selected environment is not declared."),
    ("AF011", "not-a-mapping", "A spec document is empty or not a mapping."),
    ("AF012", "conflicting-definition", "Two files define the same thing differently."),
    ("AF013", "unsupported-yaml", "A YAML feature agentform does not accept (tags, complex keys)."),
    (
        "AF014",
        "secret-misuse",
        "A secret or a sensitive variable is used in a way that would expose its value.",
    ),
    ("AF101", "unknown-key", "A key that the spec does not define."),
    ("AF102", "wrong-type", "A value has the wrong type."),
    ("AF103", "missing-key", "A required key is missing."),
    ("AF104", "invalid-value", "A value is outside what the field accepts."),
    ("AF201", "unresolved-reference", "A reference names something the spec does not define."),
    ("AF202", "invalid-name", "A name is not a valid agentform identifier."),
    ("AF203", "delegation-cycle", "Agents delegate to each other in a loop."),
    ("AF204", "unreachable-agent", "No schedule, role or delegator can ever reach the agent."),
    ("AF205", "unguarded-unsafe-tool", "An unsafe tool has no approval policy."),
    ("AF206", "bad-condition", "A policy condition is not a valid sandboxed expression."),
    ("AF207", "bad-schedule", "A schedule's cron expression or interval is invalid."),
    ("AF208", "tool-denied", "An agent lists a tool that a policy always denies it."),
    ("AF209", "bad-template", "A runtime prompt template does not parse."),
    ("AF210", "conflicting-fields", "Fields that exclude each other are set together, or none is."),
    ("AF211", "unknown-provider", "The target provider is not installed."),
    ("AF212", "missing-file", "A file the spec refers to does not exist."),
    ("AF213", "bad-url", "A runtime URL has an unsupported scheme or form."),
    ("AF214", "bad-permission", "An access permission is not of the form verb:target."),
    ("AF215", "unused", "A model, tool, memory store or content filter is defined but never used."),
    ("AF216", "fallback-cycle", "Model fallback chains loop back on themselves."),
    ("AF217", "no-approvers", "An approval policy names no role that may approve it."),
    ("AF218", "bad-memory", "A memory store's settings do not fit its kind or cannot be enforced."),
    ("AF219", "not-enforced", "A setting the runtime does not enforce yet is used."),
    (
        "AF220",
        "bad-filter",
        "A content filter detects nothing, or a pattern of it is not a valid RE2 expression or"
        " matches the empty string.",
    ),
    ("AF221", "cron-never-fires", "A schedule's cron expression matches no time in ten years."),
    (
        "AF230",
        "no-fallback-to-trip-to",
        "A circuit breaker trips to the model's fallback, and the model has none.",
    ),
    (
        "AF231",
        "short-cooldown",
        "A circuit breaker's cooldown is shorter than the minute its call rate is counted over.",
    ),
]

CODES: dict[str, Code] = {row[0]: Code(*row) for row in _TABLE}
