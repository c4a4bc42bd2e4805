"""Cross-checks of messages.yaml: segment and item references, and every template."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from passcli.messages.render import CUSTOMER_VARIABLES, PASS_VARIABLES, check_template
from passcli.messages.spec import MessageSpec
from passcli.segments.spec import Problem
from passcli.yamlpos import did_you_mean

TEMPLATE_FIELDS = ("subject", "header", "body", "html", "sms_body")


def check_messages(
    messages: dict[str, MessageSpec],
    segment_names: set[str],
    known_items: set[str] | None,
    subscription_groups: Collection[str] = (),
    group_kinds: Mapping[str, str] | None = None,
) -> list[Problem]:
    group_kinds = group_kinds or {}
    problems: list[Problem] = []
    for name, spec in messages.items():
        path = ("messages", name)
        group = spec.subscription_group
        if group is not None and group not in subscription_groups:
            if group in group_kinds:
                text = f"{group!r} is a {group_kinds[group]} group, not a subscription group"
            else:
                hint = did_you_mean(group, subscription_groups)
                known = (
                    "" if subscription_groups else " (groups.yaml declares no subscription group)"
                )
                text = f"unknown subscription group {group!r}{hint}{known}"
            problems.append(Problem((*path, "subscription_group"), text))
        if spec.channel in ("email", "any") and not spec.subject:
            problems.append(Problem(path, f"a message sent by {spec.channel} needs a subject"))
        for field in ("segments", "exclude"):
            for index, segment in enumerate(getattr(spec, field)):
                if segment not in segment_names:
                    hint = did_you_mean(segment, segment_names)
                    problems.append(
                        Problem((*path, field, index), f"unknown segment {segment!r}{hint}")
                    )
        if spec.pass_ is not None and known_items and spec.pass_ not in known_items:
            hint = did_you_mean(spec.pass_, known_items)
            problems.append(Problem((*path, "pass"), f"unknown item {spec.pass_!r}{hint}"))
        allowed = CUSTOMER_VARIABLES | (PASS_VARIABLES if spec.pass_ is not None else frozenset())
        for field in TEMPLATE_FIELDS:
            source = getattr(spec, field)
            if source is None:
                continue
            for problem in check_template(source, allowed, html=field == "html"):
                problems.append(
                    Problem(
                        (*path, field),
                        f"{field}: {problem.message}",
                        text_line=problem.line,
                        needle=problem.name,
                    )
                )
    return problems
