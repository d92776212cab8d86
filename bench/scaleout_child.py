"""One process of the ``scaleout`` scenario: an ``ImageService`` on the shared PostgreSQL and Redis.

``python -m bench.scaleout_child --base-url URL --database-url URL --redis-url URL --redis-prefix P
--data-dir DIR --output-dir DIR --jobs N --cap C --size WxH`` warms up (imports, connections, the job store,
one image), prints ``{"ready": true}``, waits for a line on stdin, runs its N jobs at once, and prints
``{"ended": <monotonic>, "succeeded": n, "errors": [...]}`` (the monotonic clock is the machine's, shared
with the parent and the emulator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import REQUESTER, bench_settings
from core.factory import open_service
from core.requests import GenerateRequest
from core.results import JobStatus


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(Path(args.data_dir), args.base_url, ark_concurrency=args.cap,
                              database_url=args.database_url, redis_url=args.redis_url,
                              redis_prefix=args.redis_prefix, output_dir=Path(args.output_dir))
    async with open_service(settings) as service:
        await service.generate(GenerateRequest.create(prompt="warm-up", size=args.size), requester=REQUESTER)
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        generations = await asyncio.gather(*(
            service.generate(GenerateRequest.create(prompt=f"scaleout {args.name} job {i}", size=args.size),
                             requester=REQUESTER)
            for i in range(args.jobs)))
        ended = time.monotonic()
    errors = [str(g.error) for g in generations if g.status is not JobStatus.SUCCEEDED]
    return {"ended": ended, "succeeded": len(generations) - len(errors), "errors": errors[:3]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    for option in ("--base-url", "--database-url", "--redis-url", "--redis-prefix", "--data-dir", "--output-dir",
                   "--name", "--size"):
        parser.add_argument(option, required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--cap", type=int, required=True)
    print(json.dumps(asyncio.run(run(parser.parse_args(argv)))), flush=True)


if __name__ == "__main__":
    main()
