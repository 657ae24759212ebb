"""Admins' commands for the classifier: retrain, show the live model, roll back."""

from __future__ import annotations

import asyncio
import re

from bot import replies, tickets
from bot.commands import Context, admin, router
from bot.messages import Reply
from classifier import registry


@router.command("重新训练", "训练模型", usage="重新训练", role=admin)
async def retrain(ctx: Context, m: re.Match) -> list[Reply]:
    if ctx.retrainer is None or ctx.retrainer.busy:
        return [ctx.reply(replies.retrain_busy())]
    answer_to = ctx.reply("")

    async def report(result: dict) -> None:
        if result["ok"]:
            text = replies.retrain_done(result["version"], result["promoted"], result["detection_f1"],
                                        result["category_f1"], result["reason"])
        else:
            text = replies.retrain_failed(result["error"])
        await ctx.store.queue_replies([Reply(text, answer_to.group_id, answer_to.group_name, answer_to.to_id,
                                             answer_to.to_name, answer_to.in_reply_to)])

    ctx.retrainer.start(report)
    return [ctx.reply(replies.retrain_started())]


@router.command("模型状态", "模型版本", usage="模型状态", role=admin)
async def status(ctx: Context, m: re.Match) -> list[Reply]:
    card = ctx.live_model.model.card
    metrics = card.get("metrics", {})
    row = await ctx.store.one("SELECT count(*) AS n FROM decisions")
    return [ctx.reply(replies.model_status(ctx.live_model.version, card.get("created", "?"),
                                           metrics.get("detection", {}).get("f1", 0.0),
                                           metrics.get("category_macro_f1", 0.0),
                                           card.get("train_examples", 0), row["n"]))]


@router.command("回滚模型", usage="回滚模型", role=admin)
async def rollback(ctx: Context, m: re.Match) -> list[Reply]:
    try:  # both load a model file: off the event loop
        version = await asyncio.to_thread(registry.rollback, ctx.live_model.model_dir)
    except registry.ModelFileError as exc:
        return [ctx.reply(replies.rollback_failed(str(exc)))]
    await ctx.live_model.reload(force=True)
    return [ctx.reply(replies.rolled_back(version))]


@router.command("故障", "发送失败", usage="故障", role=admin)
async def set_aside(ctx: Context, m: re.Match) -> list[Reply]:
    """What the backend refused or what failed unexpectedly, kept aside with its error."""
    rows, said = await tickets.set_aside(ctx.store)
    listing = [(r["ticket_id"], r["kind"], r["last_error"] or "") for r in rows]
    return [ctx.reply(replies.set_aside_list(listing, len(said)))]


@router.command("重新提交", usage="重新提交 或 重新提交 编号", args=r"#?(?P<n>\d{1,9})?", role=admin)
async def requeue(ctx: Context, m: re.Match) -> list[Reply]:
    count = await tickets.requeue(ctx.store, int(m["n"]) if m["n"] else None)
    return [ctx.reply(replies.requeued(count))]


@router.command("换群", usage="换群 群名", args=r"(?P<name>.{1,80})", role=admin)
async def unpin_room(ctx: Context, m: re.Match) -> list[Reply]:
    """Let a monitored group's name go to a new room (the old one was dissolved or replaced)."""
    name = m["name"].strip()
    if ctx.settings.group(name) is None:
        return [ctx.reply(replies.unknown_group(name))]
    return [ctx.reply(replies.room_unpinned(name, await ctx.store.unpin_room(name)))]
