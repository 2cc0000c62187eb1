"""Redaction of memory writes: the built-in rules, custom patterns, JSON values, properties."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentform.runtime.store.memory.redact import BUILTIN, RedactionError, Redactor, Rule

ALL = Redactor.from_spec(list(BUILTIN))
NOT_SECRET = Redactor.from_spec([n for n in BUILTIN if n != "secret"])


def only(name: str) -> Redactor:
    return Redactor.from_spec([name])


def redacted(name: str, text: str) -> str:
    return only(name).redact(text)[0]


def assert_redacted(name: str, text: str, secret: str) -> None:
    out, counts = ALL.redact(text)
    assert secret not in out, out
    assert f"[REDACTED:{name}]" in out, out
    assert counts.get(name, 0) >= 1, counts


def assert_kept(text: str) -> None:
    out, counts = ALL.redact(text)
    assert out == text
    assert counts == {}


# --- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "alice@example.com",
        "bob.smith+newsletter@mail.example.co.uk",
        "o'brien@example.ie",
        "first_last-99@sub.domain.example.org",
        "UPPER@EXAMPLE.COM",
        "x@xn--p1ai.xn--p1ai",
    ],
)
def test_email_is_redacted(email: str) -> None:
    text = f"Write to {email}, please."
    assert only("email").redact(text) == ("Write to [REDACTED:email], please.", {"email": 1})


def test_email_keeps_its_surroundings() -> None:
    text = "mailto:alice@example.com ?to=bob@example.com&x=1 <carol@example.com> 'dan@example.com'"
    assert redacted("email", text) == (
        "mailto:[REDACTED:email] ?to=[REDACTED:email]&x=1 <[REDACTED:email]> '[REDACTED:email]'"
    )


@pytest.mark.parametrize("text", ["user@localhost", "@handle", "a @ b.com", "name@", "1@2.3"])
def test_not_an_email(text: str) -> None:
    assert redacted("email", text) == text


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+1-202-555-0143",
        "(202) 555-0143",
        "202.555.0143",
        "202-555-0143",
        "0044 20 7946 0958",
        "+442079460958",
        "+49 (0)30 123456",
        "+33 1 23 45 67 89",
        "01.23.45.67.89",
        "020 7946 0958",
        "+1 (202) 555-0143",
    ],
)
def test_phone_is_redacted(phone: str) -> None:
    text = f"Call {phone}."
    assert only("phone").redact(text) == ("Call [REDACTED:phone].", {"phone": 1})


@pytest.mark.parametrize(
    "text",
    [
        "due 2026-11-25",
        "due 25.11.2026 at 10:30",
        "from 2026-11-25 12 to 2026-11-26 13",
        "at 10:30:15",
        "version 1.2.3 and v2.10.33",
        "release 10.20.30.40.50",
        "order #48213",
        "order 123456789012",
        "invoice 1700000000",
        "ISBN 978-3-16-148410-0",
        "1 234 567 890 inhabitants",
        "pages 12-15",
        "+1 234",
    ],
)
def test_not_a_phone(text: str) -> None:
    assert redacted("phone", text) == text
    assert_kept(text)


def test_phone_next_to_a_date() -> None:
    text = "call 202-555-0143 2026-11-25 or 2026-11-25 202-555-0143"
    assert only("phone").redact(text) == (
        "call [REDACTED:phone] 2026-11-25 or 2026-11-25 [REDACTED:phone]",
        {"phone": 2},
    )


# --- credit_card ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",
        "378282246310005",
        "6011111111111117",
        "4222222222222",
        "4000 1234 5678 9010 123",  # 19 digits: Luhn-valid, its first 16 are not
    ],
)
def test_card_is_redacted(card: str) -> None:
    text = f"card: {card}."
    out, counts = ALL.redact(text)
    assert out == "card: [REDACTED:credit_card]."
    assert counts == {"credit_card": 1}


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # 16 digits, fails Luhn
        "4111111111111112",
        "0000 0000 0000 0000",  # passes Luhn, but no card starts with 0
        "12345678901234567890123",
        "tracking 1Z999AA10123456784",
    ],
)
def test_not_a_card(text: str) -> None:
    assert redacted("credit_card", text) == text
    assert_kept(text)


def test_card_followed_by_a_cvv_is_still_a_card() -> None:
    assert redacted("credit_card", "4111 1111 1111 1111 123") == "[REDACTED:credit_card] 123"


# --- iban -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NO93 8601 1117 947",
    ],
)
def test_iban_is_redacted(iban: str) -> None:
    out, counts = ALL.redact(f"IBAN {iban}, thanks")
    assert out == "IBAN [REDACTED:iban], thanks"
    assert counts == {"iban": 1}


@pytest.mark.parametrize(
    "text",
    ["GB82 WEST 1234 5698 7654 33", "DE88370400440532013000", "AB12 CDEF", "ISO 9001"],
)
def test_not_an_iban(text: str) -> None:
    assert redacted("iban", text) == text


# --- ip_address -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.168.1.10 today", "from [REDACTED:ip_address] today"),
        ("host 10.0.0.1:8080", "host [REDACTED:ip_address]:8080"),
        ("net 255.255.255.255/32.", "net [REDACTED:ip_address]/32."),
        ("v6 2001:db8::1 here", "v6 [REDACTED:ip_address] here"),
        ("lo ::1", "lo [REDACTED:ip_address]"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "full [REDACTED:ip_address]"),
        ("mapped ::ffff:192.0.2.1", "mapped [REDACTED:ip_address]"),
        ("url http://[2001:db8::2]:443/", "url http://[[REDACTED:ip_address]]:443/"),
        ("zone fe80::1%eth0", "zone [REDACTED:ip_address]%eth0"),
    ],
)
def test_ip_is_redacted(text: str, expected: str) -> None:
    assert redacted("ip_address", text) == expected
    assert ALL.redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1",
        "256.1.1.1",
        "1.2.3.4.5",
        "version 1.2.3",
        "v1.2.3.4",
        "std::vector and Foo::Bar",
        "at 10:30:00",
        "mac 00:1a:2b:3c:4d:5e",
        "a :: b",
    ],
)
def test_not_an_ip(text: str) -> None:
    assert redacted("ip_address", text) == text
    assert_kept(text)


# --- secret -----------------------------------------------------------------------------------

PEM = """-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAx3Lz9c0ZyqH
8Zf0aB+/cd==
-----END RSA PRIVATE KEY-----"""


@pytest.mark.parametrize(
    "token",
    [
        "sk-proj-abcdefghij1234567890XYZ",
        "sk-ant-api03-AbCdEf0123456789abcdef",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-1234567890-abcdefghij",
        "xoxp-1234-5678-abcdefgh",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0T",
        PEM,
    ],
)
def test_secret_is_redacted(token: str) -> None:
    out, counts = only("secret").redact(f"key: {token} end")
    assert token not in out
    assert out == "key: [REDACTED:secret] end"
    assert counts == {"secret": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def456ghi789", "Authorization: Bearer [REDACTED:secret]"),
        ("password=hunter2", "password=[REDACTED:secret]"),
        ("DB_PASSWORD=hunter2 next", "DB_PASSWORD=[REDACTED:secret] next"),
        ('api_key: "abc def"', 'api_key: "[REDACTED:secret]"'),
        ("PASSWORD = 'pa ss'", "PASSWORD = '[REDACTED:secret]'"),
        ('{"client_secret": "s3cr3t"}', '{"client_secret": "[REDACTED:secret]"}'),
        ("?api_key=abc123&page=2", "?api_key=[REDACTED:secret]&page=2"),
        ("X-Api-Key: abc123", "X-Api-Key: [REDACTED:secret]"),
        ("a private key\n" + PEM + "\nafter", "a private key\n[REDACTED:secret]\nafter"),
        ("cut short\n-----BEGIN PRIVATE KEY-----\nMIIEv+/==\n", "cut short\n[REDACTED:secret]"),
    ],
)
def test_secret_keeps_its_label(text: str, expected: str) -> None:
    assert redacted("secret", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "bearer tokens are described in RFC 6750",
        "Bearer authentication",
        "password: true",
        '"credentials": {"user": 1}',
        "max_tokens=100",
        "the sk-learn library",
        "ask-me-anything-about-anything-today",
        "tokens = 5",
    ],
)
def test_not_a_secret(text: str) -> None:
    assert redacted("secret", text) == text


# --- order, overlap, counts -------------------------------------------------------------------


def test_card_is_labelled_card_not_phone_whatever_the_spec_order() -> None:
    redactor = Redactor.from_spec(["phone", "ip_address", "credit_card"])
    assert redactor.redact("4111-1111-1111-1111") == (
        "[REDACTED:credit_card]",
        {"credit_card": 1},
    )


def test_counts_per_rule() -> None:
    text = (
        "a@example.com b@example.org 4111 1111 1111 1111 +1-202-555-0143 10.0.0.1 "
        "password=x1 GB82 WEST 1234 5698 7654 32"
    )
    out, counts = ALL.redact(text)
    assert counts == {
        "email": 2,
        "credit_card": 1,
        "phone": 1,
        "ip_address": 1,
        "secret": 1,
        "iban": 1,
    }
    assert not re.search(r"\d", out)


def test_nothing_to_do() -> None:
    assert ALL.redact("") == ("", {})
    assert ALL.redact("nothing here") == ("nothing here", {})
    empty = Redactor.from_spec([])
    assert not empty
    assert ALL
    assert empty.redact("alice@example.com") == ("alice@example.com", {})


def test_redacting_twice_changes_nothing() -> None:
    once, _ = ALL.redact("mail alice@example.com, password=alice@example.com")
    assert ALL.redact(once) == (once, {})


def test_markers_are_not_rematched_by_other_rules() -> None:
    redactor = Redactor.from_spec(
        [{"name": "word", "pattern": r"RED\w*"}, {"name": "colon", "pattern": ":"}, "email"]
    )
    assert redactor.redact("REDDISH a@b.io") == (
        "[REDACTED:word] [REDACTED:email]",
        {
            "word": 1,
            "email": 1,
        },
    )


# --- custom rules and errors ------------------------------------------------------------------


def test_custom_pattern_with_default_replacement() -> None:
    redactor = Redactor.from_spec([{"name": "customer_id", "pattern": r"CUST-\d{6}"}])
    assert redactor.redact("ids CUST-123456, CUST-654321") == (
        "ids [REDACTED:customer_id], [REDACTED:customer_id]",
        {"customer_id": 2},
    )


def test_custom_pattern_with_replacement_and_null_replacement() -> None:
    redactor = Redactor.from_spec(
        [
            {"name": "ticket", "pattern": r"TKT-\d+", "replacement": "<ticket>"},
            {"name": "badge", "pattern": r"B\d{4}", "replacement": None},
            "email",
        ]
    )
    out, counts = redactor.redact("TKT-42 B1234 x@y.com")
    assert out == "<ticket> [REDACTED:badge] [REDACTED:email]"
    assert counts == {"ticket": 1, "badge": 1, "email": 1}
    assert redactor.redact(out) == (out, {})


def test_custom_pattern_keeps_context_outside_a_redact_group() -> None:
    redactor = Redactor.from_spec([{"name": "pin", "pattern": r"PIN (?P<redact>\d{4})"}])
    assert redactor.redact("PIN 1234") == ("PIN [REDACTED:pin]", {"pin": 1})


def test_custom_rules_run_before_builtin_ones() -> None:
    redactor = Redactor.from_spec(
        ["email", {"name": "staff_email", "pattern": r"[\w.]+@corp\.example"}]
    )
    assert redactor.redact("a@corp.example b@other.example") == (
        "[REDACTED:staff_email] [REDACTED:email]",
        {"staff_email": 1, "email": 1},
    )


def test_rules_built_by_hand() -> None:
    rule = Rule("even", re.compile(r"\d+"), "#", check=lambda s: int(s) % 2 == 0)
    redactor = Redactor([rule])
    assert redactor.redact("1 2 3 44") == ("1 # 3 #", {"even": 2})
    assert redactor.rules == (rule,)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("emails", "unknown redaction rule 'emails'; the built-in rules are email, phone"),
        ({"name": "x", "pattern": "(unclosed"}, "'x': pattern does not compile: missing )"),
        ({"name": "x", "pattern": "a" * 501}, "501 characters long, over the limit of 500"),
        ({"name": "x", "pattern": "a*"}, "matches the empty string and would match everywhere"),
        ({"name": "x", "pattern": "a|"}, "would match everywhere"),
        ({"name": "x", "pattern": ""}, "pattern must be a non-empty string"),
        ({"name": "x"}, "pattern must be a non-empty string"),
        ({"pattern": "a"}, "needs a name"),
        ({"name": "has space", "pattern": "a"}, "needs a name"),
        ({"name": "x", "pattern": "a", "replacment": "b"}, "unknown key(s) replacment"),
        ({"name": "x", "pattern": "a", "replacement": 3}, "replacement must be a string"),
        ({"name": "email", "pattern": "a"}, "has the name of a built-in rule"),
        (42, "not int"),
    ],
)
def test_bad_spec(item: Any, message: str) -> None:
    with pytest.raises(RedactionError) as exc:
        Redactor.from_spec([item])
    assert message in str(exc.value)


def test_bad_spec_shapes() -> None:
    with pytest.raises(RedactionError, match="not the string"):
        Redactor.from_spec("email")
    with pytest.raises(RedactionError, match="listed twice"):
        Redactor.from_spec([{"name": "x", "pattern": "a"}, {"name": "x", "pattern": "b"}])
    assert isinstance(RedactionError("x"), ValueError)


def test_a_builtin_listed_twice_runs_once() -> None:
    assert Redactor.from_spec(["email", "email"]).redact("a@b.io") == (
        "[REDACTED:email]",
        {"email": 1},
    )


# --- JSON values ------------------------------------------------------------------------------


def test_redact_value_recurses() -> None:
    value = {
        "alice@example.com": "key kept, value alice@example.com",
        "nested": {"list": ["10.0.0.1", 7, None, True, 1.5, {"deep": "b@example.org"}]},
        "tuple": ("c@example.net",),
        "n": 4111111111111111,
    }
    out, counts = ALL.redact_value(value)
    assert out == {
        "alice@example.com": "key kept, value [REDACTED:email]",
        "nested": {
            "list": ["[REDACTED:ip_address]", 7, None, True, 1.5, {"deep": "[REDACTED:email]"}]
        },
        "tuple": ("[REDACTED:email]",),
        "n": 4111111111111111,
    }
    assert counts == {"email": 3, "ip_address": 1}
    assert value["nested"]["list"][0] == "10.0.0.1"  # the input is not modified


@pytest.mark.parametrize("value", [None, 3, 2.5, False, b"a@b.io", "", [], {}])
def test_redact_value_leaves_other_types(value: Any) -> None:
    assert ALL.redact_value(value) == (value, {})


# --- properties -------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "alice@example.com",
        "+44 20 7946 0958",
        "4111 1111 1111 1111",
        "GB82 WEST 1234 5698 7654 32",
        "10.0.0.1",
        "::1",
        "password=",
        "Bearer ",
        "sk-",
        "[REDACTED:email]",
        "[REDACTED:",
        "-",
        ".",
        "@",
        " ",
        ":",
        "'",
        '"',
        "2026-11-25",
    ]
)
TEXTS = st.text(max_size=60) | st.lists(FRAGMENTS | st.text(max_size=8), max_size=8).map("".join)


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_redact_never_raises_and_is_idempotent(text: str) -> None:
    once, _ = ALL.redact(text)
    twice, counts = ALL.redact(once)
    assert twice == once
    assert counts == {}


LOCAL = st.text(string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=16).filter(
    lambda s: s[0].isalnum()
)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
EMAILS = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    LOCAL,
    st.lists(LABEL, min_size=1, max_size=3),
    st.from_regex(r"[a-zA-Z]{2,6}", fullmatch=True),
)
CONTEXT = st.text(max_size=20)


@settings(max_examples=100, deadline=None)
@given(CONTEXT, EMAILS, CONTEXT)
def test_an_embedded_email_never_survives(before: str, email: str, after: str) -> None:
    out, _ = ALL.redact(f"{before}{email}{after}")
    assert email not in out


def _luhn_complete(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str(-total % 10)


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    """A Luhn-valid card number, as written (contiguous or grouped), and its digits."""
    length = draw(st.sampled_from([13, 14, 15, 16, 16, 16, 19]))
    prefix = draw(st.sampled_from(["4", "51", "55", "37", "6011", "35"]))
    body = prefix + draw(
        st.text("0123456789", min_size=length - 1 - len(prefix), max_size=length - 1 - len(prefix))
    )
    digits = _luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    if sep and length in (16, 19):
        written = sep.join(digits[i : i + 4] for i in range(0, length, 4))
    elif sep and length == 15:
        written = sep.join((digits[:4], digits[4:10], digits[10:]))
    else:
        written = digits
    return written, digits


NO_DIGITS = st.text(st.characters(blacklist_categories=("Nd",)), max_size=20)


@settings(max_examples=100, deadline=None)
@given(NO_DIGITS, cards(), NO_DIGITS)
def test_an_embedded_card_never_survives(before: str, card: tuple[str, str], after: str) -> None:
    written, digits = card
    out, _ = ALL.redact(f"{before} {written} {after}")
    assert written not in out
    assert digits not in "".join(c for c in out if c.isdigit())


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Nd",), blacklist_characters="@0123456789")))
def test_text_without_digits_or_at_is_unchanged(text: str) -> None:
    assert NOT_SECRET.redact(text) == (text, {})
