"""One masking for everything others see (common/masking.py): the bot's group replies and the
backend's lists, exports and public Open311 reads use the same function, tested on every form
the review found getting through."""

from __future__ import annotations

import httpx
import pytest

from backend import privacy
from bot import replies
from common.masking import mask
from tests.backend_fixtures import API_KEY

CASES = [  # (as typed, what must not be seen, what is seen)
    ("工资卡6222021234567890123", "2021234567890", "工资卡622************0123"),
    ("身份证420106900101123", "0106900101", "身份证420********1123"),       # the old 15-digit ID card
    ("42010619900101123X", "19900101", "420***********123X"),
    ("电话138.1234.5678", "1234", "电话138.****.5678"),
    ("电话138 1234 5678", "1234", "电话138 **** 5678"),
    ("电话1 3 8 1 2 3 4 5 6 7 8", "2 3 4 5", "电话1 3 8 * * * * 5 6 7 8"),
    ("电话1\u200b3\u200b8\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8", "1\u200b2\u200b3\u200b4",
     "电话1\u200b3\u200b8\u200b*\u200b*\u200b*\u200b*\u200b5\u200b6\u200b7\u200b8"),
    ("电话一三八一二三四五六七八", "一二三四", "电话一三八****五六七八"),
    ("手机１３８１２３４５６７８", "１２３４", "手机１３８****５６７８"),
    ("+86 13812345678", "1234", "+86 138****5678"),
    ("座机027-87654321", "8765", "座机027-****4321"),
]
KEPT = ["工单GX20261202-0001", "3栋2单元502室", "12-3-502", "欠薪15000元", "2026-12-02 09:00", "一二三四五", "#12"]


@pytest.mark.parametrize("typed, hidden, shown", CASES, ids=[c[0] for c in CASES])
def test_personal_numbers_however_typed(typed, hidden, shown):
    assert mask(typed) == shown and hidden not in mask(typed)
    assert len(mask(typed)) == len(typed)
    # The bot and the backend use this very function.
    assert replies.mask_personal(typed) == shown and privacy.mask(typed) == shown


@pytest.mark.parametrize("text", KEPT)
def test_numbers_that_are_not_personal_stay(text):
    assert mask(text) == text


def test_the_bot_never_posts_a_bank_card_in_a_group():
    said = replies.status_update("GX20261202-0001", "拖欠工资", "open", "已联系老板，工资卡6222021234567890123", None)
    assert "6222021234567890123" not in said and "622************0123" in said


def test_public_open311_reads_mask_notes_and_address(tracking_backend):
    base = tracking_backend.base_url
    with httpx.Client(base_url=base) as http:
        made = http.post("/requests.json", data={
            "api_key": API_KEY, "service_code": "wages", "description": "老板拖欠工资",
            "address_string": "3栋 联系人电话13812345678", "attribute[group]": "景湖名都业主群"}).json()
        number = made[0]["service_request_id"]
        http.post(f"/requests/{number}/status.json", data={
            "api_key": API_KEY, "status": "open", "status_notes": "已联系居民138.1234.5678，工资卡6222021234567890123"})
        for read in (http.get(f"/requests/{number}.json").json()[0],
                     next(r for r in http.get("/requests.json").json() if r["service_request_id"] == number)):
            assert "13812345678" not in read["address"] and "138****5678" in read["address"]
            assert "1234.5678" not in read["status_notes"] and "6222021234567890123" not in read["status_notes"]
