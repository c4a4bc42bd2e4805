"""X-Twilio-Signature, checked against Twilio's own library as an independent oracle.

`twilio.request_validator.RequestValidator` is what Twilio publishes for checking its
webhooks: we compute, it validates, and the reverse, over URLs with query strings and ports
and over forms with unicode, empty and repeated values.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from passcli.web.signature import (
    twilio_signature,
    url_variants,
    valid_twilio_request,
    valid_twilio_signature,
)

TOKEN = "12345678901234567890123456789012"

URLS = [
    "https://passes.example.com/webhooks/twilio/sms",
    "https://passes.example.com/passcli/webhooks/twilio/sms",
    "https://passes.example.com:8443/webhooks/twilio/sms",
    "https://passes.example.com/webhooks/twilio/sms?club=loyalty&lang=fr",
    "https://passes.example.com:8443/hooks/webhooks/twilio/sms?a=%C3%A9t%C3%A9&b=",
    "http://203.0.113.7:8025/webhooks/twilio/sms",
    "http://passes.example.com/webhooks/twilio/sms?x=1",
]


class MultiDict(dict):
    """name -> [values], read by RequestValidator through `getall` (as Flask's MultiDict)."""

    def getall(self, name):
        return self[name]


def as_multidict(params: list[tuple[str, str]]) -> MultiDict:
    found = MultiDict()
    for name, value in params:
        found.setdefault(name, []).append(value)
    return found


FORM = [
    ("From", "+13035550123"),
    ("Body", "LOYALTY ☕ ¡sí! 日本語 🎉"),
    ("FromCity", ""),
    ("MessageSid", "SM" + "f" * 32),
    ("To", "+17205550100"),
    ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
]


@pytest.mark.parametrize("url", URLS)
def test_our_signature_is_valid_to_twilios_validator(url):
    ours = twilio_signature(TOKEN, url, FORM)
    assert ours == RequestValidator(TOKEN).compute_signature(url, as_multidict(FORM))
    assert RequestValidator(TOKEN).validate(url, as_multidict(FORM), ours)


@pytest.mark.parametrize("url", URLS)
def test_twilios_signature_is_valid_to_us(url):
    theirs = RequestValidator(TOKEN).compute_signature(url, as_multidict(FORM))
    assert valid_twilio_signature(TOKEN, url, FORM, theirs)
    assert valid_twilio_request(TOKEN, url, FORM, theirs)


@pytest.mark.parametrize(
    ("configured", "signed"),
    [
        (
            "https://passes.example.com/webhooks/twilio/sms",
            "https://passes.example.com:443/webhooks/twilio/sms",
        ),
        (
            "https://passes.example.com:443/webhooks/twilio/sms",
            "https://passes.example.com/webhooks/twilio/sms",
        ),
        (
            "http://passes.example.com/webhooks/twilio/sms?x=1",
            "http://passes.example.com:80/webhooks/twilio/sms?x=1",
        ),
    ],
)
def test_a_default_port_may_be_written_or_not_as_twilio_accepts(configured, signed):
    signature = RequestValidator(TOKEN).compute_signature(signed, as_multidict(FORM))
    assert RequestValidator(TOKEN).validate(configured, as_multidict(FORM), signature)
    assert valid_twilio_request(TOKEN, configured, FORM, signature)


def test_a_port_that_is_not_the_default_must_match():
    signature = twilio_signature(TOKEN, "https://passes.example.com:8443/x", FORM)
    assert not valid_twilio_request(TOKEN, "https://passes.example.com/x", FORM, signature)
    assert not RequestValidator(TOKEN).validate(
        "https://passes.example.com/x", as_multidict(FORM), signature
    )
    assert url_variants("https://passes.example.com:8443/x") == [
        "https://passes.example.com:8443/x"
    ]


def test_url_variants_keep_path_query_and_ipv6_hosts():
    assert url_variants("https://a.example/p/q?x=1") == [
        "https://a.example/p/q?x=1",
        "https://a.example:443/p/q?x=1",
    ]
    assert url_variants("http://[2001:db8::1]:80/p") == [
        "http://[2001:db8::1]:80/p",
        "http://[2001:db8::1]/p",
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda url, form, token: (url + "?x=1", form, token),  # another URL
        lambda url, form, token: (url.replace("https", "http"), form, token),
        lambda url, form, token: (url, [*form[:1], ("Body", "STOP"), *form[2:]], token),
        lambda url, form, token: (url, [*form, ("Extra", "1")], token),
        lambda url, form, token: (url, form, "another-token"),
    ],
)
def test_anything_changed_invalidates_the_signature(change):
    url = URLS[0]
    signature = twilio_signature(TOKEN, url, FORM)
    other_url, other_form, other_token = change(url, FORM, TOKEN)
    assert not valid_twilio_request(other_token, other_url, other_form, signature)
    assert not RequestValidator(other_token).validate(
        other_url, as_multidict(other_form), signature
    )


@pytest.mark.parametrize("signature", [None, "", "not base64 at all", "x" * 28])
def test_a_missing_or_malformed_signature_is_invalid(signature):
    assert not valid_twilio_request(TOKEN, URLS[0], FORM, signature)


def test_no_auth_token_validates_nothing():
    assert not valid_twilio_signature("", URLS[0], FORM, twilio_signature("", URLS[0], FORM))


names = st.text(
    alphabet=st.characters(min_codepoint=0x30, max_codepoint=0x7A), min_size=1, max_size=12
)
values = st.text(max_size=40)  # any unicode, empty included (no surrogates: not valid UTF-8)
forms = st.lists(st.tuples(names, values), max_size=8)
ports = st.sampled_from(["", ":443", ":8443", ":80"])
paths = st.sampled_from(["/webhooks/twilio/sms", "/p/webhooks/twilio/sms"])
queries = st.sampled_from(["", "?x=1", "?a=%C3%A9&b=", "?club=loyalty&club=vip"])


@settings(max_examples=200, deadline=None)
@given(form=forms, port=ports, path=paths, query=queries, scheme=st.sampled_from(["https", "http"]))
def test_ours_and_twilios_agree_on_random_forms(form, port, path, query, scheme):
    url = f"{scheme}://passes.example.com{port}{path}{query}"
    validator = RequestValidator(TOKEN)
    ours = twilio_signature(TOKEN, url, form)
    assert ours == validator.compute_signature(url, as_multidict(form))
    assert validator.validate(url, as_multidict(form), ours)
    assert valid_twilio_request(
        TOKEN, url, form, validator.compute_signature(url, as_multidict(form))
    )
