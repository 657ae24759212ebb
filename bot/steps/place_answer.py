"""The answer to the bot's question 「请问是哪栋楼附近的…？」: the sender's next message in the same chat,
within the window, that names a place or is short enough to be one, completes the waiting ticket."""

from __future__ import annotations

import re

from bot import places, replies, tickets
from bot.steps.turn import since

LONGEST_BARE_ANSWER = 20  # 「就在超市后面那个巷子」: a short reply without a known place word is still the place
# 「不知道」 is an answer too: the ticket is filed with the community as its place, now.
DONT_KNOW = re.compile(r"(?:我也)?(?:不知道|不清楚|不晓得|不太清楚|说不清|忘了|记不清|随便|不确定)(?:呢|啊|哦|诶|耶)?")


async def run(turn) -> bool:
    if turn.msg.kind != "text" or turn.emergency is not None or not turn.intake.asking:
        return False
    window = turn.settings.limits.ask_window_minutes
    waiting = await tickets.asking(turn.store, turn.chat, since(turn.msg.time, minutes=window))
    if waiting is None:
        return False
    gazetteer = turn.group.places if turn.group else ()
    if DONT_KNOW.fullmatch(turn.text.strip(" ，。！？,.!?~～")):
        turn.said.append(turn.ctx.reply(replies.place_unknown()))
        await turn.intake.place_known(waiting, None, turn.key, turn.said)  # filed with the community
        return True
    found = places.extract(turn.text, gazetteer)
    text = " ".join(turn.text.split())
    if not found.empty:
        where = found.describe()
    elif len(text) <= LONGEST_BARE_ANSWER:
        where = text.strip("，。！？,.!? ")
    else:
        return False  # something else: the question stays open until its window ends
    if not where:
        return False
    turn.said.append(turn.ctx.reply(replies.place_noted(where)))
    await turn.intake.place_known(waiting, where, turn.key, turn.said)
    return True
