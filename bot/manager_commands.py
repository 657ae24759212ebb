"""Grid managers' commands: confirm, reject or re-categorize what the classifier was unsure of."""

from __future__ import annotations

import re

from bot import replies, tickets
from bot.commands import Context, find_category, grid_manager, manager_ticket, router
from bot.messages import Reply


async def _confirm(ctx: Context, row, category: str, action: str) -> list[Reply]:
    name = ctx.names.get(category, category)
    payload = ctx.payload_for(row, category)
    await tickets.confirm(ctx.store, row["id"], category, payload, ctx.msg.sender_id, action,
                          await _text_of(ctx, row), [])
    return [ctx.reply(replies.confirmed(row["id"], name))]


async def _text_of(ctx: Context, row) -> str:
    msg = await ctx.store.message(row["message_key"])
    return msg["text"] if msg else row["description"]


NUMBER = r"(?P<n>#?\s*\d{1,9}|[A-Za-z]{0,6}\s*-?\s*\d{8}\s*-?\s*\d{1,6})"


@router.command("确认", args=NUMBER, usage="确认 编号（例如：确认 12 或 确认 GX20261124-0007）", role=grid_manager)
async def confirm(ctx: Context, m: re.Match) -> list[Reply]:
    row, refusal = await manager_ticket(ctx, m["n"])
    if refusal:
        return refusal
    if row["state"] != tickets.T_AWAITING:
        return [ctx.reply(replies.not_awaiting(row["id"], row["state"]))]
    return await _confirm(ctx, row, row["category"], "confirm")


@router.command("驳回", "不予登记", args=NUMBER, usage="驳回 编号（例如：驳回 12）", role=grid_manager)
async def reject(ctx: Context, m: re.Match) -> list[Reply]:
    row, refusal = await manager_ticket(ctx, m["n"])
    if refusal:
        return refusal
    if row["state"] != tickets.T_AWAITING:
        return [ctx.reply(replies.not_awaiting(row["id"], row["state"]))]
    # The resident hears nothing: they were never told a ticket might come, and a public "not a
    # ticket" under someone's praise of a new shop helps nobody.
    await tickets.reject(ctx.store, row["id"], ctx.msg.sender_id, await _text_of(ctx, row), [])
    return [ctx.reply(replies.rejected_for_manager(row["id"]))]


@router.command("改类", "改为", args=NUMBER + r"\s*(?P<category>\S+)",
                usage="改类 编号 类别名（例如：改类 12 供水排水）", role=grid_manager)
async def recategorize(ctx: Context, m: re.Match) -> list[Reply]:
    row, refusal = await manager_ticket(ctx, m["n"])
    if refusal:
        return refusal
    category = find_category(ctx.names, m["category"])
    if category is None:
        return [ctx.reply(replies.unknown_category(m["category"], "、".join(ctx.names.values())))]
    if row["state"] == tickets.T_AWAITING:
        return await _confirm(ctx, row, category, "recategorize")
    if row["state"] in (tickets.T_REJECTED, tickets.T_FAILED):
        return [ctx.reply(replies.not_awaiting(row["id"], row["state"]))]
    number = row["service_request_id"]
    told = await tickets.tell_reporters(ctx.store, row["id"], number,
                                        replies.category_changed(number, ctx.names[category], None)) if number else []
    await tickets.recategorize(ctx.store, row["id"], category, ctx.msg.sender_id, await _text_of(ctx, row),
                               {"service_code": category} if number else None, told)
    return [ctx.reply(replies.recategorized(row["id"], ctx.names[category], row["service_request_id"]))]


@router.command("待确认", "待处理", usage="待确认", role=grid_manager)
async def pending(ctx: Context, m: re.Match) -> list[Reply]:
    rows = await tickets.awaiting(ctx.store, ctx.managed_groups)
    listing = [(r["id"], ctx.names.get(r["category"], r["category"]), r["group_name"], r["description"])
               for r in rows]
    return [ctx.reply(replies.awaiting_list(listing))]


# -- reviews of the morning digest's items (bot.digest) -----------------------------------------

async def _review(ctx: Context, m: re.Match, verdict: str) -> list[Reply]:
    from bot import digest
    category = None
    if verdict == digest.CHANGED:
        category = find_category(ctx.names, m["category"])
        if category is None:
            return [ctx.reply(replies.unknown_category(m["category"], "、".join(ctx.names.values())))]
    done = await digest.review(ctx.store, ctx.msg.sender_id, int(m["n"]), verdict, category)
    if done is None:
        return [ctx.reply(replies.no_review_item(int(m["n"])))]
    item, label = done
    measured = await digest.measured(ctx.store, item.group)
    return [ctx.reply(replies.reviewed(item.n, item.kind, verdict, ctx.names.get(label, label), item.group,
                                       measured.precision, measured.reviewed), private=True)]


@router.command("对", args=r"(?P<n>\d{1,4})", usage="对 编号（日报中的编号，例如：对 3）", role=grid_manager, strict=True)
async def review_right(ctx: Context, m: re.Match) -> list[Reply]:
    return await _review(ctx, m, "right")


@router.command("错", args=r"(?P<n>\d{1,4})", usage="错 编号（例如：错 3）", role=grid_manager, strict=True)
async def review_wrong(ctx: Context, m: re.Match) -> list[Reply]:
    return await _review(ctx, m, "wrong")


@router.command("改", args=r"(?P<n>\d{1,4})\s*(?P<category>\S+)", usage="改 编号 类别名（例如：改 3 供水）",
                role=grid_manager, strict=True)
async def review_changed(ctx: Context, m: re.Match) -> list[Reply]:
    return await _review(ctx, m, "changed")
