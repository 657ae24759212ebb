"""Every text the bot says, in Chinese, in one place so the wording can be reviewed in one read.

Functions return plain strings; intake and commands wrap them in Reply objects. Anything that
echoes a resident's words goes through `mask_personal` first: group chats are semi-public.
"""

from __future__ import annotations

from common import status as words
from common.masking import mask

# WeChat caps a text message well above this; we stay short so a reply reads on one phone screen.
MAX_REPLY_CHARS = 1000

def mask_personal(text: str) -> str:
    """Mask phone, ID-card and bank-card numbers however typed (common.masking, shared with the backend)."""
    return mask(text)


def clip(text: str, limit: int = MAX_REPLY_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_name(status: str | None, notes: str | None = None, stage: str | None = None) -> str:
    """已受理 / 处理中 / 已办结 / 已退回: the words the ledger and its CSV use too (common.status)."""
    return words.word(status, notes, stage)


def excerpt(text: str, limit: int = 60) -> str:
    text = mask_personal(" ".join(text.split()))
    return text if len(text) <= limit else text[:limit] + "…"


# -- residents ---------------------------------------------------------------------------

def ticket_created(category: str, number: str, status: str, notes: str | None = None, stage: str | None = None,
                   chat: bool = True) -> str:
    said = f"已为您登记【{category}】诉求，工单号 {number}，当前状态：{status_name(status, notes, stage)}。"
    return said + (f"发送「查询 {number}」可随时查看进度。" if chat else "")


def ticket_delayed() -> str:
    return "已收到您反映的问题，正在登记工单，系统稍有延迟，登记成功后会第一时间告诉您工单号。"


def ticket_refused() -> str:
    return "您反映的问题系统暂时未能自动登记，已转给网格员核实，登记后会告诉您工单号。"


def refused_for_manager(local: int, category: str, group: str, text: str, reason: str) -> str:
    return (f"待确认 #{local}【{category}】{group}：“{excerpt(text, 40)}”未能自动登记（{excerpt(reason, 80)}）。"
            f"回复「确认 {local}」重新登记，「驳回 {local}」不登记。")


def set_aside_list(rows: list[tuple[int, str, str]], replies_failed: int) -> str:
    if not rows and not replies_failed:
        return "没有未能发出的工单或消息。"
    lines = [f"未能发出的工单操作 {len(rows)} 条："] + [f"#{n} {kind}：{excerpt(err, 60)}" for n, kind, err in rows[:15]]
    if replies_failed:
        lines.append(f"未能送达的回复 {replies_failed} 条。")
    lines.append("修复后发送「重新提交」或「重新提交 编号」再试。")
    return clip("\n".join(lines))


def room_conflict(name: str, room_id: str) -> str:
    return (f"注意：出现了另一个名为“{excerpt(name, 30)}”的群（{room_id[:60]}），与已登记的群不是同一个，"
            f"其消息已被拒绝。如果原群已解散、确需换成这个群，请发送「换群 {excerpt(name, 30)}」后让新群再发一条消息。")


def room_unpinned(name: str, done: bool) -> str:
    return f"已解除“{name}”与原群的绑定，下一条消息所在的群将成为该群。" if done else f"“{name}”还没有绑定群。"


def unknown_group(name: str) -> str:
    return f"配置里没有名为“{excerpt(name, 30)}”的群。"


def requeued(count: int) -> str:
    return f"已重新提交 {count} 条，正在发送。" if count else "没有需要重新提交的内容。"


def ticket_joined(category: str, number: str | None, status: str | None, notes: str | None, local: int,
                  stage: str | None = None) -> str:
    ref = number or f"#{local}"
    return (f"这个问题已有人反映过，已把您的反映并入同一工单【{category}】{ref}，当前状态："
            f"{status_name(status, notes, stage) if number else '待登记'}。有进展会一并通知您。")


def awaiting_manager() -> str:
    """Said only in a private chat: in a group, an unsure message gets no public answer."""
    return "已收到您的反映，网格员核实后会告诉您工单号。"


_ASK_THING = {"lighting": "路灯", "road": "路面", "parking": "停车问题", "water": "供水排水问题", "power": "供电问题",
              "gas": "燃气问题", "property": "问题", "sanitation": "卫生问题", "environment": "污染",
              "noise": "噪音", "encroachment": "占道问题", "fire": "消防隐患"}


def ask_place(category: str, text: str) -> str:
    thing = "灯" if category == "lighting" and "路灯" not in text else _ASK_THING.get(category, "问题")
    return f"请问是哪栋楼（或哪条路、哪个位置）附近的{thing}？直接回复地点就行，方便尽快派人处理。"


def place_noted(where: str) -> str:
    return f"好的，地点已记下：{excerpt(where, 30)}。正在为您登记工单。"


def place_unknown() -> str:
    return "好的，先按您所在社区登记，网格员会和您核实具体位置。"


def addition_noted(number: str) -> str:
    return f"已把您补充的情况记入工单 {number}，处理人员会一并看到。"


def repeat_of_own(category: str, number: str, status: str | None, notes: str | None, state: str,
                  stage: str | None = None) -> str:
    where = status_name(status, notes, stage) if state in ("open", "closed") else "登记中"
    return f"您反映的【{category}】问题已在工单 {number} 中，当前状态：{where}。刚才的话已补充进工单，有进展会通知您。"


def which_ticket(asked: str, numbers: list[str]) -> str:
    return clip(f"“{asked}”对应多个工单：{'、'.join(numbers)}。请发送完整工单号查询，例如「查询 {numbers[0]}」。")


_EMERGENCY_ADVICE = {
    "fire": "如有明火或浓烟，请立即拨打 {n}，迅速撤离到安全地带，用湿毛巾捂住口鼻，不要乘电梯。",
    "gas": "闻到燃气味请立即拨打{n}；不要开关电器、不要打电话（到室外再打），打开门窗，关闭燃气总阀，尽快离开。",
    "injury": "有人受伤或身体不适，请立即拨打 {n} 急救电话，不要随意搬动伤者。",
    "trapped": "有人被困，请立即拨打 {n}，并安抚被困人员不要强行自救。",
    "collapse": "发生坍塌，请立即远离危险区域并拨打 {n}。",
    "flood": "正在进水请立即拨打 {n}，先断电、把人和贵重物品转移到高处，不要靠近漩涡和电线。",
    "crime": "请立即拨打 {n} 报警，注意自身安全，不要与对方正面冲突。",
}


def emergency_advice(kind: str, numbers: str) -> str:
    return "【紧急】" + _EMERGENCY_ADVICE[kind].format(n=numbers) + "已同时通知网格员。"


def emergency_alert(name: str, group: str, reporter: str, text: str) -> str:
    return (f"【紧急·{name}】{group} {excerpt(reporter, 20)}：“{excerpt(text, 80)}”。"
            f"已提示居民拨打报警/急救电话并登记工单，请立即核实处置。")


def filed_without_place(local: int, category: str, text: str) -> str:
    return f"#{local}【{category}】“{excerpt(text, 40)}”：居民未回复具体地点，已按所在社区登记，请核实位置。"


def status_update(number: str, category: str, status: str, notes: str | None, agency: str | None,
                  stage: str | None = None) -> str:
    parts = [f"您反映的【{category}】问题（工单号 {number}）有新进展：{status_name(status, notes, stage)}。"]
    if agency:
        parts.append(f"责任单位：{agency}。")
    if notes:
        parts.append(f"处理说明：{mask_personal(notes)}")
    return clip("".join(parts))


def category_changed(number: str, category: str, agency: str | None) -> str:
    who = f"，由{agency}办理" if agency else ""
    return f"您反映的问题（工单号 {number}）经核实调整为【{category}】类{who}，有进展会继续通知您。"


def ask_rating(number: str) -> str:
    return f"工单 {number} 已办结。您对处理结果满意吗？请回复「满意 {number}」或「不满意 {number}」。"


def thanks_for_rating(number: str, rating: str) -> str:
    if rating == "满意":
        return f"感谢您的评价！工单 {number} 已记录为满意。"
    return f"已记录您对工单 {number} 的评价：不满意。网格员会跟进回访，感谢您的监督。"


def rate_limited(limit: int) -> str:
    return f"您一小时内反映的问题已超过 {limit} 条，本条暂不自动登记，网格员会人工查看。"


def truncated(limit: int) -> str:
    return f"（您的消息较长，工单中只保留了前 {limit} 字，原文已完整保存。）"


def ticket_status(number: str, category: str, status: str | None, notes: str | None, agency: str | None,
                  expected: str | None, state: str, stage: str | None = None) -> str:
    if state == "awaiting":
        return f"工单 #{number}【{category}】正在等待网格员确认。"
    if state == "queued":
        return f"工单 #{number}【{category}】正在登记中，稍后会告诉您正式工单号。"
    if state == "rejected":
        return f"工单 #{number}【{category}】经网格员确认不予登记。"
    if state == "failed":
        return f"工单 #{number}【{category}】未能登记，已转网格员人工处理。"
    lines = [f"工单 {number}【{category}】当前状态：{status_name(status, notes, stage)}。"]
    if agency:
        lines.append(f"责任单位：{agency}。")
    if expected and words.stage_of(status, notes, stage) in words.OPEN_STAGES:
        lines.append(f"预计办结：{expected[:10]}。")
    if notes:
        lines.append(f"处理说明：{mask_personal(notes)}")
    return clip("".join(lines))


def my_tickets(rows: list[tuple[str, str, str]]) -> str:
    if not rows:
        return "您目前没有未办结的工单。"
    lines = [f"您有 {len(rows)} 个未办结的工单："] + [f"· {n}【{c}】{s}" for n, c, s in rows[:20]]
    if len(rows) > 20:
        lines.append(f"……另有 {len(rows) - 20} 个")
    return clip("\n".join(lines))


def ticket_not_found(number: str) -> str:
    return f"没有找到工单 {number}，请核对工单号（例如：查询 GX20261124-0007）。"


# -- grid managers ---------------------------------------------------------------------------

_HOLD_REASONS = {"rate limited": "（该居民一小时内反映较多，转人工查看）",
                 "unknown group": "（私聊反映，未知所在群，请管理员分派）",
                 "confirm mode": "（本群为确认模式：每件工单登记前由您确认）",
                 "observe mode": "（本群在试运行，居民私聊反映，登记前请您确认）",
                 "observe emergency": "（紧急情况！本群在试运行，已在群里提示居民拨打紧急电话，请立即核实）",
                 "report to review": "（热线、政务平台或网页反映，系统不能确定是否属于诉求或类别，请核实）"}


def confirm_request(local: int, category: str, group: str, reporter: str, text: str, reason: str | None = None,
                    place: str | None = None) -> str:
    where = f" 地点：{place}" if place else ""
    return (f"待确认 #{local}【{category}】{group} {excerpt(reporter, 30)}：“{excerpt(text)}”{where}"
            f"{_HOLD_REASONS.get(reason or '', '')}\n"
            f"回复「确认 {local}」登记，「驳回 {local}」不登记，或「改类 {local} 类别名」改类后登记。")


def confirmed(local: int, category: str) -> str:
    return f"已确认 #{local}【{category}】，正在登记工单。"


def rejected_for_manager(local: int) -> str:
    return f"已驳回 #{local}，不登记工单。"


def recategorized(local: int, category: str, number: str | None) -> str:
    ref = number or f"#{local}"
    return f"已将 {ref} 改为【{category}】，本地记录已更新并会用于模型训练。"


def not_awaiting(local: int, state: str) -> str:
    return f"#{local} 当前不在待确认状态（{state}），无需操作。"


def awaiting_list(rows: list[tuple[int, str, str, str]]) -> str:
    if not rows:
        return "目前没有待确认的消息。"
    lines = [f"待确认 {len(rows)} 条："] + [f"#{n}【{c}】{g}：{excerpt(t, 40)}" for n, c, g, t in rows[:20]]
    return clip("\n".join(lines))


def unknown_category(name: str, choices: str) -> str:
    return clip(f"没有“{name}”这个类别。可选：{choices}")


# -- admins ---------------------------------------------------------------------------------

def retrain_started() -> str:
    return "已开始重新训练模型（语料库 + 网格员的确认记录），完成后会在这里报告结果。"


def retrain_busy() -> str:
    return "模型正在训练中，请稍后再试。"


def retrain_done(version: str, promoted: bool, detection_f1: float, category_f1: float, reason: str) -> str:
    verdict = "已上线" if promoted else "未上线（不优于当前模型）"
    return (f"训练完成：版本 {version} {verdict}。评估集上 投诉识别F1 {detection_f1:.3f}，"
            f"类别宏平均F1 {category_f1:.3f}。{reason}")


def retrain_failed(error: str) -> str:
    return clip(f"重新训练失败：{error}")


def model_status(version: str, created: str, detection_f1: float, category_f1: float, examples: int,
                 decisions: int) -> str:
    return (f"当前模型 {version}（{created}），训练样本 {examples} 条；评估集 投诉识别F1 {detection_f1:.3f}，"
            f"类别宏平均F1 {category_f1:.3f}。已积累网格员确认记录 {decisions} 条。")


def rolled_back(version: str) -> str:
    return f"已回滚，当前模型：{version}。"


def rollback_failed(error: str) -> str:
    return clip(f"回滚失败：{error}")


# -- everyone -------------------------------------------------------------------------------

def not_allowed() -> str:
    return "抱歉，您没有执行这个指令的权限。"


def hint(usage: str) -> str:
    return f"指令格式不对，请这样发送：{usage}"


def help_text(is_manager: bool, is_admin: bool) -> str:
    lines = ["可用指令：", "· 查询 工单号 —— 查看工单进度", "· 我的工单 —— 查看您未办结的工单"]
    if is_manager or is_admin:
        lines += ["· 待确认 —— 列出等您确认的消息", "· 确认 编号 / 驳回 编号 / 改类 编号 类别名"]
    if is_admin:
        lines += ["· 重新训练 / 模型状态 / 回滚模型"]
    lines.append("在群里直接描述遇到的问题，我会帮您登记工单。")
    return "\n".join(lines)


def storage_unavailable() -> str:
    return "系统暂时无法保存消息，请稍后再发，或直接联系网格员。"


# -- the grid manager's day: the morning digest, reviews of a group on trial, 督办 --------------

def _chunks(lines: list[str], limit: int = MAX_REPLY_CHARS) -> list[str]:
    """Lines packed into as few chat messages as fit, never splitting a line."""
    out: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def _number(row) -> str:
    return row["service_request_id"] or f"#{row['id']}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def digest(settings, d, names: dict[str, str], who: str | None = None) -> list[str]:
    name = lambda code: names.get(code, code)  # noqa: E731
    group_list = "、".join(g.name for g in d.groups) or "（无）"
    lines = [f"【网格日报】{d.day.month}月{d.day.day}日 · {who or ''}{'，' if who else ''}您负责：{group_list}"]
    if not d.groups:
        return ["【网格日报】您目前没有负责的群。"]
    lines.append(f"一、新工单 {len(d.new)} 件" + ("：" if d.new else "。"))
    for row in d.new[:15]:
        state = ticket_word(row)
        lines.append(f"· {_number(row)}【{name(row['category'])}】{excerpt(row['description'], 30)}（{state}）")
    if len(d.new) > 15:
        lines.append(f"……另有 {len(d.new) - 15} 件，请在台账查看。")
    lines.append(f"二、在办 {d.open_count} 件，其中待您确认 {d.awaiting} 件，超期 {len(d.overdue)} 件"
                 + ("：" if d.overdue else "。"))
    for row, level in d.overdue[:15]:
        lines.append(f"· {_number(row)}【{name(row['category'])}】{excerpt(row['description'], 24)}"
                     f"（{words.OVERDUE_WORDS[level]}，期限 {(row['expected_datetime'] or '')[:10]}）")
    if d.rising:
        lines.append("三、上升的类别（近7天反映件数 / 前四周周均）：" + "；".join(
            f"{name(c)} {n} 件 / {avg:.1f}" for c, n, avg in d.rising[:5]))
    else:
        lines.append("三、近7天没有明显上升的类别。")
    if d.repeated:
        lines.append("四、重复反映：" + "；".join(
            f"{_number(row)}【{name(row['category'])}】新增 {n} 人（共 {total} 人）" for row, n, total in d.repeated[:8]))
    else:
        lines.append("四、没有重复反映的问题。")
    if d.ratings:
        unhappy = sum(1 for _, r in d.ratings if r == "不满意")
        lines.append(f"五、居民评价 {len(d.ratings)} 条，不满意 {unhappy} 条" + ("：" if unhappy else "。"))
        for row, rating in d.ratings:
            if rating == "不满意":
                lines.append(f"· {_number(row)}【{name(row['category'])}】不满意，请回访："
                             f"发送「回复 {_number(row)} 内容」联系居民")
    else:
        lines.append("五、没有新的居民评价。")
    messages = _chunks(lines)
    trial = _trial_lines(settings, d, name)
    if trial:
        messages += _chunks(trial)
    return messages


def _trial_lines(settings, d, name) -> list[str]:
    lines: list[str] = []
    for group in d.groups:
        if group.mode == "live":
            continue
        m = d.measured.get(group.name)
        mode_word = "试运行（只记录不发言）" if group.mode == "observe" else "确认模式（工单先由您确认）"
        lines.append(f"【{group.name}】{mode_word}")
        if m is not None:
            lines.append(f"已复核 {m.reviewed} 条，准确率 {_pct(m.precision)}，已知漏判 {m.fn} 条，"
                         f"查全率 {_pct(m.recall)}。")
            target = settings.digest
            if m.reviewed >= target.ready_min_reviewed and m.precision is not None \
                    and m.precision >= target.ready_precision:
                lines.append(f"✅ 已达到正式运行标准（准确率≥{target.ready_precision:.0%}，复核≥{target.ready_min_reviewed} 条），"
                             f"可请管理员把本群改为正式运行（mode: live）。")
            else:
                lines.append(f"正式运行标准：准确率≥{target.ready_precision:.0%}，复核≥{target.ready_min_reviewed} 条。")
        items = [i for i in d.items if i.group == group.name]
        would = [i for i in items if i.kind == "would"]
        ignored = [i for i in items if i.kind != "would"]
        if group.mode == "observe":
            lines.append(f"{d.day.month}月{d.day.day}日本会登记的工单 {len(would)} 件" + ("：" if would else "。"))
            for i in would:
                how = "" if i.sure else "（会先请您确认）"
                lines.append(f"{i.n}. 【{name(i.label)}】{excerpt(i.sender, 10)}：{excerpt(i.text, 40)}{how}")
            lines.append(f"可能漏判的反映 {len(ignored)} 条" + ("：" if ignored else "。"))
            for i in ignored:
                lines.append(f"{i.n}. 【像{name(i.label)}？】{excerpt(i.sender, 10)}：{excerpt(i.text, 40)}")
    if d.items:
        n = d.items[0].n
        lines.append(f"逐条复核：判断对回复「对 {n}」，不对回复「错 {n}」，类别不对回复「改 {n} 供水」。")
    return lines


def ticket_word(row) -> str:
    """The word for a ticket as the bot keeps it: the backend's stage once filed, else its own state."""
    if row["service_request_id"]:
        return words.word(row["status"], row["status_notes"], row["stage"])
    return words.LOCAL_WORDS.get(row["state"], words.STAGE_WORDS["received"])


def reviewed(n: int, kind: str, verdict: str, label_name: str, group: str, precision: float | None,
             count: int) -> str:
    what = {("would", "right"): "本应登记，判断正确", ("would", "wrong"): "不是诉求，判断错误",
            ("would", "changed"): f"是诉求，类别应为【{label_name}】",
            ("ignored", "right"): "确实不是诉求", ("ignored", "wrong"): f"是诉求（{label_name}），漏判",
            ("ignored", "changed"): f"是诉求，类别为【{label_name}】，漏判"}[(kind, verdict)]
    return f"已记录第 {n} 条：{what}。{group} 已复核 {count} 条，准确率 {_pct(precision)}。"


def no_review_item(n: int) -> str:
    return f"最近一期日报里没有第 {n} 条。请按日报中的编号回复，例如「对 3」。"


def supervise_manager(rows: list[tuple[str, str, str, str]]) -> str:
    lines = [f"【督办提醒】您负责的群有 {len(rows)} 件工单已超过办理期限，请督促承办单位办理："]
    lines += [f"· {number}【{category}】{excerpt(text, 30)}（期限 {expected[:10]}）" for number, category, text, expected
              in rows[:20]]
    if len(rows) > 20:
        lines.append(f"……另有 {len(rows) - 20} 件，请在台账按「超期」筛选。")
    return "\n".join(lines)


def supervise_admin(rows: list[tuple[str, str, str, str, str]]) -> str:
    lines = [f"【督办·报管理员】{len(rows)} 件工单超过期限已满一个办理周期仍未办结："]
    lines += [f"· {number}【{category}】{group}：{excerpt(text, 24)}（期限 {expected[:10]}）"
              for number, category, group, text, expected in rows[:20]]
    if len(rows) > 20:
        lines.append(f"……另有 {len(rows) - 20} 件，请在台账按「督办」筛选。")
    return "\n".join(lines)


# -- call-back: words between a grid manager and residents, through the bot -------------------

def from_manager(number: str, text: str) -> str:
    return clip(f"网格员就工单 {number} 给您留言：{mask_personal(text)}\n如需回复，请发送「回复 {number} 您要说的话」。")


def from_resident(number: str, name: str, group: str, text: str) -> str:
    return clip(f"居民 {excerpt(name, 20)}（{group}）就工单 {number} 回复：{text}\n"
                f"回复居民请发送「回复 {number} 内容」。")


def relayed_to_residents(number: str, count: int) -> str:
    if not count:
        return f"工单 {number} 没有可以转告的居民。"
    return f"已转告工单 {number} 的 {count} 位反映人，并记入工单。"


def relayed_to_manager(number: str) -> str:
    return f"已把您的话转给网格员，并记入工单 {number}。"


def unhappy_for_manager(number: str, category: str, group: str, name: str, text: str) -> str:
    return (f"【回访】居民 {excerpt(name, 20)}（{group}）对工单 {number}【{category}】“{excerpt(text, 40)}”的处理结果不满意。"
            f"请发送「回复 {number} 内容」联系居民。")
