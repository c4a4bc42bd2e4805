"""Cross-checks of groups.yaml beyond its shape: keywords, references, item names and the
reply templates."""

from __future__ import annotations

from passcli.groups.keywords import RESERVED
from passcli.groups.spec import GroupsFile, MembershipGroup, SubscriptionGroup
from passcli.messages.render import check_template
from passcli.segments.spec import Problem
from passcli.yamlpos import YamlPath, did_you_mean

# What a keyword reply can say: it may go to a phone that matches no customer.
REPLY_VARIABLES = frozenset({"organizationName"})


def check_groups(groups_file: GroupsFile, known_items: set[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for name, group in groups_file.groups.items():
        path: YamlPath = ("groups", name)
        if isinstance(group, MembershipGroup) and known_items:
            for index, item in enumerate(group.items):
                if item not in known_items:
                    hint = did_you_mean(item, known_items)
                    problems.append(
                        Problem((*path, "items", index), f"unknown item {item!r}{hint}")
                    )
        if isinstance(group, SubscriptionGroup):
            for index, word in enumerate(group.join_keywords):
                where = (*path, "join_keywords", index)
                if word in RESERVED:
                    problems.append(
                        Problem(where, f"{word} is a reserved keyword (STOP, START and HELP words)")
                    )
                elif word in owners:
                    problems.append(
                        Problem(where, f"keyword {word} already joins group {owners[word]!r}")
                    )
                else:
                    owners[word] = name
            if group.join_reply is not None:
                problems += _template(group.join_reply, (*path, "join_reply"), "join_reply")
    keywords = groups_file.sms_keywords
    for field in ("help_reply", "stop_reply", "start_reply"):
        problems += _template(getattr(keywords, field), ("sms_keywords", field), field)
    names = set(groups_file.groups) | groups_file.declared_groups
    for name, offer in groups_file.offers.items():
        path = ("offers", name)
        for index, group_name in enumerate(offer.groups):
            if group_name not in names:
                hint = did_you_mean(group_name, names)
                problems.append(
                    Problem((*path, "groups", index), f"unknown group {group_name!r}{hint}")
                )
        if known_items:
            for index, item in enumerate(offer.items):
                if item not in known_items:
                    hint = did_you_mean(item, known_items)
                    problems.append(
                        Problem((*path, "items", index), f"unknown item {item!r}{hint}")
                    )
    return problems


def _template(source: str, path: YamlPath, field: str) -> list[Problem]:
    return [
        Problem(path, f"{field}: {p.message}", text_line=p.line, needle=p.name)
        for p in check_template(source, REPLY_VARIABLES)
    ]
