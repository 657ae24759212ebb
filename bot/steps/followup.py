"""What a resident says about their own report: a status question (「修了没有？」, 「工单GX…怎么样了」,
「请问我反映的问题处理得怎么样了」), an addition (「补充一下，是3栋2单元那几盏」), or the rest of a message
they split over several sends (「一个星期了」 right after their report). None of these is a new ticket.

A status question names a number (any form, see bot.refs) or asks about "what I reported"; it is
answered from the tickets the sender may see. A question about another problem than theirs (a
different place) goes on to be judged as a report.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from bot import places, refs, replies, tickets
from bot.commands import status_answer
from bot.steps.mode import silent
from bot.steps.turn import since
from bot.store import ANSWERED
from classifier.corpus import NONE

STATUS = re.compile(
    r"修了没|修好了?没|修了吗|修好了吗|修了嘛|弄了没|弄好了?没|弄了吗|处理了?没|处理了吗|处理得?怎么样|处理的?怎么样|"
    r"怎么样了|咋样了|如何了|进展|进度|有消息|有结果|结果呢|回复呢|办了没|办好了?没|办得怎么样|解决了?没|解决了吗|"
    r"什么时候(?:能|会|才|可以)?(?:修|弄|处理|解决|来|办|好)|怎么还没|咋还没|还没(?:修|弄|处理|解决|人来|有人|回复|消息|动静|好)|"
    r"有人管吗|有人管没|有没有人管|查一下|查下|查查|帮我查|到哪一?步|多久能|要多久|状态|"
    r"有没有人(?:处理|管|跟进|来|在跟)|有人(?:处理|接单|跟进|负责|来)吗|谁在负责|什么情况|处理到哪|到哪了|"
    r"安排了?吗|有没有安排|派了?吗|派人了吗|接单|催一下|催催|能不能快|快点修|什么时候上门|今天能来|能来修吗|啥时候|"
    r"(?:搞|弄|修|整)好了?(?:没|冇|吗|嘛)|还是没人|还是坏的?|还是不亮|还在吗|被关了|是不是已经修|"
    r"^\s*(?:那个|我那个)?\S{0,4}[呢？?]{1,4}\s*$")
OWN = re.compile(r"我(?:们家)?(?:上次|之前|前几天|前两天|昨天|刚才|前天|早上|上午|下午|那天)?(?:说|报|反映|投诉|提|讲|发|登记|上报)"
                 r"(?:的|过的|了的)|我的(?:工单|投诉|问题|诉求|反映)|我(?:反映|投诉|报)(?:过|了)")
ADDITION = re.compile(r"^\s*(?:我想|我再|再)?(?:补充(?:一下|说明|两句|一点|一句)?|补一句|另外|还有(?:就是)?|忘了说|忘记说了?|"
                      r"对了|再补充|再说一下|说一下|顺便说一?下?|再加一句|更正一下|更正|具体位置|附上|刚又看了|又看了)")
# The form of a question, whatever it asks.
QUESTION = re.compile(r"[？?]|吗|呢|么|没有?\s*$|了没|什么时候|啥时候|几时|多久|怎么|咋|是不是|有没有|能不能|可不可以|谁")
LONGEST_CONTINUATION = 20


def _on_their_ticket(text: str, mine: list) -> bool:
    """Whether a question is about what the sender reported: it names no other thing than that."""
    said = places.things(QUESTION.sub(" ", text))
    return not said or any(places.related(said, places.things(r["description"])) for r in mine)


def is_status_question(text: str, reported: list[str]) -> bool:
    """The follow-up step's judgement, for a sender whose open tickets say `reported` (figures)."""
    mine = [{"description": d} for d in reported]
    return bool(STATUS.search(text) or (OWN.search(text) and QUESTION.search(text))
                or (mine and QUESTION.search(text) and _on_their_ticket(text, mine)))


async def run(turn) -> bool:
    if turn.msg.kind != "text" or silent(turn.settings, turn.msg):
        return False
    text = unicodedata.normalize("NFKC", turn.text)
    numbers = refs.parse(text)
    asks = STATUS.search(text) is not None
    own = OWN.search(text) is not None
    if numbers and (asks or own or "工单" in text or len(re.sub(r"[\s\W]", "", text)) <= 20):
        return await _answer_numbers(turn, numbers)
    mine = await _mine(turn)
    # A question about the thing they reported (「灯呢？？」, 「今天能来修吗」) is a status question too.
    asks = asks or bool(mine and QUESTION.search(text) and _on_their_ticket(text, mine))
    if asks and (own or mine):
        chosen = _about(turn, text, mine)
        if chosen is not None or (own and not mine):
            return await _answer(turn, chosen or [])
    if mine and ADDITION.search(text):
        latest = mine[0]
        extra = ADDITION.sub("", text).strip(" ，,：:。")
        if extra:
            ref = latest["service_request_id"] or f"#{latest['id']}"
            await tickets.add_note(turn.store, latest["id"], turn.key, extra, turn.sent_at,
                                   [*turn.said, turn.ctx.reply(replies.addition_noted(ref), ticket=latest["service_request_id"])])
            return True
    return await _continuation(turn, text)


async def _answer_numbers(turn, numbers: list[refs.Ref]) -> bool:
    rows, missing = [], []
    for ref in numbers[:5]:
        found = await refs.resolve(turn.store, ref, turn.msg.sender_id, turn.ctx.managed_groups)
        if len(found) > 1:
            return await turn.finish(ANSWERED, [turn.ctx.reply(replies.which_ticket(
                ref.text, [r["service_request_id"] or f"#{r['id']}" for r in found]))], note="status question")
        (rows if found else missing).append(found[0] if found else ref.text)
    answer = await status_answer(turn.ctx, rows) if rows else []
    answer += [turn.ctx.reply(replies.ticket_not_found(n)) for n in missing]
    return await turn.finish(ANSWERED, answer, note="status question")


async def _answer(turn, rows: list) -> bool:
    answer = await status_answer(turn.ctx, rows)
    return await turn.finish(ANSWERED, answer, note="status question")


async def _mine(turn) -> list:
    """The sender's live tickets (reported or joined) that this chat can talk about, newest first."""
    window = since(turn.msg.time, hours=turn.settings.limits.followup_window_hours)
    group = [] if not turn.msg.in_group else [turn.msg.group_name]
    marks = ",".join("?" * len(tickets.LIVE))
    where = "AND t.group_name = ?" if group else ""
    return await turn.store.all(
        f"SELECT DISTINCT t.* FROM tickets t JOIN ticket_reporters r ON r.ticket_id = t.id"
        f" WHERE r.reporter_id = ? AND t.state IN ({marks}) AND COALESCE(t.sent_at, t.created_at) >= ? {where}"
        f" ORDER BY t.id DESC", (turn.msg.sender_id, *tickets.LIVE, window, *group))


def _about(turn, text: str, mine: list) -> list | None:
    """Which of the sender's tickets a status question is about; None when it names another place."""
    if not mine:
        return []
    gazetteer = turn.group.places if turn.group else ()
    asked = places.extract(text, gazetteer)
    fitting = [r for r in mine if not asked.conflicts(places.extract(r["description"], gazetteer))]
    said = places.things(STATUS.sub(" ", OWN.sub(" ", text)))
    if said:  # 「什么时候来修下水道」 is not about their street light
        fitting = [r for r in fitting if places.related(said, places.things(r["description"]))]
    if not fitting and OWN.search(text):
        return mine[:5]  # "what I reported": all of it, rather than nothing
    return fitting[:5] or None


async def _continuation(turn, text: str) -> bool:
    """「一个星期了」 right after the sender's report: the rest of that report, added silently."""
    if len(text) > LONGEST_CONTINUATION:
        return False
    recent = await turn.recent(1)
    before = recent[0] if recent else None
    if before is None or before["ticket_id"] is None:
        return False
    gap = (turn.msg.time - datetime.fromisoformat(before["sent_at"])).total_seconds()
    if gap > turn.settings.limits.split_window_seconds or gap < 0:
        return False
    row = await tickets.ticket(turn.store, before["ticket_id"])
    if row is None or row["state"] not in tickets.LIVE:
        return False
    gazetteer = turn.group.places if turn.group else ()
    if places.extract(text, gazetteer).conflicts(places.extract(row["description"], gazetteer)):
        return False  # 「7栋也是」: another place, another ticket
    label, confidence = await turn.intake.live_model.aclassify(text)
    if label != NONE and confidence >= turn.settings.classifier.auto_ticket and label != row["category"]:
        return False  # a new complaint of its own
    await tickets.add_note(turn.store, row["id"], turn.key, text.strip(), turn.sent_at, list(turn.said))
    return True
