"""`sync_segment`: Audience Entered / Exited track events to a JSON Lines file or to an HTTP
endpoint taking Segment's batch body (pytest-httpserver stands in for Segment), and the
snapshot advanced only after every event was delivered.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from werkzeug import Request, Response

from passcli import __version__
from passcli.errors import PermanentDeliveryError, TransientDeliveryError, UsageError
from passcli.segments.destinations import (
    BatchEndpoint,
    JsonLinesFile,
    batches,
    destination_for,
)
from passcli.segments.snapshots import state
from passcli.segments.sync import message_id, sync_segment
from passcli.store import read_transaction

from .conftest import single
from .test_snapshots import snapshot_rows

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SPECS = single({"purchase": {"item": "pass", "status": "active"}})
PATH = "/v1/batch"
WRITE_KEY = "segment-write-key"


class Sleeps(list[float]):
    """An injected `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class FakeSegment:
    """Answers POSTs to /v1/batch with 200 unless a reply is scripted (used in order)."""

    requests: list[dict] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.requests.append(
            {
                "method": request.method,
                "content_type": request.content_type,
                "authorization": request.headers.get("Authorization"),
                "body": json.loads(request.get_data()),
                "size": len(request.get_data()),
            }
        )
        status, headers = self.script.pop(0) if self.script else (200, {})
        body = {"success": status == 200} if status != 400 else {"error": "bad batch"}
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    def events(self, request: int | None = None) -> list[dict]:
        chosen = self.requests if request is None else [self.requests[request]]
        return [event for r in chosen for event in r["body"]["batch"]]


@pytest.fixture
def segment(httpserver):
    fake = FakeSegment()
    httpserver.expect_request(PATH, method="POST").respond_with_handler(fake)
    fake.url = httpserver.url_for(PATH)
    return fake


@pytest.fixture
def club(world):
    """a (pass expires before LATER), b (pass until 2027); c buys one later."""
    world.customer("a", email="a@example.com")
    world.purchase("a", "pass", NOW - timedelta(days=300), expires_at=NOW + timedelta(days=5))
    world.purchase("b", "pass", NOW - timedelta(days=10), expires_at=NOW + timedelta(days=355))
    world.customer("c", email="c@example.com")
    world.flush()
    return world


def c_buys_a_pass(world):
    world.purchase("c", "pass", LATER - timedelta(days=1), expires_at=LATER + timedelta(days=365))
    world.flush()


def endpoint(segment, sleeps=None, **options):
    return BatchEndpoint(
        segment.url, WRITE_KEY, sleep=Sleeps() if sleeps is None else sleeps, **options
    )


def sync(world, destination, at=NOW):
    return sync_segment(world.engine, SPECS, "s", at, UTC, destination)


def generation(world):
    with read_transaction(world.engine) as conn:
        return state(conn, "s")


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- the events ---------------------------------------------------------------------------------


def test_the_first_sync_sends_every_member_as_audience_entered(club, tmp_path):
    path = tmp_path / "audience.jsonl"

    report = sync(club, JsonLinesFile(path))

    assert read_lines(path) == [
        {
            "type": "track",
            "event": "Audience Entered",
            "userId": "a",
            "timestamp": "2026-11-22T17:00:00Z",
            "messageId": message_id("s", 1, "entered", "a"),
            "properties": {"audience_key": "s", "s": True},
            "context": {
                "library": {"name": "passcli", "version": __version__},
                "traits": {"email": "a@example.com"},
            },
        },
        {
            "type": "track",
            "event": "Audience Entered",
            "userId": "b",
            "timestamp": "2026-11-22T17:00:00Z",
            "messageId": message_id("s", 1, "entered", "b"),
            "properties": {"audience_key": "s", "s": True},
            "context": {"library": {"name": "passcli", "version": __version__}},
        },
    ]
    assert (report.first, report.sync, report.entered, report.exited, report.members) == (
        True,
        1,
        2,
        0,
        2,
    )
    assert (report.since, report.at, report.to, report.requests) == (None, NOW, str(path), 0)
    assert snapshot_rows(club.engine) == ["a", "b"]


def test_a_later_sync_appends_only_the_changes_with_new_message_ids(club, tmp_path):
    path = tmp_path / "audience.jsonl"
    sync(club, JsonLinesFile(path))
    c_buys_a_pass(club)

    report = sync(club, JsonLinesFile(path), LATER)

    lines = read_lines(path)
    assert len(lines) == 4
    entered, exited = lines[2:]
    assert (entered["event"], entered["userId"], entered["properties"]) == (
        "Audience Entered",
        "c",
        {"audience_key": "s", "s": True},
    )
    assert (exited["event"], exited["userId"], exited["properties"]) == (
        "Audience Exited",
        "a",
        {"audience_key": "s", "s": False},
    )
    assert exited["timestamp"] == "2026-12-05T12:00:00Z"
    assert exited["messageId"] == message_id("s", 2, "exited", "a")
    assert len({line["messageId"] for line in lines}) == 4
    assert (report.first, report.sync, report.since, report.entered, report.exited) == (
        False,
        2,
        NOW,
        1,
        1,
    )
    assert snapshot_rows(club.engine) == ["b", "c"]


def test_re_entering_later_gets_a_new_message_id():
    assert message_id("s", 1, "entered", "a") == message_id("s", 1, "entered", "a")
    ids = {
        message_id("s", 1, "entered", "a"),
        message_id("s", 3, "entered", "a"),
        message_id("s", 2, "exited", "a"),
        message_id("t", 1, "entered", "a"),
        message_id("s", 1, "entered", "b"),
    }
    assert len(ids) == 5


def test_a_sync_with_no_changes_sends_nothing_and_still_counts(club, tmp_path, segment):
    path = tmp_path / "audience.jsonl"
    sync(club, JsonLinesFile(path))

    to_file = sync(club, JsonLinesFile(path))
    to_url = sync(club, endpoint(segment))

    assert len(read_lines(path)) == 2
    assert segment.requests == []
    assert (to_file.events, to_file.sync, to_url.events, to_url.sync) == (0, 2, 0, 3)


# -- a JSON Lines file ----------------------------------------------------------------------------


def test_a_file_sync_appends_after_what_the_file_holds(club, tmp_path):
    path = tmp_path / "audience.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")

    sync(club, JsonLinesFile(path))

    assert [line.get("userId") for line in read_lines(path)] == [None, "a", "b"]


def test_an_incomplete_last_line_is_cut_off_and_a_complete_one_kept(club, tmp_path):
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b'{"earlier": true}\n{"type": "track", "userI')
    unterminated = tmp_path / "unterminated.jsonl"
    unterminated.write_bytes(b'{"earlier": true}')

    sync(club, JsonLinesFile(torn))
    sync_segment(club.engine, {"t": SPECS["s"]}, "t", NOW, UTC, JsonLinesFile(unterminated))

    assert [line.get("userId") for line in read_lines(torn)] == [None, "a", "b"]
    assert [line.get("userId") for line in read_lines(unterminated)] == [None, "a", "b"]


def test_a_file_that_cannot_be_written_fails_and_the_snapshot_stays(club, tmp_path):
    folder = tmp_path / "audience.jsonl"
    folder.mkdir()  # a folder where the file should be

    with pytest.raises(PermanentDeliveryError, match="sync of segment 's' to .* failed: cannot"):
        sync(club, JsonLinesFile(folder))

    assert generation(club).generation == 0
    assert snapshot_rows(club.engine) == []


def test_a_failure_while_appending_leaves_the_file_as_it_was(club, tmp_path):
    path = tmp_path / "audience.jsonl"
    path.write_bytes(b'{"earlier": true}\n')

    def failing():
        yield b'{"one": 1}'
        raise OSError(28, "No space left on device")

    with pytest.raises(PermanentDeliveryError, match="No space left on device"):
        JsonLinesFile(path).deliver(failing())

    assert path.read_bytes() == b'{"earlier": true}\n'


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("audience.csv", r"--to must be a \.jsonl file or an http\(s\) URL, not 'audience.csv'"),
        ("ftp://example.com/a.jsonl", r"a \.jsonl file or an http\(s\) URL, not a ftp URL"),
        ("no-such-folder/a.jsonl", "cannot write no-such-folder/a.jsonl: folder .* does not"),
        ("https:///v1/batch", "has no host"),
    ],
)
def test_a_bad_destination_is_a_usage_error(to, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        destination_for(to)


def test_destination_for_picks_a_file_or_an_endpoint(tmp_path):
    assert isinstance(destination_for(str(tmp_path / "a.ndjson")), JsonLinesFile)
    found = destination_for("https://KEY:@api.segment.io/v1/batch?x=secret", "k")
    assert isinstance(found, BatchEndpoint)
    assert found.name == "https://api.segment.io/v1/batch"  # no credentials, no query


# -- an HTTP endpoint -----------------------------------------------------------------------------


def test_the_posted_body_is_a_segment_batch_with_basic_auth(club, segment):
    report = sync(club, endpoint(segment))

    (request,) = segment.requests
    assert (request["method"], request["content_type"]) == ("POST", "application/json")
    assert request["authorization"] == "Basic " + base64.b64encode(b"segment-write-key:").decode()
    assert list(request["body"]) == ["batch"]
    assert [(e["type"], e["event"], e["userId"]) for e in request["body"]["batch"]] == [
        ("track", "Audience Entered", "a"),
        ("track", "Audience Entered", "b"),
    ]
    assert request["body"]["batch"][0]["messageId"] == message_id("s", 1, "entered", "a")
    assert (report.requests, report.to) == (1, segment.url)
    assert snapshot_rows(club.engine) == ["a", "b"]


def test_without_a_write_key_no_authorization_is_sent(club, segment):
    sync(club, BatchEndpoint(segment.url, None, sleep=Sleeps()))

    assert segment.requests[0]["authorization"] is None


def test_batches_are_split_at_the_event_limit(world, segment):
    for n in range(5):
        world.purchase(f"m{n}", "pass", NOW - timedelta(days=1))
    world.flush()

    report = sync(world, endpoint(segment, batch_events=2))

    assert [len(r["body"]["batch"]) for r in segment.requests] == [2, 2, 1]
    assert [e["userId"] for e in segment.events()] == [f"m{n}" for n in range(5)]
    assert report.requests == 3


def test_batches_are_split_at_the_byte_limit():
    events = [json.dumps({"n": n, "pad": "x" * 40}).encode() for n in range(6)]
    one = len(events[0])
    limit = len(b'{"batch":[]}') + 2 * one + 1  # two events and their comma

    grouped = list(batches(events, 100, limit))

    assert [len(group) for group in grouped] == [2, 2, 2]
    assert all(len(b'{"batch":[' + b",".join(g) + b"]}") <= limit for g in grouped)
    assert list(batches([b"x" * 50], 100, 10)) == [[b"x" * 50]]  # too big: alone
    assert list(batches([], 100, 10)) == []


def test_a_500_is_retried_and_then_the_snapshot_advances(club, segment):
    segment.script = [(500, {})]
    sleeps = Sleeps()

    report = sync(club, endpoint(segment, sleeps))

    assert len(segment.requests) == 2
    assert segment.requests[0]["body"] == segment.requests[1]["body"]
    assert sleeps == [1.0]
    assert report.sync == 1
    assert snapshot_rows(club.engine) == ["a", "b"]


def test_a_429_waits_as_long_as_retry_after_says_up_to_a_cap(club, segment):
    segment.script = [(429, {"Retry-After": "7"}), (503, {"Retry-After": "3600"})]
    sleeps = Sleeps()

    sync(club, endpoint(segment, sleeps))

    assert sleeps == [7.0, 60.0]
    assert len(segment.requests) == 3


def test_transient_failures_back_off_and_give_up_after_the_last_attempt(club, segment):
    segment.script = [(503, {})] * 5
    sleeps = Sleeps()

    with pytest.raises(TransientDeliveryError) as caught:
        sync(club, endpoint(segment, sleeps))

    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(segment.requests) == 5
    assert str(caught.value) == (
        f"sync of segment 's' to {segment.url} failed: {segment.url} still failing after 5 "
        'attempts: HTTP 503 SERVICE UNAVAILABLE: {"success": false}; the snapshot was not '
        "advanced (the next sync sends these changes again)"
    )
    assert generation(club).generation == 0


def test_a_400_fails_at_once_and_leaves_the_snapshot_unchanged(club, segment):
    sync(club, endpoint(segment))
    before = generation(club)
    c_buys_a_pass(club)
    segment.script = [(400, {})]
    sleeps = Sleeps()

    with pytest.raises(PermanentDeliveryError, match='answered HTTP 400 BAD REQUEST: {"error"'):
        sync(club, endpoint(segment, sleeps), LATER)

    assert (len(segment.requests), sleeps) == (2, [])
    assert generation(club) == before
    assert snapshot_rows(club.engine) == ["a", "b"]


def test_a_retry_after_a_failure_resends_the_same_message_ids(club, segment):
    sync(club, endpoint(segment))
    c_buys_a_pass(club)
    segment.script = [(400, {})]
    with pytest.raises(PermanentDeliveryError):
        sync(club, endpoint(segment), LATER)

    report = sync(club, endpoint(segment), LATER + timedelta(minutes=5))

    failed, retried = segment.events(1), segment.events(2)
    assert [e["messageId"] for e in failed] == [e["messageId"] for e in retried]
    assert [(e["event"], e["userId"]) for e in retried] == [
        ("Audience Entered", "c"),
        ("Audience Exited", "a"),
    ]
    assert report.sync == 2
    assert snapshot_rows(club.engine) == ["b", "c"]


def test_a_failed_second_batch_leaves_the_snapshot_and_says_what_went_first(world, segment):
    for n in range(5):
        world.purchase(f"m{n}", "pass", NOW - timedelta(days=1))
    world.flush()
    segment.script = [(200, {}), (400, {})]

    with pytest.raises(PermanentDeliveryError, match=r"1 earlier batch \(2 events\) had been"):
        sync(world, endpoint(segment, batch_events=2))

    assert generation(world).generation == 0
    assert snapshot_rows(world.engine) == []


def test_connection_errors_are_retried(club):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"success": True})

    sleeps = Sleeps()
    destination = BatchEndpoint(
        "https://api.example.com/v1/batch", None, transport=httpx.MockTransport(handler)
    )
    destination.sleep = sleeps

    report = sync(club, destination)

    assert (len(calls), sleeps, report.requests) == (3, [1.0, 2.0], 1)


def test_an_unreachable_endpoint_fails_after_its_attempts(club):
    sleeps = Sleeps()
    destination = BatchEndpoint("http://127.0.0.1:1/v1/batch", None, attempts=2, sleep=sleeps)

    with pytest.raises(TransientDeliveryError, match="still failing after 2 attempts: Connect"):
        sync(club, destination)

    assert sleeps == [1.0]
    assert generation(club).generation == 0
