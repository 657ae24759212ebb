"""Emergencies: a fire, a gas leak, someone hurt or trapped, a collapse, flooding or a crime happening
now. Rules, not the classifier: they must fire whatever its confidence, and say which number to call.

A rule matches what is happening; a marker of the past (上周, 昨晚), of prevention (容易, 隐患, 演练),
of a fire already out (扑灭) or of figurative speech (上火, 火了) turns it off, unless the message also
says it is happening now (快, 救命, 正在, 现在, !!).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Emergency:
    kind: str          # fire | gas | injury | trapped | collapse | flood | crime
    category: str      # the taxonomy category its ticket gets when the classifier gives none
    name: str          # 火情, 燃气泄漏, …: what the grid manager's alert calls it


_RULES: tuple[tuple[str, str, str, re.Pattern], ...] = (
    ("fire", "fire", "火情", re.compile(
        r"着火|起火|失火|火灾|烧起来|燃起来|着起来|烧着了|冒黑烟|冒浓烟|浓烟|黑烟滚滚|火很大|火势|明火|火苗|大火|烧起|火烧"
        r"|(?:全|都)是烟|烟很大|烟好大|(?:屋|房|楼|家|车|店|厨房|阳台|楼道|电瓶车|电动车).{0,4}冒烟")),
    ("gas", "gas", "燃气泄漏", re.compile(
        r"(?:煤气|燃气|天然气|液化气|气罐|燃气管|气管).{0,6}(?:泄漏|泄露|漏气|漏了|在漏|挖破|破了|喷气|嘶嘶|"
        r"味[道儿]?.{0,2}(?:很|好|特别|太|非常)?(?:大|重|浓|冲|刺鼻))"
        r"|(?:闻到|一股|好大的?|很大的?|浓浓的?|都是|全是).{0,3}(?:煤气|燃气|天然气|液化气)味|漏气|往外喷气")),
    ("injury", "other", "人员受伤", re.compile(
        r"摔倒|跌倒|摔下来|晕倒|昏倒|昏迷|晕过去|倒在地|倒地不起|不省人事|躺着没动|抽搐|口吐白沫|流了?很多血|流血|"
        r"血一直流|满脸是血|全是血|大出血|头破|骨折|(?:胳膊|腿|手|骨头)\S{0,3}断了|受伤|被车撞|撞倒|咬了|咬伤|"
        r"砸伤|砸到人|砸中|烫伤|触电|溺水|掉进|落水|掉下来了|心脏病|没有?呼吸|没气了|喘不上气|脸都紫|噎住|中暑|割腕|跳楼|要跳")),
    ("trapped", "property", "人员被困", re.compile(
        r"困在|被困|困人|困住|关在|反锁|卡在|拔不出来|电梯.{0,6}(?:关|卡|困).{0,3}(?:人|孩子|老人|里面)|"
        r"锁(?:在)?.{0,4}(?:车|屋|家|房)里|出不来|救命")),
    ("collapse", "property", "坍塌", re.compile(
        r"塌了|倒塌|坍塌|塌方|垮了|垮塌|塌陷|陷下去|地陷|砸下来|掉下来砸|往下掉|要塌|要倒了|吹倒|倒了.{0,4}压|压着.{0,4}人|摇摇欲坠")),
    ("flood", "water", "进水淹水", re.compile(
        r"(?:进水|淹了|被淹|淹到|漫进|漫上来|倒灌|水漫|涨水|灌进|往里灌|往下灌|决口).{0,12}"
        r"(?:越来越|止不住|停不下|还在|一直在?|不停|正在|快|已经到|到膝盖|没过|深|冲)"
        r"|(?:越来越|止不住|正在|快要?).{0,6}(?:进水|淹|漫|涨|灌)|水漫金山|决口|我家淹了|进水了")),
    # A burst pipe in the street is an urgent water ticket, not a 119 call: it is not listed here.
    ("crime", "security", "治安警情", re.compile(
        r"打架|斗殴|打起来|动刀|持刀|拿刀|拿着刀|砍人|捅人|抢劫|抢东西|抢包|撬门|撬锁|入室|翻墙进|打人|家暴|绑架|拉.{0,4}上车|"
        r"小偷.{0,4}(?:在|正|还)")),
)

_NOT_NOW = re.compile(
    r"上周|上个?月|上次|上回|前几天|前段时间|昨天|昨晚|前天|去年|以前|之前|曾经|那次|那场|"
    r"容易|可能会|会不会|防止|预防|隐患|万一|如果|要是|假如|小心|注意|当心|演练|演习|培训|宣传|讲座|安检|检查|巡查|提前|了解|"
    r"扑灭|灭了|已经灭|没事了|没有?人受伤|没受伤|没着火|没起火|虚惊|差点|差一点|险些|好险|万幸|"
    r"上火|(?<![着起失])火了|火爆|火锅|发火|恼火|冒火|火大|火气|网红|游戏|电视|新闻|视频|网上|听说|据说|老家|外地|"
    r"房贷|压得我|钱包|心态|塌房|保险|能赔|理赔|"
    r"天天|每天|经常|总是|老是|一直都|每次|每晚|常年|"
    r"应该打|打什么电话|怎么处理|怎么办理|咨询|请问")
_NOW = re.compile(r"快来|快点|快救|救命|救人|求助|求救|正在|(?<!到)现在|刚刚|刚才|马上|赶紧|赶快|紧急|着急|[!！]{2,}|急急|报警|"
                  r"119|120|110")


def detect(text: str) -> Emergency | None:
    """The emergency a message reports as happening now, or None."""
    text = unicodedata.normalize("NFKC", text)
    for kind, category, name, rule in _RULES:
        if rule.search(text):
            if _NOT_NOW.search(text) and not _NOW.search(text):
                continue
            return Emergency(kind, category, name)
    return None


def numbers(kind: str, settings) -> str:
    """What to call, as residents read it: 119, or the gas company's line and 119."""
    lines = settings.emergency
    return {
        "fire": "119",
        "gas": f"燃气公司抢修电话 {lines.gas_company}" + "（情况严重请拨 119）" if lines.gas_company else "119",
        "injury": "120",
        "trapped": "119" + (f"（电梯困人也可拨电梯应急电话 {lines.elevator}）" if lines.elevator else ""),
        "collapse": "119（有人受伤请同时拨 120）",
        "flood": (f"供水抢修电话 {lines.water_company}（有人被困或危及安全请拨 119）" if lines.water_company
                  else "119"),
        "crime": "110",
    }[kind]
