"""Templates: checked against the variable set, rendered in Jinja2's sandbox.

StrictUndefined turns a missing variable into an error instead of a blank in a sent
message; the sandbox keeps templates away from Python internals (`''.__class__...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from passcli.yamlpos import did_you_mean

CUSTOMER_VARIABLES = frozenset(
    {
        "customerFirstName",
        "customerLastName",
        "customerEmail",
        "customerPhone",
        "customerId",
        "dashboardUrl",
        "unsubscribeLink",
        "organizationName",
        "customer",
    }
)
PASS_VARIABLES = frozenset({"passName", "passExpiresOn", "daysUntilExpiration", "pointsEarned"})
# What `{{ customer.x }}` may name; `customer.attributes.<name>` is the customer's own data.
CUSTOMER_FIELDS = frozenset(
    {"id", "email", "phone", "first_name", "last_name", "timezone", "attributes"}
)
ALL_VARIABLES = CUSTOMER_VARIABLES | PASS_VARIABLES


class RenderError(Exception):
    """A template failed for one customer (render_error)."""


def _finalize(value: Any) -> Any:
    # A customer without a first name renders as a blank, not as "None".
    return "" if value is None else value


TEXT_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, finalize=_finalize
)
HTML_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=True, keep_trailing_newline=False, finalize=_finalize
)


@dataclass(frozen=True)
class TemplateProblem:
    line: int  # 1-based line inside the template
    message: str
    name: str | None = None  # the variable or field it is about


def check_template(
    source: str, allowed: frozenset[str], html: bool = False
) -> list[TemplateProblem]:
    """Syntax errors, and variables that do not exist, found by walking the template's AST."""
    env = HTML_ENV if html else TEXT_ENV
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 1, f"template syntax error: {exc.message}")]
    problems = []
    unknown = meta.find_undeclared_variables(tree) - allowed
    for name in sorted(unknown):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
        if name in PASS_VARIABLES:
            message = f"{{{{ {name} }}}} needs the message's pass: field"
        else:
            message = f"unknown variable {name!r}{did_you_mean(name, allowed | PASS_VARIABLES)}"
        problems.append(TemplateProblem(line, message, name))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "customer":
            field = node.attr if isinstance(node, nodes.Getattr) else _constant(node.arg)
            if field is not None and field not in CUSTOMER_FIELDS:
                hint = did_you_mean(field, CUSTOMER_FIELDS)
                problems.append(
                    TemplateProblem(node.lineno, f"customer has no field {field!r}{hint}", field)
                )
    return problems


def _constant(node: nodes.Node) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


class Template:
    """A compiled template; compiled once per send, rendered once per recipient."""

    def __init__(self, source: str, html: bool = False) -> None:
        self.source = source
        self._template = (HTML_ENV if html else TEXT_ENV).from_string(source)

    def render(self, variables: Mapping[str, Any]) -> str:
        try:
            return self._template.render(variables).strip()
        except TemplateError as exc:
            raise RenderError(str(exc)) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}") from exc
