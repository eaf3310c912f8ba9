"""Client overhead: create_incident and add_work_note through ServiceNowClient vs a bare httpx loop.

Both talk to the ServiceNow emulator on a loopback port (in its own process), at the same concurrency,
sending the same query (the bare loop copies the one the client sent), in interleaved rounds of the same
run (which goes first alternates). The ratio is the median of the rounds' bare/client rps ratios, so a
machine that is busy in one round moves both sides of that round's ratio (aim <= 1.3x).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from benchmarks.common import Timer, save, serve_in_process
from servicenow import ServiceNowClient, parse_credentials

REQUESTS = 400
CONCURRENCY = 8
ROUNDS = 7


def make_servicenow(base_url: str) -> Any:
    from emulators.servicenow import ServiceNowEmulator

    return ServiceNowEmulator(base_url=base_url)


async def _run(n: int, op: Callable[[int], Awaitable[object]]) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await op(i)

    with Timer() as timer:
        await asyncio.gather(*(one(i) for i in range(n)))
    return n / timer.elapsed


async def _bench(base_url: str) -> dict[str, dict[str, Any]]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    client = ServiceNowClient.connect(base_url, parse_credentials("admin:admin"), allow_insecure=True)
    bare = httpx.AsyncClient(
        base_url=base_url,
        auth=("admin", "admin"),
        headers={"Accept": "application/json"},
        limits=limits,
        timeout=10.0,
    )
    sent: dict[str, dict[str, str]] = {}

    async def record(request: httpx.Request) -> None:
        sent.setdefault(request.method, dict(request.url.params))

    hooks = client._http.event_hooks["request"]  # the bare loop sends exactly the client's query
    hooks.append(record)
    async with client, bare:
        seed = await client.create_incident({"short_description": "bench seed"})
        sys_id = seed.sys_id
        await client.add_work_note(sys_id, "bench seed note")
        post_params, patch_params = sent["POST"], sent["PATCH"]
        hooks.remove(record)

        async def client_create(i: int) -> None:
            await client.create_incident({"short_description": f"bench {i}", "urgency": "2", "impact": "2"})

        async def bare_create(i: int) -> None:
            r = await bare.post(
                "/api/now/table/incident",
                params=post_params,
                json={"short_description": f"bench {i}", "urgency": "2", "impact": "2"},
            )
            r.raise_for_status()
            r.json()

        async def client_note(i: int) -> None:
            await client.add_work_note(sys_id, f"note {i}")

        async def bare_note(i: int) -> None:
            r = await bare.patch(
                f"/api/now/table/incident/{sys_id}",
                params=patch_params,
                json={"work_notes": f"note {i}"},
            )
            r.raise_for_status()
            r.json()

        figures: dict[str, dict[str, Any]] = {}
        for name, ours, theirs in (
            ("create_incident", client_create, bare_create),
            ("add_work_note", client_note, bare_note),
        ):
            await _run(50, ours)  # warm up both paths
            await _run(50, theirs)
            client_rps, bare_rps = [], []
            for n in range(ROUNDS):
                if n % 2:
                    bare_rps.append(await _run(REQUESTS, theirs))
                    client_rps.append(await _run(REQUESTS, ours))
                else:
                    client_rps.append(await _run(REQUESTS, ours))
                    bare_rps.append(await _run(REQUESTS, theirs))
            ratios = [b / c for b, c in zip(bare_rps, client_rps, strict=True)]
            figures[name] = {
                "client_rps": round(statistics.median(client_rps), 1),
                "bare_httpx_rps": round(statistics.median(bare_rps), 1),
                "ratio": round(statistics.median(ratios), 3),
                "ratio_spread": [round(min(ratios), 3), round(max(ratios), 3)],
                "sysparm_fields": (post_params if name == "create_incident" else patch_params).get(
                    "sysparm_fields", ""
                ),
            }
        return figures


def main() -> None:
    with serve_in_process(make_servicenow) as base_url:
        figures = asyncio.run(_bench(base_url))
    print(
        f"client overhead vs bare httpx ({REQUESTS} requests x {ROUNDS} interleaved rounds, median ratio, "
        f"concurrency {CONCURRENCY}):"
    )
    for name, f in figures.items():
        print(
            f"  {name:16s} client {f['client_rps']:8.1f} req/s   bare httpx {f['bare_httpx_rps']:8.1f} req/s"
            f"   ratio {f['ratio']:.2f}x (rounds {f['ratio_spread'][0]:.2f}-{f['ratio_spread'][1]:.2f}; aim <= 1.3x)"
        )
        print(f"  {'':16s} sysparm_fields={f['sysparm_fields']}")
    save("client", figures)


if __name__ == "__main__":
    main()
