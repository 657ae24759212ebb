"""A backend that closes its Open311 reads: the bot reads statuses only when told to send its key."""

from pathlib import Path

import pytest

from backend.process import BackendProcess
from bot.tracker import PermanentTrackerError, TrackerClient

DEFAULTS = Path(__file__).resolve().parents[1] / "backend" / "defaults.yaml"


@pytest.fixture()
def closed_backend(tmp_path):
    text = DEFAULTS.read_text(encoding="utf-8").replace("taxonomy: ../taxonomy.yaml",
                                                        f"taxonomy: {DEFAULTS.parent.parent / 'taxonomy.yaml'}")
    config = tmp_path / "closed.yaml"
    config.write_text(text.replace("require_key_for_reads: false", "require_key_for_reads: true"), encoding="utf-8")
    with BackendProcess(tmp_path / "b.db", api_keys=["k"], config=config) as proc:
        yield proc


async def test_reads_carry_the_key_only_when_configured(closed_backend):
    async with TrackerClient(closed_backend.base_url, "k", key_on_reads=True) as client:
        made = await client.create("lighting", "3栋路灯坏了", address_string="彭家场社区",
                                   group="景湖名都业主群", message_id="m1")
        assert (await client.get(made.service_request_id)).status == "open"
        assert len(await client.get_many([made.service_request_id])) == 1
    async with TrackerClient(closed_backend.base_url, "k") as client:
        with pytest.raises(PermanentTrackerError) as err:
            await client.get(made.service_request_id)
        assert err.value.status in (401, 403)
