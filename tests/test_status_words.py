"""One set of status words: the stage of a ticket and its Chinese word, from the reference backend's
`stage` or, for any other Open311 server, from its status and notes."""

from common import status


def test_the_backend_stage_wins_when_it_is_sent():
    assert status.word("closed", "不属于本社区", "returned") == "已退回"
    assert status.word("open", None, "in_progress") == "处理中"


def test_plain_open311_is_read_from_status_and_notes():
    assert status.word("open") == "已受理"
    assert status.word("open", "已派人查看") == "处理中"
    assert status.word("closed") == "已办结"
    assert status.word("open", None, "nonsense") == "已受理"


def test_only_the_working_stages_are_open():
    assert [status.open311_status(s) for s in status.STAGES] == ["open", "open", "closed", "closed"]


def test_overdue_and_escalated_at_their_boundaries():
    from datetime import datetime, timedelta, timezone
    requested = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    expected = requested + timedelta(days=3)
    level = lambda now, is_open=True: status.overdue_level(is_open, requested, expected, now)  # noqa: E731
    assert level(expected) == "no"
    assert level(expected + timedelta(seconds=1)) == "overdue"
    assert level(expected + timedelta(days=3)) == "overdue"
    assert level(expected + timedelta(days=3, seconds=1)) == "escalated"
    assert level(expected + timedelta(days=9), is_open=False) == "no"
    assert status.overdue_level(True, None, None, expected) == "no"
