"""Server limits (issue 14, items 11-13) against the reference backend as a subprocess."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from backend.process import BackendProcess
from tests.backend_fixtures import API_KEY, PASSWORD, add_staff, login_token


async def _attempts(base_url: str, username: str, passwords: list[str]) -> list[int]:
    """Log-in attempts sent at once, each from its own browser session (its own form token)."""
    clients = [httpx.AsyncClient(base_url=base_url) for _ in passwords]
    try:
        tokens = [login_token((await c.get("/login")).text) for c in clients]
        answers = await asyncio.gather(*(c.post("/login", data={"username": username, "password": p,
                                                                 "csrf_token": t, "next": "/"})
                                         for c, p, t in zip(clients, passwords, tokens)))
        return [a.status_code for a in answers]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def test_parallel_guesses_meet_the_failed_login_limit(tmp_path):
    with BackendProcess(tmp_path / "backend.db", api_keys=[API_KEY]) as backend:
        staff = add_staff(backend, groups=["景湖名都业主群"])
        codes = await _attempts(backend.base_url, staff.username, ["wrong-guess"] * 40)
        assert codes.count(401) <= 5 and codes.count(429) >= 35, codes  # 5 failures per account name
        # A burst with the right password last: the last one is refused too.
        codes = await _attempts(backend.base_url, staff.username, ["wrong-again"] * 9 + [PASSWORD])
        assert codes[-1] == 429 and 303 not in codes, codes


def test_a_chunked_multipart_body_is_capped_before_it_is_parsed(tracking_backend):
    boundary = "gridbot"

    def chunks():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n").encode()
        for _ in range(300):  # 300 x 64 KB = about 19 MB, sent without a Content-Length
            yield b"x" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    with httpx.Client(base_url=tracking_backend.base_url, timeout=30) as http:
        answer = http.post("/requests.json", content=chunks(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 413


@pytest.mark.parametrize("body", [
    '{"api_key": "%s", "service_code": "lighting", "description": "\\ud800", "attribute[group]": "g",'
    ' "address_string": "3栋"}' % API_KEY,
    "[" * 30000 + "]" * 30000,
])
def test_bad_json_is_a_400_not_a_500(tracking_backend, body):
    with httpx.Client(base_url=tracking_backend.base_url) as http:
        answer = http.post("/requests.json", content=body.encode(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()[0]["code"] == 400
