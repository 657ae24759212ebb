"""Grievance cues: a few features that mean "a problem someone must fix" in any register.

The n-gram features learn the voice of the text they were trained on. A resident's chat line,
a hotline operator's note and a petition title share little wording, but they share the
shape of a grievance: something is broken, missing, dirty, loud, unpaid or illegal; it has
lasted; someone is asked to act. These cue families are written by hand from the taxonomy's
scopes, not from any evaluation text, and the model learns how much each is worth.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from classifier.text import normalize

# Something is wrong with a thing: broken, out, blocked, leaking, dirty, dangerous.
_FAULT = (
    r"坏了|坏掉|损坏|损毁|破损|破烂|故障|不亮|没亮|不灭|熄灭|一闪一闪|闪烁|掉落|脱落|倒了|倾倒|倒塌|塌陷|塌了|"
    r"下陷|凹陷|松动|翘起|断裂|裂缝|开裂|坑洼|坑洞|大坑|缺失|丢失|被偷|没盖|井盖|漏水|渗水|爆管|水管爆|"
    r"堵塞|堵了|堵死|不通|外溢|冒水|积水|淹了|内涝|停水|没水|断水|水压低|水质|发黄|浑浊|停电|断电|没电|跳闸|"
    r"漏电|冒火花|打火|电线|飞线|漏气|燃气味|煤气味|臭味|异味|恶臭|发臭|臭气|刺鼻|黑烟|浓烟|冒烟|焚烧|烧垃圾|"
    r"烧秸秆|扬尘|排污|污水|污染|噪音|噪声|扰民|吵得|太吵|轰鸣|垃圾成堆|堆满|没人收|没人清|脏乱|蚊虫|老鼠|"
    r"蟑螂|占道|乱停|违停|乱搭|违建|私搭|乱建|霸占|侵占|拖欠|欠薪|欠着|不发工资|没发工资|工资没|克扣|"
    r"乱收费|多收|收费不|不退|不给办|办不了|拿不到|没拿到|迟迟|过期|变质|发霉|假冒|有毒|隐患|危险|困在|被困"
)
# It has lasted, or keeps happening.
_DURATION = (
    r"长期|长年|多年|多日|多天|好几天|好几个月|几个月|一个月|个把月|一周|一个星期|一礼拜|半年|一年多|至今|"
    r"到现在|到今天|仍未|还没|还是没|一直|天天|每天|每晚|经常|总是|三天两头|反复|屡次|多次|又"
)
# Someone is asked to act, or the writer turns to an authority.
_REQUEST = (
    r"反映|投诉|举报|诉求|求助|恳请|请求|望|希望.{0,8}(解决|处理|管|修|查)|请.{0,6}(解决|处理|管|修|查|落实)|"
    r"尽快|赶紧|麻烦.{0,6}(处理|看看|修|管)|要求.{0,6}(解决|处理|赔|退|补)|有没有人管|没人管|不管|不作为|"
    r"推诿|踢皮球|相关部门|有关部门|网格员|物业|社区|街道|村委|城管|12345|热线"
)
# A grievance phrased as a question.
_GRIEVANCE_QUESTION = r"怎么还|为什么.{0,10}(不|没)|凭什么|到底.{0,8}(管|修|发|给|办)|什么时候(能|才)|还修不修|还发不发|有人管吗"

CUE_FAMILIES = (("fault", _FAULT), ("duration", _DURATION), ("request", _REQUEST),
                ("question", _GRIEVANCE_QUESTION))
_COMPILED = tuple(re.compile(pattern) for _name, pattern in CUE_FAMILIES)


def cue_counts(text: str) -> list[int]:
    """How many matches of each cue family the normalized text holds."""
    norm = normalize(text)
    return [len(pattern.findall(norm)) for pattern in _COMPILED]


class GrievanceCues(TransformerMixin, BaseEstimator):
    """Per cue family: present (0/1) and a second hit (0/1); plus fault together with request."""

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        rows = []
        for text in X:
            counts = cue_counts(text)
            row = []
            for c in counts:
                row += [float(c >= 1), float(c >= 2)]
            row.append(float(counts[0] >= 1 and (counts[1] >= 1 or counts[2] >= 1 or counts[3] >= 1)))
            rows.append(row)
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), 2 * len(_COMPILED) + 1)
        return sparse.csr_matrix(matrix * self.weight)
