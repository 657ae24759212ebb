"""Command parsing is tolerant of spaces, full-width characters and a leading @bot, and never
mistakes a resident's sentence for a command; replies mask personal numbers."""

import pytest

from bot.commands import command_text, find_category, router
from bot import manager_commands, admin_commands  # noqa: F401  (register their commands)
from bot.replies import MAX_REPLY_CHARS, clip, mask_personal
from classifier.corpus import load_taxonomy


def parsed(text: str):
    found = router.match(command_text(text, ("网格助手",)))
    return None if found is None else (found[0].words[0], found[1])


@pytest.mark.parametrize("text, expected", [
    ("确认 12", ("确认", "12")),
    ("确认12", ("确认", "12")),
    ("＠网格助手\u2005确认　１２", ("确认", "12")),
    ("  改类   3   供水 ", ("改类", "3 供水")),
    ("查询 GX20261124-0007", ("查询", "GX20261124-0007")),
    ("待确认", ("待确认", "")),
    ("我的工单", ("我的工单", "")),
    ("不满意 GX20261124-0007", ("不满意", "GX20261124-0007")),
])
def test_commands_are_recognised_loosely(text, expected):
    assert parsed(text) == expected


@pytest.mark.parametrize("text", ["确认一下明天是不是停水", "查询了好几次都没人回", "满意个鬼，路灯还是不亮",
                                  "我的工单怎么还没人处理啊", "今天待确认的事情好多"])
def test_a_residents_sentence_is_not_a_command(text):
    assert parsed(text) is None


def test_categories_are_found_by_code_name_or_unique_part():
    names = load_taxonomy()
    assert find_category(names, "water") == "water"
    assert find_category(names, "供水排水") == "water"
    assert find_category(names, "供水") == "water"
    assert find_category(names, "路灯") == "lighting"
    assert find_category(names, "安全") is None  # 燃气安全, 消防安全, 食品安全: ambiguous
    assert find_category(names, "天气") is None


def test_phone_and_id_numbers_are_masked():
    text = mask_personal("我电话13812345678，身份证420102199001011234，座机0716-8123456")
    assert "13812345678" not in text and "138****5678" in text
    assert "420102199001011234" not in text and "420***********1234" in text
    assert "8123456" not in text
    assert mask_personal("3栋2单元502室") == "3栋2单元502室"


def test_replies_stay_under_the_length_limit():
    assert len(clip("长" * 5000)) == MAX_REPLY_CHARS
