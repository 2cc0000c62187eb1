"""Prompt template checks: the skeleton fast path agrees with a full Jinja2 parse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from agentform.spec.templates import template_problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no template at all", None),
        ("Hello {{ customer.name | default('you') }}", None),
        ("{% if a %}x{% else %}y{% endif %}", None),
        ("{% for i in items %}{{ i }}{% endfor %}", None),
        ("{# comment #}text", None),
        ('{{ "}}" }}', None),
        ("{% raw %}{{ not closed {% endraw %}", None),
        ("Hello {{ name", "line 1: unexpected end of template"),
        ("a\nb\n{% if x %}never closed", "line 3: Unexpected end of template"),
        ("{{ 1 + }}", "line 1: unexpected '}'"),
        ("{% endif %}", "line 1: Encountered unknown tag 'endif'."),
        ("text {{ ok }} then {% stray", "line 1: unexpected end of template"),
    ],
    ids=[
        "plain",
        "expression",
        "if",
        "for",
        "comment",
        "braces-in-string",
        "raw",
        "unclosed-expression",
        "unclosed-block",
        "bad-expression",
        "stray-end",
        "stray-opener-after-tag",
    ],
)
def test_template_problem(text: str, problem: str | None) -> None:
    found = template_problem(text)
    if problem is None:
        assert found is None
        return
    with pytest.raises(TemplateSyntaxError) as exc:
        SandboxedEnvironment().parse(text)
    # the message and line are the full template's, never the skeleton's
    assert found == f"line {exc.value.lineno}: {exc.value.message}"
    assert found.startswith(problem.split(":")[0] + ":")


PIECES = [
    "text ",
    "\n",
    "{{ x }}",
    "{{ a.b | upper }}",
    "{% if c %}",
    "{% endif %}",
    "{% for i in l %}",
    "{% endfor %}",
    "{# c #}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{% else %}",
    "'}}'",
    '"',
    "{{ 1 + }}",
    "{% raw %}",
    "{% endraw %}",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_agrees_with_a_full_parse(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        SandboxedEnvironment().parse(text)
        valid = True
    except TemplateSyntaxError:
        valid = False
    assert (template_problem(text) is None) is valid
