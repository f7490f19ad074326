"""Label selectors as Kubernetes reads them (apimachinery's labels.Parse, through CoreDNS's
ParseToLabelSelector): what parses, what it selects, and what the API server is sent."""

from __future__ import annotations

import re

import pytest

from clusterdns.plugins.kubernetes.selector import SelectorError, parse_selector

LABELS = {"environment": "production", "tier": "frontend", "app.kubernetes.io/name": "web"}


@pytest.mark.parametrize(
    ("text", "selected", "query"),
    [
        ("environment = production", True, "environment in (production)"),
        ("environment==production", True, "environment in (production)"),
        ("tier != frontend", False, "tier notin (frontend)"),
        ("tier!=backend", True, "tier notin (backend)"),
        ("missing != x", True, "missing notin (x)"),  # absent keys pass !=, as in Kubernetes
        ("environment in (production, qa)", True, "environment in (production,qa)"),
        ("tier notin (frontend,backend)", False, "tier notin (backend,frontend)"),
        ("missing notin (x)", True, "missing notin (x)"),
        ("partition", False, "partition"),
        ("!partition", True, "!partition"),
        ("app.kubernetes.io/name=web,tier", True, "app.kubernetes.io/name in (web),tier"),
        ("environment=production,tier!=frontend", False,
         "environment in (production),tier notin (frontend)"),
        ("environment in (staging, qa),application=nginx", False,
         "environment in (qa,staging),application in (nginx)"),
        ("tier=", False, "tier in ()"),  # the empty value: present but empty
        ("tier in ()", False, "tier in ()"),
    ],
)
def test_a_selector_selects_as_kubernetes_does(text, selected, query):
    selector = parse_selector(text)
    assert selector.matches(LABELS) is selected
    assert selector.query == query
    assert parse_selector(selector.query) == selector  # what the API server is sent means the same


def test_the_empty_value_is_a_value():
    assert parse_selector("tier=").matches({"tier": ""})
    assert not parse_selector("tier=").matches({})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty label selector"),
        ("   ", "empty label selector"),
        ("a in b", "expected '('"),
        ("a in (b", "incomplete"),
        ("a in (b c)", "expected ',' or ')'"),
        ("a=b c", "expected ','"),
        ("a=b,", "incomplete"),
        ("a > 3", "'>' and '<' are not supported"),
        ("a<3", "'>' and '<' are not supported"),
        ("a = (b)", "'(' is not a valid label value"),
        ("-a=b", "'-a' is not a valid label key"),
        ("a/b/c=d", "not a valid label key"),
        ("Example.com/a=b", "not a valid label key"),  # a prefix is a lower-case DNS name
        ("a=" + "v" * 64, "not a valid label value"),
        ("k" * 64, "not a valid label key"),
        ("a exists", "unknown operator 'exists'"),
    ],
)
def test_what_does_not_parse_says_why(text, message):
    with pytest.raises(SelectorError, match=re.escape(message)):
        parse_selector(text)
