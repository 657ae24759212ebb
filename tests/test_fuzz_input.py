"""Bad input, property-based (hypothesis): random Unicode, control characters, 100,000-character
messages, nested quotes, emoji sequences, invalid JSON lines. Nothing crashes; every reply is text
under the length limit.

Example counts are modest so `make test` stays fast; GRIDBOT_FUZZ_EXAMPLES=2000 runs a deep pass.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.process import BackendProcess
from bot.__main__ import transcript_message
from bot.commands import command_text, router
from bot.intake import Intake  # noqa: F401  (registers every command on the router)
from bot.messages import IncomingMessage
from bot.replies import MAX_REPLY_CHARS
from classifier import text as text_module
from classifier.corpus import iter_jsonl
from classifier.text import normalize, words
from tests.bot_harness import ADMIN, API_KEY, GROUP, MANAGER, VILLAGE, VILLAGE_MANAGER, running_bot, settings_for
from tests.fault_tools import END_STATES, write_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("GRIDBOT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
HUGE = settings(FUZZ, max_examples=max(4, EXAMPLES // 10))

# -- what residents type ------------------------------------------------------------------------

CONTROL = st.sampled_from([chr(c) for c in range(32)] + list("\x7f\u200b\u200c\u200d\u200e\u200f\u2028\u2029"
                                                             "\u202a\u202e\ufeff\u2005\u3000\u00a0"))
EMOJI = st.sampled_from(["👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇨🇳", "❤️", "🙏", "😂", "🧑🏿‍🦯", "[捂脸]", "[强]", "[Facepalm]",
                         "/:strong", "\U0001f600" * 3, "\u0301\u0301", "ﷺ"])
CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=12)
PIECES = st.sampled_from([
    "楼道灯坏了", "3栋2单元", "水管爆了，水一直往外冒", "确认", "查询", "驳回", "改类", "待确认", "我的工单", "满意",
    "重新训练", "模型状态", "回滚模型", "@网格助手 ", "＠网格助手　", "１２", "#7", "GX20261124-0007",
    "http://example.com/a?b=1", "www.x.cn/路", "13812345678", "１３８１２３４５６７８", "420106199001011234",
    "\n- - - - - - - - - - - - - - -\n", "「", "」", "：", "@", "[", "]", "／：", "\\", '"', "'",
])


def quoted(parts: tuple[str, str]) -> str:
    name, said = parts
    return f"「{name}：{said}」\n- - - - - - - - - - - - - - -\n"


CHAT = st.recursive(
    st.one_of(st.text(max_size=30), CJK, EMOJI, PIECES, CONTROL),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6).map("".join),
        st.tuples(st.text(max_size=8), inner).map(quoted),  # quotes of quotes of quotes…
        inner.map(lambda s: f"「{s}」"),
    ),
    max_leaves=24,
)
COMMAND_WORDS = sorted({w for cmd in router.commands for w in cmd.words})
COMMANDISH = st.tuples(st.sampled_from(["", "@网格助手 ", "＠网格助手\u2005", "  "]), st.sampled_from(COMMAND_WORDS),
                       st.sampled_from(["", " ", "　", ":", "#", "\u2005"]), CHAT).map("".join)
MESSAGE = st.one_of(CHAT, COMMANDISH)


@st.composite
def huge(draw) -> str:
    """A message of exactly 100,000 characters made of one repeated chat fragment."""
    piece = draw(CHAT.filter(bool))
    return (piece * (100_000 // len(piece) + 1))[:100_000]


# -- normalization --------------------------------------------------------------------------------

def assert_clean(out: str) -> None:
    assert isinstance(out, str)
    assert out == out.strip() and not re.search(r"\s\s", out)
    assert not text_module._CONTROL.search(out) and not re.search(r"[\t\n\r\x0b\x0c]", out)


@FUZZ
@given(MESSAGE)
def test_normalize_never_fails_and_leaves_clean_text(text):
    out = normalize(text)
    assert_clean(out)
    tokens = words(out)
    assert all(isinstance(t, str) and t and not re.search(r"\s", t) for t in tokens)


@HUGE
@given(huge())
def test_normalize_takes_100000_characters_in_its_stride(text):
    assert_clean(normalize(text))


@FUZZ
@given(st.text(st.sampled_from("楼道灯坏了，。！？小区东门水管爆了 "), max_size=20), st.integers(1, 99999),
       st.sampled_from(["栋", "号楼", "单元", "室"]), st.text(st.sampled_from("楼道灯坏了，。！？漏水"), max_size=20))
def test_normalize_keeps_building_numbers(before, number, unit, after):
    assert f"{number}{unit}" in normalize(f"{before}{number}{unit}{after}")


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_normalize_of_anything_but_text_is_empty(value):
    assert normalize(value) == ""


# -- command parsing ------------------------------------------------------------------------------

@FUZZ
@given(MESSAGE)
def test_command_parsing_never_fails(text):
    folded = command_text(text, ("网格助手",))
    assert folded == folded.strip() and not re.search(r"\s\s", folded)
    found = router.match(folded)
    if found is not None:
        cmd, rest = found
        assert cmd in router.commands and folded.startswith(tuple(cmd.words)) and rest == rest.strip(" :")


FULL_WIDTH = str.maketrans("0123456789#", "０１２３４５６７８９＃")


@FUZZ
@given(st.sampled_from(["确认", "驳回", "查询"]), st.integers(1, 999_999_999),
       st.sampled_from(["", "@网格助手 ", "＠网格助手　", "@网格助手\u2005"]),
       st.sampled_from([" ", "　", "  ", "\u2005", "", " #", "#"]), st.booleans(), st.sampled_from(["", " ", "　"]))
def test_commands_are_understood_however_loosely_typed(word, number, at, gap, full_width, tail):
    typed = f"{at}{word}{gap}{number}{tail}"
    found = router.match(command_text(typed.translate(FULL_WIDTH) if full_width else typed, ("网格助手",)))
    assert found is not None, typed
    cmd, rest = found
    assert word in cmd.words
    args = cmd.args.fullmatch(rest)
    assert args is not None and str(number) in args.group(0)


# -- the whole intake: any message, from anyone, anywhere -------------------------------------------

PEOPLE = {"resident": ("wxid_fuzz_resident", "王女士"), "manager": (MANAGER, "小李"),
          "other-manager": (VILLAGE_MANAGER, "周书记"), "admin": (ADMIN, "管理员")}


@pytest.fixture(scope="module")
def fuzz_bot(tmp_path_factory, shipped_models):
    """One real bot for the module on its own loop: real store, model copy and backend."""
    tmp = tmp_path_factory.mktemp("fuzz-bot")
    models = tmp / "models"
    shutil.copytree(shipped_models[0], models)
    old = os.environ.get("GRIDBOT_TEST_API_KEY")
    os.environ["GRIDBOT_TEST_API_KEY"] = API_KEY
    loop = asyncio.new_event_loop()
    with BackendProcess(tmp / "backend.db", api_keys=[API_KEY]) as backend:
        bot_settings = settings_for(tmp, backend.base_url, models, limits={"reports_per_hour": 5})
        running = running_bot(bot_settings)
        chat = loop.run_until_complete(running.__aenter__())
        chat.bot.intake.retrainer = None  # 重新训练 answers "busy" instead of training for minutes
        try:
            yield loop, chat
        finally:
            loop.run_until_complete(running.__aexit__(None, None, None))
            loop.close()
            if old is None:
                os.environ.pop("GRIDBOT_TEST_API_KEY", None)
            else:
                os.environ["GRIDBOT_TEST_API_KEY"] = old


_ids = itertools.count(1)


def deliver(fuzz_bot, text: str, who: str, where: str | None, name: str | None = None,
            sender_id: str | None = None) -> list:
    """The message through intake (errors are not swallowed here), the outbox and the sender."""
    loop, chat = fuzz_bot
    sender_id, default_name = (sender_id, None) if sender_id else PEOPLE[who]
    msg = IncomingMessage(message_id=f"fuzz-{next(_ids)}", group_id=where and f"{where}@chatroom", group_name=where,
                          sender_id=sender_id, sender_name=name or default_name, text=text,
                          in_group=where is not None)

    async def run():
        before = len(chat.channel.sent)
        await chat.bot.intake.handle(msg)
        await chat.bot.outbox.run_once()
        await chat.sender.send_pending()
        row = await chat.bot.store.message(msg.message_id)
        return chat.channel.sent[before:], row

    said, row = loop.run_until_complete(run())
    assert row is not None and row["state"] in END_STATES, dict(row)
    for reply in said:
        assert isinstance(reply.text, str) and 0 < len(reply.text) <= MAX_REPLY_CHARS, len(reply.text)
        reply.text.encode("utf-8")  # valid text: no lone surrogates
        assert "Traceback" not in reply.text
    return said


WHERE = st.sampled_from([GROUP, VILLAGE, None])


@FUZZ
@given(MESSAGE, st.sampled_from(sorted(PEOPLE)), WHERE)
def test_any_message_from_anyone_anywhere_gets_valid_replies(fuzz_bot, text, who, where):
    deliver(fuzz_bot, text, who, where)


@FUZZ
@given(CHAT.filter(lambda t: t.strip()), st.text(min_size=1, max_size=3000))
def test_whatever_a_resident_calls_themselves_the_replies_stay_short(fuzz_bot, text, name):
    # The manager's confirmation request names the resident; nicknames come from the channel as is.
    intake = fuzz_bot[1].bot.intake
    usual = intake.settings
    # Always ask the manager, never merge into an earlier ticket; a new sender each time (no rate limit).
    intake.settings = replace(usual, classifier=replace(usual.classifier, auto_ticket=1.0),
                              limits=replace(usual.limits, merge_window_hours=0))
    try:
        said = deliver(fuzz_bot, "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的" + text, "resident", GROUP, name,
                       sender_id=f"wxid_nick{next(_ids)}")
    finally:
        intake.settings = usual
    assert any(r.to_id == MANAGER and "待确认" in r.text for r in said), [r.text for r in said]


@HUGE
@given(huge(), st.sampled_from(sorted(PEOPLE)), WHERE)
def test_a_100000_character_message_is_taken_and_answered_briefly(fuzz_bot, text, who, where):
    deliver(fuzz_bot, text, who, where)


# -- the replay reader ------------------------------------------------------------------------------

JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), MESSAGE,
              st.sampled_from(["\ud800", "楼道\udfff灯", "a\udc80b"])),  # lone surrogates, as "\ud800" in JSON
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12,
)
KEYS = st.sampled_from(["id", "group", "sender_id", "sender_name", "text", "time"]) | st.text(max_size=6)
TEXTISH = st.one_of(MESSAGE, st.integers(), st.sampled_from(["\ud800", "楼道\udfff灯", ""]), JSON_VALUE)
ROW = st.one_of(
    st.dictionaries(KEYS, JSON_VALUE, max_size=8),
    st.fixed_dictionaries({"id": TEXTISH, "sender_id": TEXTISH, "text": TEXTISH},  # nearly a real line
                          optional={"group": TEXTISH, "sender_name": TEXTISH, "time": st.one_of(
                              TEXTISH, st.datetimes().map(lambda d: d.isoformat()))}),
)
BAD_LINES = st.one_of(
    st.text(), st.binary().map(lambda b: b.decode("utf-8", "replace")),
    st.integers(1, 50_000).map(lambda n: "[" * n + "]" * n),           # nested past the parser's depth
    st.integers(4301, 20_000).map(lambda n: '{"id": ' + "7" * n + "}"),  # past int's digit limit
    ROW.map(lambda r: json.dumps(r)[:-1]),                             # cut short
    JSON_VALUE.map(json.dumps),                                        # JSON, but not an object
)
LINE = st.one_of(ROW.map(json.dumps), BAD_LINES)


@FUZZ
@given(st.lists(LINE, max_size=12))
def test_the_replay_reader_never_fails_on_any_line(lines):
    seen = []
    for number, row, error in iter_jsonl(lines):
        assert (row is None) != (error is None)
        assert row is None or isinstance(row, dict)
        seen.append(number)
    assert seen == sorted(set(seen)) and len(seen) == sum(1 for line in lines if line.strip())


@FUZZ
@given(ROW)
def test_a_transcript_row_is_a_message_or_a_reason(row):
    try:
        msg = transcript_message(row)
    except ValueError as exc:
        assert str(exc)
        return
    for value in (msg.message_id, msg.sender_id, msg.sender_name, msg.text, msg.group_name or ""):
        assert isinstance(value, str)
        value.encode("utf-8")  # the store can keep it
    assert msg.message_id and msg.sender_id and msg.text


def test_replay_of_a_hostile_history_skips_what_it_cannot_read_and_answers_the_rest(tmp_path, backend,
                                                                                   shipped_models, bot_env):
    rng = random.Random(6)
    good = {"id": "ok-1", "group": GROUP, "sender_id": "wxid_w", "sender_name": "王女士",
            "text": "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"}
    lines = [
        json.dumps(good, ensure_ascii=False),
        '{"id": "ok-2", "group": "%s", "sender_id": "wxid_z", "text": "水管爆了\\ud800，水一直往外冒"}' % GROUP,
        '{"id": ' + "9" * 5000 + ', "sender_id": "x", "text": "y"}',
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"id": "ok-3", "group": GROUP, "sender_id": "wxid_h", "sender_name": "\x00\u202e怪名" * 500,
                    "text": ("「老王：「小李：楼道灯」\n- - - -\n」\n- - - - - -\n👨‍👩‍👧‍👦[捂脸]" * 3000)[:100_000]}),
        json.dumps({"id": ["list"], "sender_id": "x", "text": "y"}),
        json.dumps({"id": "ok-4", "group": {"nested": [1, 2]}, "sender_id": "x", "text": "y"}),
        json.dumps({"id": "ok-5", "group": GROUP, "sender_id": "x", "text": "楼道灯", "time": "昨天"}),
        "not json",
        '"just a string"',
        json.dumps({"id": "ok-6", "group": None, "sender_id": "wxid_p", "text": "\x07\x1b[31m你好\u2028"}),
    ]
    lines += ["".join(chr(rng.randrange(1, 0x2FFFF)) for _ in range(rng.randrange(1, 200))) for _ in range(20)]
    history = tmp_path / "hostile.jsonl"
    history.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n\xff\xfe\x00{bad bytes}\n")
    config = write_config(tmp_path / "config.yaml", {
        "channel": "console", "groups": [{"name": GROUP, "grid_managers": [MANAGER], "mode": "live"}], "admins": [ADMIN],
        "tracker": {"base_url": backend.base_url, "api_key_env": "GRIDBOT_TEST_API_KEY"},
        "store": {"path": str(tmp_path / "bot.db")},
        "classifier": {"model_dir": str(shipped_models[0]), "auto_ticket": 0.6}})
    done = subprocess.run([sys.executable, "-m", "bot", "replay", str(history), "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for number in (3, 4, 6, 7, 8, 9, 10):
        assert f"hostile.jsonl:{number}: " in done.stderr, number
    said = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(0 < len(s["text"]) <= MAX_REPLY_CHARS for s in said)
    answered = {s["in_reply_to"] for s in said}
    assert {"ok-1", "ok-2", "ok-6"} <= answered
