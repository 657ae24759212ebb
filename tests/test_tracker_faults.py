"""The tracker client when the backend is down, busy, slow or broken: retry what may succeed later,
wait as long as the server asks, give up with a retryable error, and never make a ticket twice."""

from __future__ import annotations

import email.utils
import time
from datetime import datetime, timedelta, timezone

import pytest

from backend.process import free_port
from bot.tracker import PermanentTrackerError, RetryableTrackerError, RetryPolicy, TrackerClient
from tests.backend_fixtures import API_KEY, FAST_RETRY, Canned, StandIn, unique


async def complain(client: TrackerClient, message_id: str):
    return await client.create("water", "停水两天了，一直没人管", address_string="彭家场村",
                               group="彭家场村村民群", message_id=message_id)


async def test_backend_down_gives_a_retryable_error_after_every_attempt():
    policy = RetryPolicy(max_attempts=3, backoff_base=0.1, backoff_max=1.0)
    started = time.monotonic()
    async with TrackerClient(f"http://127.0.0.1:{free_port()}", API_KEY, retry=policy) as client:
        with pytest.raises(RetryableTrackerError) as caught:
            await complain(client, unique("msg"))
    assert caught.value.attempts == 3
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)
    # Equal jitter waits at least half of each delay: 0.05 s after the 1st try, 0.1 s after the 2nd.
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize("status, reason", [(503, "Service Unavailable"), (502, "Bad Gateway"),
                                            (429, "Too Many Requests")])
async def test_backend_that_fails_then_recovers_makes_exactly_one_ticket(
        tracking_backend, tracker_client, status, reason):
    script = [Canned.status(status, reason), Canned.status(status, reason)]
    message_id = unique("msg")
    async with StandIn(script, upstream_port=tracking_backend.port) as flaky:
        async with TrackerClient(flaky.base_url, API_KEY, retry=FAST_RETRY) as client:
            made = await complain(client, message_id)
    assert len(flaky.arrivals) == 3
    # Asked directly, the backend knows the ticket; asked again with the same id, no second one.
    assert (await tracker_client.get(made.service_request_id)).status == "open"
    assert (await complain(tracker_client, message_id)).service_request_id == made.service_request_id


async def test_request_lost_with_a_dropped_connection_is_sent_again(tracking_backend):
    async with StandIn([Canned.hang_up()], upstream_port=tracking_backend.port) as flaky:
        async with TrackerClient(flaky.base_url, API_KEY, retry=FAST_RETRY) as client:
            made = await complain(client, unique("msg"))
    assert made.service_request_id.startswith("GX")
    assert len(flaky.arrivals) == 2


async def test_retry_after_is_waited_out_before_the_next_attempt(tracking_backend):
    script = [Canned.status(503, "Service Unavailable", {"Retry-After": "1"})]
    async with StandIn(script, upstream_port=tracking_backend.port) as flaky:
        async with TrackerClient(flaky.base_url, API_KEY, retry=FAST_RETRY) as client:
            await complain(client, unique("msg"))
    first, second = flaky.arrivals
    assert second - first >= 1.0
    assert second - first < 1.0 + 1.0  # the wait is the server's, not a long backoff on top


async def test_retry_after_given_as_a_date_is_waited_out_too(tracking_backend):
    # HTTP dates have whole seconds: three seconds ahead means a wait of more than two.
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    script = [Canned.status(503, "Service Unavailable", {"Retry-After": when})]
    async with StandIn(script, upstream_port=tracking_backend.port) as flaky:
        async with TrackerClient(flaky.base_url, API_KEY, retry=FAST_RETRY) as client:
            await complain(client, unique("msg"))
    first, second = flaky.arrivals
    assert 1.9 <= second - first < 3.5


async def test_retry_after_longer_than_the_client_waits_is_left_to_the_outbox(tracking_backend):
    script = [Canned.status(429, "Too Many Requests", {"Retry-After": "120"})]
    async with StandIn(script, upstream_port=tracking_backend.port) as flaky:
        async with TrackerClient(flaky.base_url, API_KEY, retry=FAST_RETRY) as client:
            with pytest.raises(RetryableTrackerError) as caught:
                await complain(client, unique("msg"))
    assert (caught.value.status, caught.value.retry_after, caught.value.attempts) == (429, 120.0, 1)
    assert len(flaky.arrivals) == 1


async def test_backend_that_never_answers_times_out_as_retryable():
    script = [Canned.silence(), Canned.silence()]
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01)
    async with StandIn(script) as silent:
        async with TrackerClient(silent.base_url, API_KEY, retry=policy, timeout=0.3) as client:
            with pytest.raises(RetryableTrackerError, match="ReadTimeout") as caught:
                await complain(client, unique("msg"))
    assert caught.value.attempts == 2


async def test_request_the_backend_refuses_is_not_retried(tracking_backend):
    async with StandIn([], upstream_port=tracking_backend.port) as front:
        async with TrackerClient(front.base_url, "revoked-key", retry=FAST_RETRY) as client:
            with pytest.raises(PermanentTrackerError) as caught:
                await complain(client, unique("msg"))
    assert caught.value.status == 403
    assert len(front.arrivals) == 1


async def test_a_status_poll_survives_one_failed_attempt(tracking_backend, tracker_client):
    made = await complain(tracker_client, unique("msg"))
    async with StandIn([Canned.status(500, "Internal Server Error")], upstream_port=tracking_backend.port) as flaky:
        async with TrackerClient(flaky.base_url, API_KEY, retry=FAST_RETRY) as client:
            found = await client.get_many([made.service_request_id])
    assert [r.service_request_id for r in found] == [made.service_request_id]
