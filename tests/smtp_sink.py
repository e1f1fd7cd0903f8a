"""A real SMTP server process that keeps what it is sent: `python tests/smtp_sink.py --port N --log FILE`.

Each message is logged twice, as JSON lines: `data` when its content has arrived, `accepted` just before
the server answers 250. Writing a number of seconds into FILE + ".delay" makes the server wait that long
in between (a slow mail server, or one a client dies waiting on). Used by tests/families/test_worker.py
and bench/mail_bench.py; loopback only.
"""

import argparse
import asyncio
import json
import time
from email import message_from_bytes
from pathlib import Path

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, log: Path):
        self.log = log
        self.delay_file = Path(f"{log}.delay")

    def _write(self, event: str, record: dict) -> None:
        with self.log.open("a") as f:
            f.write(json.dumps({"event": event, "at": time.time(), **record}) + "\n")

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content)
        record = {"message_id": message["Message-ID"], "to": envelope.rcpt_tos, "subject": message["Subject"]}
        self._write("data", record)
        try:
            delay = float(self.delay_file.read_text() or 0)
        except FileNotFoundError:
            delay = 0.0
        await asyncio.sleep(delay)
        self._write("accepted", record)
        return "250 Message accepted for delivery"


async def main(port: int, log: Path) -> None:
    sink = Sink(log)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="sink.localhost", ident="smtp-sink"), "127.0.0.1", port, reuse_address=True
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.log))
