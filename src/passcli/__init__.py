"""passcli: campaigns as code for pass programs, memberships and shops."""

__version__ = "0.1.0"
