"""Redaction: what a memory store's ``redact:`` list removes from text before it is written.

A store's spec lists built-in rules by name (``email``, ``phone``, ``credit_card``, ``iban``,
``ip_address``, ``secret``) and custom ones as ``{name, pattern, replacement}``. Each match is
replaced by ``[REDACTED:<name>]`` (or the custom replacement), and the counts per rule name are
returned so a caller can record how much was removed. Built-in rules aim for few false positives:
card numbers must pass the Luhn check, IBANs the mod-97 check, IPv6 candidates must parse, and
phone numbers must look like a dialable number rather than a date, a version or an order number.

Rules run one after another on the text, secrets and account numbers first (so a card number is
labelled ``credit_card``, not ``phone``), custom rules before the built-in ones. Text already
replaced by a ``[REDACTED:...]`` marker is never matched again, so overlapping rules cannot garble
each other's output, and redacting twice gives the same text as redacting once. A pattern may name
the part to replace ``(?P<redact>...)``: the rest of its match (``password=``, ``Bearer``) is kept.

This module owns :class:`Redactor`, :class:`Rule` and :class:`RedactionError`. Called by the
memory service on every write, to the text and to every string inside a JSON value, before
anything reaches storage. Pure: standard library only, no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["BUILTIN", "MAX_PATTERN_LENGTH", "Pattern", "RedactionError", "Redactor", "Rule"]

BUILTIN: tuple[str, ...] = ("email", "phone", "credit_card", "iban", "ip_address", "secret")
MAX_PATTERN_LENGTH = 500

# the order built-in rules run in, whatever order the spec lists them in
_ORDER = ("secret", "iban", "credit_card", "email", "ip_address", "phone")
_MAX_PASSES = 4  # a pass that changed something is followed by one that checks nothing is left
_MARKER = re.compile(r"(\[REDACTED(?::[\w.-]+)?\])", re.ASCII)
_CUSTOM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
_SPEC_KEYS = frozenset({"name", "pattern", "replacement"})


class RedactionError(ValueError):
    """A ``redact:`` entry that cannot be used: an unknown rule or a bad custom pattern."""


class Pattern(Protocol):
    """What a rule needs of a compiled pattern: Python's ``re`` (the built-in rules, a memory
    store's custom ones) or RE2's (content filters' custom patterns, :mod:`agentform.patterns`)."""

    @property
    def groupindex(self) -> Mapping[str, int]: ...

    def sub(self, repl: Callable[[Any], str], string: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """One redaction: matches of ``pattern`` that pass ``check`` become ``replacement``.

    ``check`` sees the text that would be replaced (the ``redact`` group if the pattern has one
    and it took part in the match, else the whole match). Zero-length matches are ignored.
    """

    name: str
    pattern: Pattern
    replacement: str
    check: Callable[[str], bool] | None = None


def _marker(name: str) -> str:
    return f"[REDACTED:{name}]"


class Redactor:
    """An ordered set of rules, applied to text and to JSON values."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)

    @classmethod
    def from_spec(cls, items: Sequence[str | Mapping[str, Any]]) -> Redactor:
        """The redactor for a store's ``redact:`` list; :class:`RedactionError` if it is bad."""
        if isinstance(items, str | bytes):
            raise RedactionError(f"redact must be a list of rules, not the string {items!r}")
        custom: list[Rule] = []
        builtin: set[str] = set()
        for item in items:
            if isinstance(item, str):
                if item not in _BUILTIN_RULES:
                    raise RedactionError(
                        f"unknown redaction rule {item!r}; the built-in rules are"
                        f" {', '.join(BUILTIN)} (or give a custom {{name, pattern}})"
                    )
                builtin.add(item)
            elif isinstance(item, Mapping):
                rule = _custom_rule(item)
                if rule.name in _BUILTIN_RULES:
                    raise RedactionError(
                        f"custom redaction rule {rule.name!r} has the name of a built-in rule;"
                        " list the built-in rule by name, or give the custom one another name"
                    )
                if any(r.name == rule.name for r in custom):
                    raise RedactionError(f"custom redaction rule {rule.name!r} is listed twice")
                custom.append(rule)
            else:
                raise RedactionError(
                    f"a redaction rule is a built-in name or a {{name, pattern}} mapping,"
                    f" not {type(item).__name__}"
                )
        rules = custom + [r for name in _ORDER if name in builtin for r in _BUILTIN_RULES[name]]
        return cls(rules)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __repr__(self) -> str:
        names = dict.fromkeys(r.name for r in self._rules)
        return f"Redactor({', '.join(names)})"

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """``text`` with every match replaced, and how many matches each rule name replaced."""
        counts: dict[str, int] = {}
        if not self._rules or not text:
            return text, counts
        for _ in range(_MAX_PASSES):
            redacted = self._pass(text, counts)
            if redacted == text:
                break
            text = redacted
        return text, counts

    def redact_value(self, value: Any) -> tuple[Any, dict[str, int]]:
        """A copy of a JSON value with every string in it redacted (mapping keys are kept)."""
        counts: dict[str, int] = {}
        if not self._rules:
            return value, counts
        return self._value(value, counts), counts

    def _value(self, value: Any, counts: dict[str, int]) -> Any:
        if isinstance(value, str):
            text, found = self.redact(value)
            for name, n in found.items():
                counts[name] = counts.get(name, 0) + n
            return text
        if isinstance(value, Mapping):
            return {k: self._value(v, counts) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, counts) for v in value]
        if isinstance(value, tuple):
            return tuple(self._value(v, counts) for v in value)
        return value

    def _pass(self, text: str, counts: dict[str, int]) -> str:
        for rule in self._rules:
            parts = _MARKER.split(text)  # plain text at even indexes, markers at odd ones
            for i in range(0, len(parts), 2):
                if parts[i]:
                    parts[i] = _apply(rule, parts[i], counts)
            text = "".join(parts)
        return text


def _apply(rule: Rule, text: str, counts: dict[str, int]) -> str:
    group = rule.pattern.groupindex.get("redact")  # by number: RE2's matches take no names

    def replace(m: Any) -> str:
        whole: str = m.group()
        start, end = m.span(group) if group is not None else (-1, -1)
        if start < 0:
            start, end = m.span()
        target = text[start:end]
        if start == end or target == rule.replacement:
            return whole
        if rule.check is not None and not rule.check(target):
            return whole
        counts[rule.name] = counts.get(rule.name, 0) + 1
        return text[m.start() : start] + rule.replacement + text[end : m.end()]

    return rule.pattern.sub(replace, text)


def _custom_rule(item: Mapping[str, Any]) -> Rule:
    name = item.get("name")
    if not isinstance(name, str) or not _CUSTOM_NAME.fullmatch(name):
        raise RedactionError(
            f"a custom redaction rule needs a name of letters, digits, '_', '-' or '.'"
            f" (at most 64), not {name!r}"
        )
    unknown = sorted(str(k) for k in item if k not in _SPEC_KEYS)
    if unknown:
        raise RedactionError(
            f"redaction rule {name!r}: unknown key(s) {', '.join(unknown)};"
            " a custom rule has name, pattern and replacement"
        )
    pattern = item.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise RedactionError(f"redaction rule {name!r}: pattern must be a non-empty string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RedactionError(
            f"redaction rule {name!r}: pattern is {len(pattern)} characters long,"
            f" over the limit of {MAX_PATTERN_LENGTH}"
        )
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise RedactionError(f"redaction rule {name!r}: pattern does not compile: {exc}") from exc
    if compiled.search("") is not None:
        raise RedactionError(
            f"redaction rule {name!r}: pattern {pattern!r} matches the empty string and would"
            " match everywhere; require at least one character (+ instead of *)"
        )
    replacement = item.get("replacement")
    if replacement is None:
        replacement = _marker(name)
    elif not isinstance(replacement, str):
        raise RedactionError(
            f"redaction rule {name!r}: replacement must be a string, not"
            f" {type(replacement).__name__}"
        )
    return Rule(name, compiled, replacement)


# --- checks -------------------------------------------------------------------------------------

_DIGITS = frozenset("0123456789")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit * 2, its two digits summed


def _luhn(text: str) -> bool:
    digits = [int(c) for c in text if c in _DIGITS]
    if not 13 <= len(digits) <= 19 or digits[0] == 0:  # no card number starts with 0
        return False
    total = sum(_DOUBLED[d] if i % 2 else d for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ipv6(text: str) -> bool:
    if not any(c in _DIGITS for c in text):  # 'add::', 'Bad::Face' are words, not addresses
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


_DATE = re.compile(
    r"(?<!\d)(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{4})(?!\d)", re.ASCII
)
_GROUPS = re.compile(r"\d+", re.ASCII)


def _phone(text: str) -> bool:
    groups = _GROUPS.findall(text)
    digits = "".join(groups)
    if text.startswith("+") or (text.startswith("00") and digits[2:3] not in ("", "0")):
        n = len(digits) - (2 if text.startswith("00") else 0) - text.count("(0)")
        return 9 <= n <= 15
    if _DATE.search(text):
        return False
    if digits.startswith("0"):  # a national number with its trunk prefix: 020 7946 0958
        return not digits.startswith("00") and 9 <= len(digits) <= 12
    sizes = [len(g) for g in groups]  # otherwise only the North American shape: (202) 555-0143
    return sizes == [3, 3, 4] or (sizes == [1, 3, 3, 4] and digits[0] == "1")


_PLACEHOLDERS = frozenset({"true", "false", "null", "none", "nil", "undefined", "bearer", "basic"})


def _assigned(value: str) -> bool:
    return value.lower() not in _PLACEHOLDERS and value.strip("*") != ""


def _has_digit(text: str) -> bool:
    return any(c in _DIGITS for c in text)


def _bearer(token: str) -> bool:
    return len(token) >= 8 and _has_digit(token)


# --- built-in rules -----------------------------------------------------------------------------

_X = re.ASCII | re.VERBOSE
_Spec = tuple[str, int, Callable[[str], bool] | None]  # pattern, flags, check

_EMAIL = r"""
    (?<![A-Za-z0-9!\#$%&*+^_~-])(?<![A-Za-z0-9!\#$%&*+^_~-][.'])  # one try per run: linear
    [A-Za-z0-9!\#$%&*+^_~-][A-Za-z0-9!\#$%&*+^_~.'-]*+     # local part (no = / { } | ` ?)
    @(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+  # domain labels
    (?:[Xx][Nn]--[A-Za-z0-9-]{1,59}|[A-Za-z]{2,63})         # top-level domain
"""

_PHONE = r"""
    (?<![\w+.-])
    (?:
        \+\d{9,15}(?!\d)                                    # +442079460958
      |
        (?:\+|00(?=[1-9]))?                                 # international prefix
        (?:\(\d{1,4}\)\ ?\d{1,6}|\d{1,6})                   # (202) 555 | 44
        (?:\ ?\(\d{1,4}\)\ ?\d{1,6}|\ \d{1,6}){0,6}         # space-separated groups, (0)20
        (?:[.-]\d{1,6}){0,6}                                # then - or . separated ones
    )
    (?![\w(]|[.-]\d)
"""

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)"
_IPV6 = rf"""
    (?<![\w.])
    [0-9A-Fa-f]{{0,4}}(?::[0-9A-Fa-f]{{0,4}}){{2,7}}
    (?:(?<=:){_OCTET}(?:\.{_OCTET}){{3}})?                # ::ffff:192.0.2.1
    (?!\w|:[\w:]|\.\d)
"""

_CARD_19 = r"(?<!\d)\d{4}([ -])\d{4}\1\d{4}\1\d{4}\1\d{3}(?!\d)"
_CARD = r"""
    (?<!\d)
    (?:
        \d{13,19}
      | \d{4}([ -])\d{4}\1\d{4}\1\d{1,4}                    # 4111 1111 1111 1111, 13 to 16
      | \d{4}([ -])\d{6}\2\d{4,5}                           # 3782 822463 10005 (Amex, Diners)
    )
    (?!\d)
"""

_IBAN = r"""
    (?<![A-Za-z0-9])
    [A-Z]{2}\d{2}(?:\ ?[A-Z0-9]{4}){2,7}(?:\ ?[A-Z0-9]{1,4})?
    (?![A-Za-z0-9])
"""

_KEYWORD = r"""(?:
    password|passwd|passphrase|secret|credentials?|
    api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|
    (?:auth|access|refresh|api|session|csrf|id)?[_-]?token
)"""
_ASSIGNMENT = rf"""
    (?<![\w.-])[\w.-]*?{_KEYWORD}["']?[\ \t]*[:=][\ \t]*
    (?P<q>["'])?
    (?P<redact>(?(q)(?:(?!(?P=q))[^\n])+|[^\s"',;&=(\[{{<][^\s"',;&]*))
"""

_SECRETS: tuple[_Spec, ...] = (
    (  # PEM private keys, also a block cut short before its END line
        r"-----BEGIN[ A-Z0-9]*PRIVATE\ KEY(?:\ BLOCK)?-----"
        r"(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE\ KEY(?:\ BLOCK)?-----|[A-Za-z0-9+/=\s]*)",
        _X,
        None,
    ),
    (r"(?<![\w-])eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*", _X, None),  # JWT
    (r"(?<![\w-])sk-[\w-]{20,}", _X, _has_digit),  # sk-..., sk-proj-..., sk-ant-...
    (r"(?<![\w-])[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", _X, None),  # Stripe
    (r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})", _X, None),  # GitHub
    (r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])", _X, None),  # AWS key id
    (r"(?<![\w-])xox[abprs]-[A-Za-z0-9-]{10,}", _X, None),  # Slack
    (r"(?<![\w-])AIza[\w-]{35}(?![\w-])", _X, None),  # Google API key
    (r"(?<![\w-])(?i:bearer)[\ \t]+(?P<redact>[A-Za-z0-9._~+/-]+=*)", _X, _bearer),
    (_ASSIGNMENT, _X | re.IGNORECASE, _assigned),
)


def _rules(name: str, *specs: _Spec) -> tuple[Rule, ...]:
    return tuple(
        Rule(name, re.compile(p, flags), _marker(name), check) for p, flags, check in specs
    )


_BUILTIN_RULES: dict[str, tuple[Rule, ...]] = {
    "email": _rules("email", (_EMAIL, _X, None)),
    "phone": _rules("phone", (_PHONE, _X, _phone)),
    "credit_card": _rules("credit_card", (_CARD_19, _X, _luhn), (_CARD, _X, _luhn)),
    "iban": _rules("iban", (_IBAN, _X, _iban)),
    "ip_address": _rules("ip_address", (_IPV6, _X, _ipv6), (_IPV4, _X, None)),
    "secret": _rules("secret", *_SECRETS),
}
