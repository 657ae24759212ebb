"""Assembles the bot from its settings and runs it: intake, outbox, status poller, reply sender."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

from bot import daily
from bot.config import ConfigError, Settings
from bot.intake import Intake
from bot.live_model import LiveModel
from bot.messages import IncomingMessage
from bot.outbox import Outbox, StatusPoller
from bot.retrain import Retrainer
from bot.sender import Sender
from bot.store import Store, StoreError
from bot.tracker import RetryPolicy, TrackerClient

log = logging.getLogger(__name__)


@dataclass
class Bot:
    settings: Settings
    store: Store
    tracker: TrackerClient
    live_model: LiveModel
    intake: Intake
    outbox: Outbox
    poller: StatusPoller
    retrainer: Retrainer

    async def handle(self, msg: IncomingMessage) -> None:
        try:
            await self.intake.handle(msg)
        except StoreError:
            raise  # the bot stops taking work rather than dropping it
        except Exception:
            # The message is stored; resume() on the next start finishes it.
            log.exception("processing message %s failed", msg.message_id)


@asynccontextmanager
async def open_bot(settings: Settings, tracker_transport=None, check_key: bool = True) -> AsyncIterator[Bot]:
    """Every part opened, the intake resumed; closed again on exit. Errors here stop start-up:
    a tracking backend that refuses the api key is a ConfigError (exit code 2), before any
    complaint could be refused with it."""
    live_model = await asyncio.to_thread(LiveModel, settings.classifier.model_dir, settings.classifier.reload_interval)
    store = await Store.open(settings.store_path)
    tracker = TrackerClient(settings.tracker.base_url, settings.tracker.api_key(),
                            jurisdiction_id=settings.tracker.jurisdiction_id, timeout=settings.tracker.timeout,
                            retry=RetryPolicy(max_attempts=settings.tracker.max_attempts),
                            key_on_reads=settings.tracker.key_on_reads,
                            transport=tracker_transport)
    try:
        if check_key and await tracker.check_key() is False:
            raise ConfigError("tracker.api_key_env", f"the tracking backend at {settings.tracker.base_url} refused the "
                              f"api key in {settings.tracker.api_key_env} (401/403): set the right key and start again")
        retrainer = Retrainer(settings.classifier.model_dir, settings.store_path, live_model)
        intake = Intake(settings, store, live_model, retrainer)
        outbox = Outbox(store, tracker, intake.names, parallel=settings.tracker.parallel,
                        on_refused=intake.refused_for_managers)
        intake.wake_outbox = outbox.wake
        await intake.start()
        poller = StatusPoller(store, tracker, intake.names, settings.tracker.poll_interval)
        yield Bot(settings, store, tracker, live_model, intake, outbox, poller, retrainer)
    finally:
        await tracker.aclose()
        await store.close()


async def serve(bot: Bot, channel, stop: asyncio.Event | None = None) -> None:
    """Run the channel and the background workers until the channel ends or a signal arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    sender = Sender(bot.store, channel)
    bot.outbox.replies_queued = sender.wake
    await bot.intake.resume()
    async def expire_asks() -> None:
        """Questions about a missing place that nobody answered in time: file those tickets."""
        while not stop.is_set():
            try:
                if await bot.intake.expire_asks():
                    sender.wake()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("filing unanswered place questions failed")
            try:
                await asyncio.wait_for(stop.wait(), 30)
            except asyncio.TimeoutError:
                pass

    workers = [asyncio.create_task(bot.outbox.run(stop), name="outbox"),
               asyncio.create_task(expire_asks(), name="asks"),
               asyncio.create_task(bot.poller.run(stop), name="poller"),
               asyncio.create_task(sender.run(stop), name="sender"),
               asyncio.create_task(daily.run(bot, stop, sender.wake), name="daily")]
    if bot.settings.alarm is not None:
        from bot.alarm import Alarm
        workers.append(asyncio.create_task(Alarm(bot.settings, bot.store, channel).run(stop), name="alarm"))

    async def on_message(msg: IncomingMessage) -> None:
        await bot.handle(msg)
        sender.wake()

    listener = asyncio.create_task(channel.run(on_message), name="channel")
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({listener, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if listener in done and listener.exception():
            raise listener.exception()
        if listener in done:
            await bot.outbox.drain(10)  # input ended (a piped console): finish what it started
    finally:
        stop.set()
        # Workers finish the step they are in: each state change is one transaction, so none is half done.
        await asyncio.gather(*workers, return_exceptions=True)
        # Say what is already decided while the channel is still up; what cannot go out in time
        # stays queued in the store and is sent at the next start.
        try:
            await asyncio.wait_for(sender.send_pending(), 2)
        except (asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - shutting down either way
            log.warning("replies left queued for the next start: %r", exc)
        await channel.stop()
        listener.cancel()
        stopper.cancel()
