"""`python -m bot`: run the assistant, or replay an exported chat history through it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

from bot import config as config_module
from bot.config import ConfigError
from bot.messages import IncomingMessage, Reply
from bot.store import StoreError
from classifier.corpus import iter_jsonl
from classifier.registry import ModelFileError

log = logging.getLogger("bot")


class JsonLinesChannel:
    """Replay's channel: each reply becomes one JSON line on `out`."""

    def __init__(self, out=sys.stdout):
        self.out = out

    async def send(self, reply: Reply) -> None:
        row = {"in_reply_to": reply.in_reply_to, "group": reply.group_name,
               "to": reply.to_name or reply.to_id, "text": reply.text, "ticket": reply.ticket}
        self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.out.flush()

    async def run(self, on_message) -> None:
        return None

    async def stop(self) -> None:
        return None


def transcript_message(row: dict) -> IncomingMessage:
    """One transcript line as a message; ValueError names what is wrong with it."""
    for key in ("id", "sender_id", "text"):
        if not isinstance(row.get(key), (str, int)) or isinstance(row.get(key), bool) or str(row[key]) == "":
            raise ValueError(f"needs a non-empty {key!r}")
    group = row.get("group")
    if group is not None and not isinstance(group, str):
        raise ValueError("'group' must be a string")
    when = datetime.now(timezone.utc)
    if row.get("time"):
        try:
            when = datetime.fromisoformat(str(row["time"]))
            when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        except ValueError:
            raise ValueError(f"'time' is not ISO 8601: {row['time']!r}") from None
    group = _text(group) if group else None
    return IncomingMessage(message_id=_text(row["id"]), group_id=group, group_name=group,
                           sender_id=_text(row["sender_id"]), sender_name=_text(row.get("sender_name") or row["sender_id"]),
                           text=_text(row["text"]), time=when, in_group=bool(group))


def _text(value) -> str:
    """Text the store can keep: JSON may carry lone surrogates ("\\ud800"); each becomes U+FFFD."""
    return str(value).encode("utf-8", "surrogatepass").decode("utf-8", "replace")


async def replay(settings, transcript: Path, drain_timeout: float) -> int:
    from bot.runtime import open_bot
    from bot.sender import Sender

    channel = JsonLinesChannel()
    bad = 0
    async with open_bot(settings) as bot:
        sender = Sender(bot.store, channel)
        await bot.intake.resume()
        with open(transcript, encoding="utf-8", errors="replace") as fh:
            for number, row, error in iter_jsonl(fh):
                if row is not None:
                    try:
                        msg = transcript_message(row)
                    except ValueError as exc:
                        error = str(exc)
                if error:
                    print(f"{transcript}:{number}: {error}; skipped", file=sys.stderr)
                    bad += 1
                    continue
                await bot.handle(msg)
                await bot.outbox.run_once()
                await sender.send_pending()
        # The transcript is over: nobody can answer a question about a missing place any more, so
        # those tickets are filed with their group's community as the place.
        await bot.intake.expire_all_asks()
        if not await bot.outbox.drain(drain_timeout):
            print("the tracking backend did not take every ticket in time; they stay queued and are sent "
                  "on the next run", file=sys.stderr)
        await sender.send_pending()
    return 0


async def requeue(settings, ticket: int | None, only_list: bool) -> int:
    """Reset set-aside outbox rows so the running (or next) bot sends them again."""
    from bot import tickets
    from bot.store import Store

    store = await Store.open(settings.store_path)
    try:
        rows, said = await tickets.set_aside(store)
        for row in rows:
            print(f"#{row['ticket_id']} {row['kind']} {row['group_name']}: {row['last_error']}")
        if said:
            print(f"{len(said)} replies could not be delivered")
        if only_list:
            return 0
        count = await tickets.requeue(store, ticket)
        print(f"requeued {count} outbox rows; a running bot sends them within seconds, or the next start does")
    finally:
        await store.close()
    return 0


async def digest(settings, day, manager: str | None) -> int:
    """Print the morning digest that covers `day`, as each grid manager gets it (numbers included)."""
    from datetime import datetime, time, timedelta

    from bot import digest as digests
    from bot import replies
    from bot.store import Store
    from classifier.corpus import load_taxonomy
    from classifier.registry import load_current

    people = [manager] if manager else settings.managers()
    if manager and manager not in settings.managers() and manager not in settings.admins:
        raise ConfigError("--manager", f"{manager!r} is not a grid manager or admin in this config")
    model = await asyncio.to_thread(load_current, settings.classifier.model_dir)
    names = load_taxonomy()
    staff = settings.staff_names
    morning = datetime.combine(day + timedelta(days=1), time(*settings.digest.hour_minute), settings.zone)
    store = await Store.open(settings.store_path)
    try:
        for who in people:
            d = await digests.build(settings, store, model, who, day, morning)
            print(f"===== {staff.get(who, who)} ({who}) =====")
            for text in replies.digest(settings, d, names, staff.get(who)):
                print(text)
                print()
    finally:
        await store.close()
    return 0


def channels_for(settings, bot) -> list:
    """The channels config.yaml lists, the chat channel first."""
    made = []
    for name in settings.channels:
        if name == "wechaty":
            from bot.channels.wechaty import WechatyChannel
            made.append(WechatyChannel(settings))
        elif name == "console":
            from bot.channels.console import ConsoleChannel
            made.append(ConsoleChannel(settings))
        else:
            from bot.channels.http import HttpChannel
            made.append(HttpChannel(settings, bot.store, bot.intake.names))
    return made


async def run(settings) -> int:
    from bot.channels.multi import MultiChannel
    from bot.runtime import open_bot, serve

    if settings.http is not None:
        settings.http.token()  # a missing token is a start-up error, before anything opens
    async with open_bot(settings) as bot:
        made = channels_for(settings, bot)
        channel = made[0] if len(made) == 1 else MultiChannel(made)
        log.info("gridbot running: channels %s, %d groups, model %s", ", ".join(settings.channels),
                 len(settings.groups), bot.live_model.version)
        for mode, what in (("observe", "on trial: it listens and says nothing there (see the morning digest)"),
                           ("confirm", "in confirm mode: every ticket waits for its grid manager")):
            names = [g.name for g in settings.groups if g.mode == mode]
            if names:
                log.info("%d group(s) %s: %s. Set `mode: live` in config.yaml when ready.", len(names), what,
                         "、".join(names[:10]) + ("…" if len(names) > 10 else ""))
        await serve(bot, channel)
    return 0


def _day(text: str):
    from datetime import date
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD, e.g. 2026-12-02") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the assistant on the channel named in the config")
    r.add_argument("--config", type=Path, default=Path("config.yaml"), help="config file (default config.yaml)")
    t = sub.add_parser("replay", help="feed an exported chat history (JSON Lines) through the real pipeline; "
                                      "one JSON line per bot reply on stdout")
    t.add_argument("transcript", type=Path, help='lines of {"id","group","sender_id","sender_name","text"[,"time"]}')
    t.add_argument("--config", type=Path, default=Path("config.yaml"))
    t.add_argument("--drain-timeout", type=float, default=60.0,
                   help="seconds to wait at the end for the backend to take queued tickets")
    q = sub.add_parser("requeue", help="send again what the tracking backend refused (after fixing the key, "
                                       "the config or the backend); lists what was set aside with --list")
    q.add_argument("--config", type=Path, default=Path("config.yaml"))
    q.add_argument("--ticket", type=int, help="only this ticket (the local number, as 待确认 shows it)")
    q.add_argument("--list", action="store_true", help="only list what was set aside, with its error")
    d = sub.add_parser("digest", help="print the grid managers' morning digest covering one day (the one sent "
                                      "privately at digest.time the morning after)")
    d.add_argument("--config", type=Path, default=Path("config.yaml"))
    d.add_argument("--date", type=_day, required=True, help="the day the digest covers, YYYY-MM-DD (local time)")
    d.add_argument("--manager", help="only this grid manager's digest (their WeChat id)")
    c = sub.add_parser("check-config", help="validate a config file and exit")
    c.add_argument("--config", type=Path, default=Path("config.yaml"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP call drowns the console
    try:
        settings = config_module.load(args.config)
        if args.command == "check-config":
            modes = {m: sum(1 for g in settings.groups if g.mode == m) for m in ("live", "confirm", "observe")}
            print(f"{args.config}: ok ({len(settings.groups)} groups: {modes['live']} live, {modes['confirm']} confirm,"
                  f" {modes['observe']} observe (silent); channels {', '.join(settings.channels)})")
            return 0
        if args.command == "requeue":
            return asyncio.run(requeue(settings, args.ticket, args.list))
        if args.command == "digest":
            return asyncio.run(digest(settings, args.date, args.manager))
        settings.tracker.api_key()
        if args.command == "replay":
            return asyncio.run(replay(settings, args.transcript, args.drain_timeout))
        return asyncio.run(run(settings))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except ModelFileError as exc:
        print(f"model error: {exc}", file=sys.stderr)
        return 3
    except StoreError as exc:
        print(f"store error: {exc}; the bot stopped taking messages, nothing stored was lost", file=sys.stderr)
        return 4
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
