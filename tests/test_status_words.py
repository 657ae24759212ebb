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
