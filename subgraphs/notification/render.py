"""Template rendering in jinja2's sandbox: no attribute access to internals, undefined names are errors."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shared.errors import InputError

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


class RenderError(Exception):
    """A template could not be rendered with the event's data."""


def check_template(source: str, *, field: str) -> None:
    """Parses a template; a syntax error is BAD_USER_INPUT naming the field."""
    try:
        _ENV.parse(source)
    except TemplateError as exc:
        raise InputError(f"{field} is not a valid template: {exc}", field=field) from None


def render(source: str, context: dict[str, Any]) -> str:
    """Renders a template against the event data in the sandbox; raises RenderError."""
    try:
        return _ENV.from_string(source).render(**context)
    except Exception as exc:  # SecurityError, UndefinedError, TypeError from the template's own code
        raise RenderError(f"{type(exc).__name__}: {exc}") from None
