"""The expression sandbox: what a spec expression may not do to the machine validating it."""

from __future__ import annotations

import pytest
from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from agentform.expressions import safe_environment


def evaluate(expr: str) -> object:
    return safe_environment().compile_expression(expr, undefined_to_none=False)()


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("'x' * 10000000000", SecurityError),
        ("10000000000 * 'x'", SecurityError),
        ("['aaaaaaaaaa'] * 200000", SecurityError),
        ("lipsum(1000000)", UndefinedError),
        ("range(100000000)", UndefinedError),
        ("cycler(1, 2)", UndefinedError),
        ("'a' | center(1000000000)", TemplateSyntaxError),
        ("'a' | indent(1000000000)", TemplateSyntaxError),
        ("'{:>1000000000}' | format('a')", TemplateSyntaxError),
        ("'%1000000000s' % 'a'", SecurityError),
        ("('a' * 1000000) | replace('', 'bb')", SecurityError),
        ("99 ** 99999999", SecurityError),
        ("''.__class__.__mro__", SecurityError),
    ],
    ids=[
        "str-times",
        "times-str",
        "list-times",
        "lipsum",
        "range",
        "cycler",
        "center",
        "indent",
        "format",
        "percent-format",
        "replace-growth",
        "power",
        "dunder",
    ],
)
def test_refused(expr: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        result = evaluate(expr)
        if isinstance(result, object) and "Undefined" in type(result).__name__:
            str(result)  # StrictUndefined raises when used


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("'ab' * 3", "ababab"),
        ("2 ** 10", 1024),
        ("10 % 3", 1),
        ("'a-b' | replace('-', '_') | upper", "A_B"),
        ("[3, 1, 2] | sort | join(',')", "1,2,3"),
        ("{'a': 1}.a", 1),
        ("'x' ~ 1", "x1"),
    ],
)
def test_allowed(expr: str, value: object) -> None:
    assert evaluate(expr) == value
