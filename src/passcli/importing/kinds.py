"""The kinds of file `passcli import` takes, in the order they depend on each other."""

KINDS = ("customers", "items", "purchases", "redemptions", "events", "bounces")
