"""Chat commands of residents, grid managers and admins: one async handler per command,
registered on a router with its trigger words, argument pattern and the role it needs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from bot import refs, replies, tickets
from bot.messages import IncomingMessage, Reply

Handler = Callable[["Context", re.Match], Awaitable[list[Reply]]]
Role = Callable[["Context"], bool]


@dataclass
class Context:
    """What a handler may use: the message, the settings and the bot's parts."""

    msg: IncomingMessage
    settings: object
    store: object
    names: dict[str, str]                 # category code -> Chinese name
    payload_for: Callable                 # (ticket row, category) -> tracker create payload
    retrainer: object | None = None
    live_model: object | None = None

    @property
    def is_admin(self) -> bool:
        return self.msg.sender_id in self.settings.admins

    def manages(self, group_name: str | None) -> bool:
        if self.is_admin:
            return True
        group = self.settings.group(group_name)
        return group is not None and self.msg.sender_id in group.grid_managers

    @property
    def managed_groups(self) -> list[str] | None:
        """The groups this sender manages; None means all (an admin)."""
        if self.is_admin:
            return None
        return [g.name for g in self.settings.groups if self.msg.sender_id in g.grid_managers]

    def to_managers(self, group_name: str | None, text: str, ticket: str | None = None) -> list[Reply]:
        """Private messages to a group's grid managers (its admins when it has none), by name."""
        names = self.settings.staff_names
        return [Reply(text, None, None, who, names.get(who), self.msg.message_id, ticket)
                for who in self.settings.responsible(group_name)]

    def reply(self, text: str, ticket: str | None = None, private: bool | None = None) -> Reply:
        """An answer to the sender: in their group with an @-mention, or privately."""
        private = (not self.msg.in_group) if private is None else private
        return Reply(text=replies.clip(text), group_id=None if private else self.msg.group_id,
                     group_name=None if private else self.msg.group_name, to_id=self.msg.sender_id,
                     to_name=self.msg.sender_name, in_reply_to=self.msg.message_id, ticket=ticket)


def anyone(ctx: Context) -> bool:
    return True


def grid_manager(ctx: Context) -> bool:
    return ctx.is_admin or ctx.managed_groups != []


def admin(ctx: Context) -> bool:
    return ctx.is_admin


@dataclass
class Command:
    words: tuple[str, ...]
    args: re.Pattern
    usage: str
    role: Role
    handler: Handler
    strict: bool | str = False  # True: a one-character word (对 3), anything else that starts so is not this
    #                             command; "in groups": so in group chats, with a usage hint in private


@dataclass
class Router:
    commands: list[Command] = field(default_factory=list)

    def command(self, *words: str, args: str = "", usage: str = "", role: Role = anyone, strict: bool | str = False):
        def register(handler: Handler) -> Handler:
            self.commands.append(Command(words, re.compile(args, re.I), usage or words[0], role, handler, strict))
            return handler
        return register

    def match(self, text: str) -> tuple[Command, str] | None:
        """The command this text invokes and its argument text, or None if it is not a command."""
        for cmd in sorted(self.commands, key=lambda c: -max(len(w) for w in c.words)):
            for word in cmd.words:
                if text.startswith(word):
                    rest = text[len(word):]
                    # "确认12" and "查询 GX…" are commands; "确认一下明天停水吗" is a resident talking.
                    if not rest or rest[0].isspace() or rest[0] in "#:" or rest[0].isascii() and rest[0].isalnum():
                        return cmd, rest.strip(" :")
        return None


def command_text(text: str, bot_names: tuple[str, ...]) -> str:
    """Fold full-width forms and spaces and drop a leading @bot, so commands are typed loosely."""
    text = unicodedata.normalize("NFKC", text).replace("\u2005", " ").strip()
    for name in bot_names:
        for form in (f"@{name}", name):
            if text.startswith(form) and form.startswith("@"):
                text = text[len(form):].strip()
    return re.sub(r"\s+", " ", text)


async def dispatch(router: Router, ctx: Context, text: str) -> list[Reply] | None:
    """Run the command in `text`, or return None when it is not a command."""
    found = router.match(text)
    if found is None:
        return None
    cmd, rest = found
    strict = cmd.strict is True or cmd.strict == "in groups" and ctx.msg.in_group
    if strict and (not cmd.role(ctx) or cmd.args.fullmatch(rest) is None):
        return None  # 「对 3栋的事我也说两句」 from a resident is talk, not a review
    if not cmd.role(ctx):
        return [ctx.reply(replies.not_allowed())]
    args = cmd.args.fullmatch(rest)
    if args is None:
        return [ctx.reply(replies.hint(cmd.usage))]
    return await cmd.handler(ctx, args)


def find_category(names: dict[str, str], wanted: str) -> str | None:
    """A category code from a code, a full Chinese name or a unique part of one (供水 -> water)."""
    wanted = wanted.strip().lower()
    if wanted in names:
        return wanted
    for code, name in names.items():
        if wanted == name:
            return code
    partial = [code for code, name in names.items() if wanted and (wanted in name or name in wanted)]
    return partial[0] if len(partial) == 1 else None


def ticket_ref(row) -> str:
    return row["service_request_id"] or f"#{row['id']}"


async def find_ticket(ctx: Context, number: str) -> tuple[object | None, list[Reply] | None]:
    """The one ticket a number means among those the sender may see, or the reply that says why not.

    Another group's or another resident's ticket is answered like a missing one."""
    found = refs.parse(number)
    if len(found) != 1:
        return None, [ctx.reply(replies.ticket_not_found(number))]
    rows = await refs.resolve(ctx.store, found[0], ctx.msg.sender_id, ctx.managed_groups)
    if not rows:
        return None, [ctx.reply(replies.ticket_not_found(found[0].text))]
    if len(rows) > 1:
        return None, [ctx.reply(replies.which_ticket(found[0].text, [ticket_ref(r) for r in rows]))]
    return rows[0], None


async def manager_ticket(ctx: Context, number: str) -> tuple[object | None, list[Reply] | None]:
    """The ticket a grid manager names: #12 (as 待确认 shows it), 12, or its GX number."""
    number = number.strip()
    return await find_ticket(ctx, f"#{number}" if number.isdigit() else number)


async def status_answer(ctx: Context, rows: list) -> list[Reply]:
    """Where the given tickets stand: one in full, several as a list, none as 'you have none open'."""
    if len(rows) == 1:
        row = rows[0]
        name = ctx.names.get(row["category"], row["category"])
        number = row["service_request_id"] if row["state"] in ("open", "closed") else str(row["id"])
        text = replies.ticket_status(number, name, row["status"], row["status_notes"], row["agency"],
                                     row["expected_datetime"], row["state"], row["stage"])
        return [ctx.reply(text, ticket=row["service_request_id"])]
    listing = [(ticket_ref(r), ctx.names.get(r["category"], r["category"]), replies.ticket_word(r)) for r in rows]
    return [ctx.reply(replies.my_tickets(listing))]


router = Router()
TICKET_NO = r"(?P<number>.{1,60})"


@router.command("查询", "查工单", "进度", args=TICKET_NO, usage="查询 工单号（例如：查询 GX20261124-0007）")
async def query(ctx: Context, m: re.Match) -> list[Reply]:
    row, refusal = await find_ticket(ctx, m["number"].strip())
    return refusal or await status_answer(ctx, [row])


@router.command("我的工单", "我的投诉", usage="我的工单")
async def mine(ctx: Context, m: re.Match) -> list[Reply]:
    rows = await tickets.of_reporter(ctx.store, ctx.msg.sender_id)
    listing = [(ticket_ref(r), ctx.names.get(r["category"], r["category"]), replies.ticket_word(r)) for r in rows]
    return [ctx.reply(replies.my_tickets(listing))]


async def _rate(ctx: Context, m: re.Match, rating: str) -> list[Reply]:
    closed = [r for r in await tickets.of_reporter(ctx.store, ctx.msg.sender_id, live_only=False)
              if r["state"] == "closed" and r["service_request_id"]]
    if m["number"]:
        closed = [r for r in closed if r["service_request_id"].upper() == m["number"].upper()]
    else:
        closed = [r for r in closed if not r["rating"]][-1:]
    if not closed:
        return [ctx.reply(replies.ticket_not_found(m["number"] or "（已办结待评价）"))]
    row = closed[-1]
    # The rating goes to the backend apart from the status: one per reporter (their opaque id), the
    # last counts, and the staff's closing note and the status stay as they are.
    payload = {"rating": rating, "reporter": ctx.payload_for(row, row["category"])["reporter"]}
    await tickets.rate(ctx.store, row["id"], rating, payload, f"rate:{ctx.msg.message_id}")
    number = row["service_request_id"]
    said = [ctx.reply(replies.thanks_for_rating(number, rating), ticket=number)]
    if rating == "不满意":  # the promised call-back: the grid manager hears of it, and how to reach them
        said += ctx.to_managers(row["group_name"], replies.unhappy_for_manager(
            number, ctx.names.get(row["category"], row["category"]), row["group_name"], ctx.msg.sender_name,
            row["description"]), number)
    return said


@router.command("满意", args=r"(?P<number>\S+)?", usage="满意 工单号")
async def satisfied(ctx: Context, m: re.Match) -> list[Reply]:
    return await _rate(ctx, m, "满意")


@router.command("不满意", args=r"(?P<number>\S+)?", usage="不满意 工单号")
async def unsatisfied(ctx: Context, m: re.Match) -> list[Reply]:
    return await _rate(ctx, m, "不满意")


@router.command("帮助", "菜单", "help", "指令", usage="帮助")
async def help_(ctx: Context, m: re.Match) -> list[Reply]:
    return [ctx.reply(replies.help_text(grid_manager(ctx), ctx.is_admin))]
