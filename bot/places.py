"""Where a message says a problem is, and whether two reports are the same problem.

Residents name places the way people talk: 3栋 / 三栋 / 3号楼 / 3幢, 2单元, 502室 or 12-3-502, a road
(人民路), a bridge (彩虹桥), a landmark (菜市场, 幼儿园, 北门), or a name only their group knows (the
group's gazetteer in config.yaml). `extract` turns a text into a `Place`; `same_problem` decides
whether a new report and an open ticket are one problem: the same category (the caller checks),
places that do not contradict each other, and the same thing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from bot.similarity import similar

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
           "九": 9}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十]{1,4}(?=\s*(?:号楼|栋|幢|座|单元|楼|层|组|号|室|期|区|门))")


def _cn_to_int(text: str) -> int | None:
    """三 -> 3, 十二 -> 12, 二十 -> 20, 二十三 -> 23; None for what is not a small number."""
    if "十" in text:
        head, _, tail = text.partition("十")
        tens = _DIGITS.get(head, None) if head else 1
        ones = _DIGITS.get(tail, None) if tail else 0
        if tens is None or ones is None or "十" in tail:
            return None
        return tens * 10 + ones
    if all(ch in _DIGITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    return None


def normalize(text: str) -> str:
    """Full-width to half-width, Chinese numerals before a place word to digits (三栋 -> 3栋)."""
    text = unicodedata.normalize("NFKC", text)
    for short, full in _ALIASES:
        text = text.replace(full, short).replace(short, full)

    def digits(m: re.Match) -> str:
        value = _cn_to_int(m.group(0))
        return m.group(0) if value is None else str(value)
    return _CN_NUMBER.sub(digits, text)


_TRIPLE = re.compile(r"(?<![\d.])(\d{1,3})\s*[-－—]\s*(\d{1,2})\s*[-－—]\s*(\d{3,4})(?![\d.])")
_BUILDING = re.compile(r"(\d{1,3})\s*(?:号楼|栋|幢|座|#楼|#|号院|号(?=\s*\d{1,2}\s*单元))")
_UNIT = re.compile(r"(\d{1,2})\s*单元")
_ROOM = re.compile(r"(?<![\d.])(\d{3,4})\s*(?:室|房|号房|户)?(?![\d.])(?!\s*(?:年|元|块|米|天|个|次|多|号楼|栋|幢|#))")
_FLOOR = re.compile(r"(\d{1,2})\s*(?:楼|层)(?!道|梯|下|上|顶|房)")
_VILLAGE_TEAM = re.compile(r"(\d{1,2})\s*(?:组|队)(?!织|长)")
_GATE = re.compile(r"([东南西北])\s*(?:大)?门|([东南西北])\s*侧门")
# Parts of a building or compound: 3栋楼道 and 3栋电梯 are two places; 3栋 and 3栋楼道 may be one.
_SPOT = re.compile(r"楼道|楼梯间?|电梯厅|电梯|地下车库|地库|车库|地下室|单元门|楼顶|天台|顶楼|阳台|门口|门卫|大堂|"
                   r"楼下|后面|后头|广场|绿化带|花坛|垃圾站|停车场|充电棚|车棚|小树林|围墙|信报箱")
_SPOT_SAME = {"楼梯": "楼道", "楼梯间": "楼道", "地库": "地下车库", "车库": "地下车库", "后头": "后面", "顶楼": "楼顶",
              "天台": "楼顶", "电梯厅": "电梯"}
# Common short forms, so that 菜场 and 菜市场 are one place.
_ALIASES = (("菜场", "菜市场"), ("公共厕所", "公厕"), ("村头", "村口"))
_AREA = re.compile(r"([A-Za-z])\s*区")
_SUFFIX = re.compile(
    r"大道|路口|路|街|巷|胡同|弄|桥|广场|公园|菜市场|农贸市场|市场|超市|小学|中学|学校|幼儿园|医院|卫生院|卫生室|诊所|"
    r"银行|车站|公交站|地铁站|村委会|村|湾|大厦|商场|花园|苑|酒店|宾馆|加油站|派出所|体育馆|图书馆|河|塘|湖|水库|山|"
    r"公厕|KTV|网吧|饭店|餐馆|工地|厂|店|馆|厅|影院")
# Characters that never belong to a place's name: they are what people say around it.
_NOT_IN_NAME = set("的了着过在是有不没很太都也还又就才把被给让和跟与这那个些哪看见走修堵坏掉往到去从向于对边旁里外前后"
                   "上下中间附近说条晚早天夜一两几每各整全好大小多少吗呢吧啊呀我你他她它们家头侧区")
# Names too generic to tell two places apart: every compound has them.
_GENERIC = {"小区", "学校", "马路", "路", "路口", "街", "大街", "街道", "公路", "桥", "广场", "公园", "市场", "超市",
            "医院", "银行", "车站", "公交站", "村", "河", "塘", "湖", "山", "花园", "村里", "湾", "道路", "路面",
            "马路边", "路边", "一路", "半路", "上路", "出路", "水路", "电路", "线路", "管路", "路线", "走路",
            "过马路", "这条路", "那条路", "条路", "门口路", "小路", "大路", "水泥路", "土路", "山路", "巷子",
            "小巷", "弄堂", "商场"}


# A "name" that holds these is a phrase, not a name: 幼儿园旁边那条路, 总有改装摩托车炸街.
_INNER = re.compile(r"旁边|边上|那条|这条|那个|这个|后面|前面|对面|门口|里面|外面|附近|的|有|在|又|总|还|了|是|都")


@dataclass(frozen=True)
class Place:
    """What a text says about where: numbers of buildings, units, rooms, village teams; gates; names."""

    buildings: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    rooms: frozenset[str] = frozenset()
    floors: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    gates: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    spots: frozenset[str] = frozenset()   # 楼道, 电梯, 地下车库, 门口…
    spans: tuple[tuple[int, int], ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        return not (self.buildings or self.units or self.rooms or self.teams or self.gates or self.names)

    def describe(self) -> str:
        """A short Chinese address part for the ticket: 3栋2单元502室、人民路."""
        parts = []
        number = "".join([f"{b}栋" for b in sorted(self.buildings)[:1]] + [f"{u}单元" for u in sorted(self.units)[:1]]
                         + [f"{r}室" for r in sorted(self.rooms)[:1]])
        number += "".join(sorted(self.spots)[:1]) if number else ""
        if number:
            parts.append(number)
        parts += [f"{t}组" for t in sorted(self.teams)]
        parts += [f"{g}门" for g in sorted(self.gates)]
        parts += sorted(self.names)
        return "、".join(parts)

    def conflicts(self, other: "Place") -> bool:
        """Two places that cannot be the same spot: different building, unit, room, team or gate."""
        for mine, theirs in ((self.buildings, other.buildings), (self.rooms, other.rooms),
                             (self.teams, other.teams), (self.gates, other.gates), (self.spots, other.spots)):
            if mine and theirs and not mine & theirs:
                return True
        # A unit number only contradicts within the same building (or when neither names one).
        if self.units and other.units and not self.units & other.units:
            if not (self.buildings and other.buildings) or self.buildings & other.buildings:
                return True
        if self.names and other.names and not self.names & other.names and not _names_overlap(self, other):
            return True
        return False

    def shares(self, other: "Place") -> bool:
        return bool(self.buildings & other.buildings or self.rooms & other.rooms or self.teams & other.teams
                    or self.gates & other.gates or self.names & other.names or _names_overlap(self, other))


def _names_overlap(a: Place, b: Place) -> bool:
    """人民路 and 人民路口, 菜市场 and 老菜市场: one name inside the other."""
    return any(x in y or y in x for x in a.names for y in b.names)


@lru_cache(maxsize=8192)
def extract(text: str, gazetteer: tuple[str, ...] = ()) -> Place:
    """The place a message names; an empty Place when it names none (cached: open tickets'
    descriptions are read again for every new report)."""
    text = normalize(text)
    spans: list[tuple[int, int]] = []
    buildings, units, rooms, floors, teams, gates, names, spots = set(), set(), set(), set(), set(), set(), set(), set()
    for entry in gazetteer:
        canonical, *aliases = [a.strip() for a in entry.split("|") if a.strip()]
        for form in (canonical, *aliases):
            at = text.find(form)
            if at >= 0:
                names.add(canonical)
                spans.append((at, at + len(form)))
                break
    for m in _TRIPLE.finditer(text):
        buildings.add(str(int(m.group(1))))
        units.add(str(int(m.group(2))))
        rooms.add(m.group(3))
        spans.append(m.span())
    for pattern, found in ((_BUILDING, buildings), (_UNIT, units), (_VILLAGE_TEAM, teams), (_FLOOR, floors)):
        for m in pattern.finditer(text):
            if not _inside(m.span(), spans):
                found.add(str(int(m.group(1))))
                spans.append(m.span())
    if buildings or units:  # a bare 502 is a room only next to a building or unit number
        for m in _ROOM.finditer(text):
            if not _inside(m.span(), spans):
                rooms.add(m.group(1))
                spans.append(m.span())
    for m in _GATE.finditer(text):
        gates.add(m.group(1) or m.group(2))
        spans.append(m.span())
    for m in _AREA.finditer(text):
        teams.add(m.group(1).upper() + "区")
        spans.append(m.span())
    for m in _SPOT.finditer(text):
        if not _inside(m.span(), spans):
            spots.add(_SPOT_SAME.get(m.group(0), m.group(0)))
            spans.append(m.span())
    for m in _SUFFIX.finditer(text):
        head = ""
        for ch in reversed(text[max(0, m.start() - 4):m.start()]):
            if ch in _NOT_IN_NAME or not (ch.isalnum() and not ch.isdigit()):
                break
            head = ch + head
        if head.startswith("面") and text[m.start() - len(head) - 1:m.start() - len(head)] == "对":
            head = head[1:]  # 对面工地: the site across the road, not a place called 面工地
        name = _clean_name(head + m.group(0), text, m.end())
        if name and not _inside(m.span(), spans):
            names.add(name)
            spans.append((m.start() - len(head), m.end()))
    return Place(frozenset(buildings), frozenset(units), frozenset(rooms), frozenset(floors), frozenset(teams),
                 frozenset(gates), frozenset(names), frozenset(spots), tuple(spans))


def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(s <= span[0] and span[1] <= e for s, e in spans)


def _clean_name(name: str, text: str, end: int) -> str | None:
    if name.endswith("路") and text[end - 1:end + 1] in ("路灯", "路面", "路上", "路边", "路段", "路过"):
        return None  # 小区路灯 is a lamp, not a road called 小区路
    if len(name) < 2 or name in _GENERIC or re.fullmatch(r"[\d\s]+.", name) or _INNER.search(name):
        return None
    if name.endswith("街") and (len(name) > 4 or name[-2] in "炸逛上扫沿临当"):
        return None
    if name.endswith("路口") and len(name) > 2:
        name = name[:-1]  # 人民路口 is 人民路
    if name in _GENERIC:
        return None
    return name


# -- the thing a report is about ---------------------------------------------------------------

# Words that say how or when, not what: they never make two reports one problem.
_FILLER = set("""的 了 吗 呢 吧 啊 呀 哦 嘛 么 啦 哈 也 都 还 又 就 才 再 很 太 好 真 挺 更 最 没 没有 不 是 有 在 和 跟 与 把 被 给 让 叫
我 你 他 她 它 我们 你们 他们 咱们 大家 谁 什么 怎么 怎么回事 为什么 这 那 这个 那个 这里 那里 这边 那边 一下 一直 一个 一些 好几 几天 天 一天
两天 三天 好几天 一周 一个星期 星期 礼拜 个月 月 年 今天 昨天 前天 晚上 早上 白天 半夜 凌晨 现在 已经 到现在 至今 还是 又是 总是 经常 老是
每天 天天 一直 时候 多久 问题 情况 事 事情 反映 投诉 请问 麻烦 希望 赶紧 尽快 快点 处理 解决 修 修理 维修 修好 来修 没人 没人管
有人 人 管 管管 一下子 坏 坏了 坏掉 不行 不能 不了 烦 烦死 死 要 能 会 可以 应该 得 说 看 看看 去 来 上 下 里 外 旁边 附近 门口 楼下
楼上 那块 这块 地方 小区 我家 家 家里 物业 社区 网格员 领导 师傅 谢谢 求求 求助 急 急死 着急 严重 特别 非常 真的 实在 简直 完全 根本
还在 依然 仍然 继续 开始 出现 发现 发生 造成 导致 影响 打 打电话 电话 联系 回复 通知 知道 一样 同样 也是 那个 呗 咋 咋回事 啥 几 多
到 着 补充 一下 说 那几 几个 这几 一点 点 呢 ， 。 ！ ？ ! ? , . 、 ～ ~ … ： : ； ; （ ） ( ) 【 】 “ ” " ' 栋 号楼 单元 室 楼 层 号 组""".split())


@lru_cache(maxsize=8192)
def things(text: str) -> frozenset[str]:
    """Content words of a report, without places, numbers and filler: {路灯, 黑}, {下水道, 堵, 污水}."""
    from classifier.text import tokenize  # jieba with the classifier's dictionary, loaded with the model

    place = extract(text)
    clean = normalize(text)
    for s, e in sorted(place.spans, reverse=True):
        clean = clean[:s] + " " + clean[e:]
    words = set()
    for word in tokenize(clean):
        word = word.strip()
        if not word or word in _FILLER or re.fullmatch(r"[\W\d_a-zA-Z]+", word):
            continue
        words.add(word)
    # A single character is a thing too (灯, 水, 电), as the tokenizer often leaves it alone.
    return frozenset(words)


_SYNONYMS = (("灯", "路灯", "楼道灯", "感应灯", "照明", "不亮", "黑"), ("停水", "没水", "自来水", "水压", "水小"),
             ("下水道", "污水", "冒水", "堵塞", "化粪池", "窨井", "返水"), ("停电", "没电", "跳闸", "断电"),
             ("垃圾", "垃圾桶", "清运", "没人收"), ("停车", "乱停", "占道", "车位", "僵尸车"),
             ("吵", "噪音", "噪声", "扰民", "施工", "装修", "广场舞", "音响", "炸街", "轰"),
             ("坑", "坑洼", "路面", "破损", "裂缝", "裂", "塌"), ("充电", "电瓶车", "电动车", "飞线"),
             ("燃气", "煤气", "天然气", "气味", "漏气"), ("公厕", "厕所", "茅房"), ("狗", "狗叫", "流浪狗"),
             ("对讲", "对讲机", "门禁"), ("单元门", "门锁", "关不上", "合不上"), ("臭", "臭味", "味", "粪"),
             ("烟", "黑烟", "烧", "焚烧"), ("电线", "电线杆", "线", "耷拉", "垂"))
# Single characters that name a thing on their own (most single characters do not).
_THING_CHARS = set("灯水电气车门狗猫烟臭坑线树墙路井桥")


def related(a: set[str], b: set[str], by_character: bool = True) -> bool:
    """Whether two sets of content words are about the same thing (`by_character`: a shared
    strong character is enough, the weakest evidence)."""
    shared = a & b
    if any(len(w) >= 2 or w in _THING_CHARS for w in shared):
        return True
    for group in _SYNONYMS:
        if _hits(a, group) and _hits(b, group):
            return True
    # 纸箱 and 箱子, 摩托 and 摩托车, 唱 and 唱: the same strong character in what each is about.
    return by_character and bool(_chars(a) & _chars(b))


# Characters too common in complaint words to say what a report is about.
_WEAK_CHARS = set("口个上下来去了的子头一二三四五六七八九十几好多大小长短高低新老旧里外前后左右中开关出进起过到说看"
                  "人家们有是在不没也都还又再就才要会能可把被给让和跟与这那些点天年月时分早晚半全整坏破烂掉")


def _chars(words: set[str]) -> set[str]:
    return {ch for w in words for ch in w if ch not in _WEAK_CHARS and "\u4e00" <= ch <= "\u9fff"}


def _hits(words: set[str], group: tuple[str, ...]) -> bool:
    return any(w in group or any(len(g) >= 2 and g in w for g in group) for w in words)


# 「还是不亮」, 「又在烧」, 「到现在还没修」: a report that says it is about something already reported.
AGAIN = re.compile(r"还是|还没|还在|怎么还|咋还|又|依然|仍然|到现在|一直|老样子|那[个条根股口边]")


def same_problem(new_text: str, old_text: str, gazetteer: tuple[str, ...] = (),
                 similarity: float = 0.4) -> bool:
    """Whether a new report (same group, same category) is the problem an open ticket is about."""
    new_place, old_place = extract(new_text, gazetteer), extract(old_text, gazetteer)
    if new_place.conflicts(old_place):
        return False  # 3栋 is never 7栋, whatever the wording
    if similar(new_text, old_text, similarity):
        return True
    same_thing = related(things(new_text), things(old_text))
    if new_place.shares(old_place):
        return same_thing
    if new_place.empty or old_place.empty:
        # No place on one side: the same thing, said as a repeat (还是不亮) or in overlapping words.
        return same_thing and (bool(AGAIN.search(new_text)) or similar(new_text, old_text, similarity / 2))
    return False  # both name places, neither shared nor contradicting: two spots
