"""clusterdns with a changing cluster: every INTERVAL seconds one endpoint of the big headless
service flips between ready and not ready, as an informer event would, so the index (and
every cache keyed on its generation) changes under load: bench/run.py runs it at 1 and 20
changes a second under the large mix.

python -m bench.churn COREFILE SNAPSHOT HOST:PORT INTERVAL
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

from clusterdns.plugins.kubernetes.objects import EndpointSlice
from clusterdns.server.app import ClusterDNS, ServeOptions
from clusterdns.server.workers import run


def flipped(endpoint_slice: EndpointSlice) -> EndpointSlice:
    first, *rest = endpoint_slice.endpoints
    first = dataclasses.replace(first, ready=not first.ready)
    return dataclasses.replace(endpoint_slice, endpoints=(first, *rest))


async def serve_with_churn(options: ServeOptions, interval: float) -> None:
    server = ClusterDNS(options)
    await server.start()
    state = server.state
    key = max(state.slices, key=lambda k: len(state.slices[k].endpoints))
    try:
        while True:
            await asyncio.sleep(interval)
            state.upsert(flipped(state.slices[key]))
    finally:
        await server.stop()


def main() -> None:
    corefile, snapshot, listen, interval = sys.argv[1:5]
    options = ServeOptions(conf=Path(corefile), snapshot=Path(snapshot), listen=listen)
    run(serve_with_churn(options, float(interval)))  # on uvloop, as `clusterdns serve`


if __name__ == "__main__":
    main()
