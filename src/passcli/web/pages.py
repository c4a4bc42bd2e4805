"""The HTML pages of the unsubscribe endpoint: small, self-contained, every value escaped.

No scripts, images or outside resources (nothing for a mail scanner to fetch), and no links
but the form's: only its POST unsubscribes.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

# Sent with every page: no caching of a personal page, no token leaking in a Referer, not
# indexed, not framed (an unsubscribe button must not be clickjacked).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

CHANNEL_WORDS = {"email": "emails", "sms": "text messages"}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}h1{font-size:1.4rem}"
    "button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:.3rem;"
    "background:#b3261e;color:#fff;cursor:pointer}"
)


def _page(title: str, *paragraphs: str, form: str = "") -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}{form}</body></html>\n"
    )


def confirm_page(org_name: str, channel: str, token: str) -> str:
    """The page a link opens: it asks, and its button POSTs the one-click form."""
    words = CHANNEL_WORDS.get(channel, channel)
    # A relative action keeps the page's own path, so a proxy's path prefix is kept too.
    action = "?" + urlencode({"token": token})
    form = (
        f'<form method="post" action="{escape(action)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">Unsubscribe from {escape(words)}</button></form>'
    )
    return _page(
        "Unsubscribe",
        f"Stop receiving {words} from {org_name}?",
        "Nothing changes until you press the button.",
        form=form,
    )


def done_page(org_name: str, channel: str, changed: bool) -> str:
    """The answer to the POST (a mail client's one-click, or the page's button)."""
    words = CHANNEL_WORDS.get(channel, channel)
    if changed:
        return _page("You are unsubscribed", f"You will receive no more {words} from {org_name}.")
    return _page(
        "You were already unsubscribed",
        f"You had already unsubscribed from {words} from {org_name}; nothing changed.",
    )


def problem_page(title: str, sentence: str) -> str:
    """A refusal (a bad link, an unknown subscriber, a server not set up for links)."""
    return _page(title, sentence)


def seed_link_page() -> str:
    """A link from a test send (`passcli message test`): the seed who clicked it is not the
    customer the message was rendered for, so nothing is unsubscribed."""
    return _page(
        "Test message",
        "This link came from a test send, so nothing was changed: no one was unsubscribed.",
    )
