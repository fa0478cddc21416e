"""Benchmark: the router and Apollo Gateway on the same subgraphs, supergraph and queries.

Run with `python -m tests.perf.bench_router [--duration 10] [--concurrency 50] [--write]`.
Each gateway runs alone, pinned to one core. The subgraphs sit behind replaying servers (tests/perf/replay.py)
and the load generator uses the router's lean HTTP client, all on the other core(s), so that the gateway is
the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from router.transport import NativePool, TransportError
from tests.perf.replay import serve_replays
from tests.router.apollo_gateway import ensure_node_modules
from tests.router.harness import APOLLO, SCENARIOS, free_port, load_subgraphs

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "entities"


def _chain(levels: int) -> str:
    """topReviews, then `levels` alternating jumps author (accounts) / product (products): levels + 1 fetches."""
    leaves = [("author", "name"), ("product", "name"), ("author", "username"), ("product", "price")]
    inner = ""
    for i in reversed(range(levels)):
        field, leaf = leaves[i % 4]
        inner = f"{field} {{ {leaf}" + (f" reviews {{ {inner} }}" if inner else "") + " }"
    return "{ topReviews { " + inner + " } }"


Query = tuple[str, dict[str, Any]]  # document and variables
QUERIES: dict[str, Query] = {
    "two-hop list": ("{ topReviews { body author { name } product { name price } } }", {}),
    "deep nested (5 fetches)": (_chain(4), {}),
    "deep nested (10 fetches)": (_chain(9), {}),
    "single subgraph": ("{ users { id name username } }", {}),
}
# Router settings for the run: limits wide enough for the deep queries (the defaults would refuse them).
ROUTER_ENV = {
    "FINPACE_ROUTER_CSRF_PREVENTION": "0",
    "FINPACE_ROUTER_MAX_DEPTH": "64",
    "FINPACE_ROUTER_MAX_COST": str(10**15),
}
VARIANTS = {
    "native": {"FINPACE_ROUTER_SUBGRAPH_TRANSPORT": "native"},
    "native, no coalescing": {"FINPACE_ROUTER_SUBGRAPH_TRANSPORT": "native", "FINPACE_ROUTER_COALESCE_REQUESTS": "0"},
    "httpx": {"FINPACE_ROUTER_SUBGRAPH_TRANSPORT": "httpx"},
}


def _serve_subgraph(scenario: str, name: str, port: int) -> None:
    import uvicorn
    from strawberry.asgi import GraphQL

    schema = load_subgraphs(scenario)[name]
    uvicorn.run(GraphQL(schema), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _pin(pid: int, cores: set[int]) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, cores)


async def _wait_ready(url: str, limit: float = 30.0, headers: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    async with httpx.AsyncClient() as client:
        while time.perf_counter() - start < limit:
            try:
                resp = await client.post(url, json={"query": "{ __typename }"}, headers=headers or {})
                if resp.status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} did not become ready")


async def _load(url: str, query: Query, duration: float, concurrency: int, proc: psutil.Process,
                headers: dict[str, str]) -> dict:
    """`concurrency` keep-alive clients post `query` for `duration` seconds (a cheap client: see module doc)."""
    latencies: list[float] = []
    errors = 0
    peak = proc.memory_info().rss
    cpu_before = sum(proc.cpu_times()[:2])
    deadline = time.perf_counter() + duration
    document, variables = query
    body = json.dumps({"query": document, "variables": variables}).encode()
    headers = {"content-type": "application/json", "accept": "application/json", **headers}
    pool = NativePool(max_connections=concurrency)
    size = 0

    async def worker() -> None:
        nonlocal errors, size
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status, _, answer = await pool.post(url, body, headers)
            except TransportError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            size = len(answer)
            if status != 200 or b'"errors"' in answer:
                errors += 1

    async def sampler() -> None:
        nonlocal peak
        while time.perf_counter() < deadline:
            peak = max(peak, sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))
            await asyncio.sleep(0.1)

    try:
        await asyncio.gather(sampler(), *(worker() for _ in range(concurrency)))
    finally:
        await pool.aclose()
    latencies.sort()
    cpu = sum(proc.cpu_times()[:2]) - cpu_before
    return {
        "cpu_ms": cpu / max(len(latencies), 1) * 1000,
        "rps": len(latencies) / duration,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "errors": errors,
        "peak_mb": peak / 2**20,
        "response_bytes": size,
    }


async def _run_target(name: str, cmd: list[str], env: dict, url: str, args, core: int, graph: Graph) -> dict:
    started = time.perf_counter()
    # Started before the event loop has work to do; the call returns at once.
    proc = subprocess.Popen(  # noqa: ASYNC220
        cmd, env=env, cwd=REPO if name == "router" else APOLLO, stdout=subprocess.DEVNULL
    )
    _pin(proc.pid, {core})
    headers = graph.client_headers() if name == "router" else {}
    try:
        await _wait_ready(url, headers=headers)
        startup = time.perf_counter() - started
        ps = psutil.Process(proc.pid)
        results = {"startup_s": startup}
        for label, query in _selected(graph.queries, args).items():
            await _load(url, query, 1.0, args.concurrency, ps, headers)  # warm-up: caches, JIT, pools
            results[label] = await _load(url, query, args.duration, args.concurrency, ps, headers)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _selected(queries: dict[str, Query], args) -> dict[str, Query]:
    """The graph's queries that --queries names (all of them by default)."""
    return {label: q for label, q in queries.items() if not args.queries or label in args.queries}


def _table(results: dict, queries: dict[str, Query]) -> str:
    lines = [
        "| query | gateway | RPS | RPS vs Apollo | p50 ms | p95 ms | gateway CPU ms/request | peak RSS MB | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in queries:
        apollo = results.get("Apollo Gateway", {}).get(label)
        for target in results:
            r = results[target][label]
            ratio = f"{r['rps'] / apollo['rps']:.2f}" if apollo and apollo["rps"] else "-"
            lines.append(
                f"| {label} | {target} | {r['rps']:.0f} | {ratio} | {r['p50']:.1f} | {r['p95']:.1f} | "
                f"{r['cpu_ms']:.2f} | {r['peak_mb']:.0f} | {r['errors']} |"
            )
    sizes = ", ".join(f"{label} {results[next(iter(results))][label]['response_bytes']:,} B" for label in queries)
    lines.append(f"\nResponse sizes: {sizes}.")
    starts = ", ".join(f"{t} {results[t]['startup_s']:.2f} s" for t in results)
    return "\n".join(lines) + f"\n\nStart-up to first answer: {starts}.\n"


def _write_docs(args, table: str, marker: str) -> None:
    """Replace the figures between the graph's markers in docs/benchmarks.md; the prose around them is by hand."""
    START, END = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    path = REPO / "docs" / "benchmarks.md"
    text = path.read_text()
    run = (
        f"Run of {time.strftime('%Y-%m-%d')}: {args.concurrency} clients, {args.duration:.0f} s per query after a "
        f"1 s warm-up, {os.cpu_count()} cores, Python {sys.version.split()[0]}.\n\n"
    )
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{run}{table}{END}{tail}")


def _router_cmd(port: int, factory: str = "router.app:create_app") -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


@dataclass
class Graph:
    """What the gateways are measured on: upstream subgraphs, each gateway's supergraph, queries, credentials."""

    marker: str  # the figures' markers in docs/benchmarks.md
    upstreams: dict[str, str]  # subgraph name -> real URL
    supergraph: str  # what the router reads (placeholders or real URLs replaced later)
    apollo_supergraph: str
    queries: dict[str, Query]
    router_factory: str = "router.app:create_app"
    router_env: dict[str, str] = field(default_factory=dict)
    token: Any = None  # () -> bearer token for the router's requests, or None
    replay_headers: dict[str, str] = field(default_factory=dict)

    def client_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token()}"} if self.token else {}


def _entities_graph(others: set[int], procs: list) -> Graph:
    """The `entities` scenario's three Strawberry subgraphs, each in its own process on the other core(s)."""
    names = list(load_subgraphs(SCENARIO))
    real = {name: free_port() for name in names}
    for name, port in real.items():
        p = multiprocessing.Process(target=_serve_subgraph, args=(SCENARIO, name, port), daemon=True)
        p.start()
        _pin(p.pid, others)
        procs.append(p)
    sdl = (SCENARIOS / SCENARIO / "supergraph.graphql").read_text()
    return Graph(marker="bench_router", upstreams={n: f"http://127.0.0.1:{real[n]}/graphql" for n in names},
                 supergraph=sdl, apollo_supergraph=sdl, queries=QUERIES)


def _platform_graph(platform: Any) -> Graph:
    """The project's graph (tests/perf/platform_graph.py): the committed supergraph, the two persisted views."""
    from tests.perf.platform_graph import SUPERGRAPH, without_security
    from tests.perf.platform_router import DATA_DIR_ENV

    sdl = SUPERGRAPH.read_text()
    return Graph(marker="bench_platform", upstreams=dict(platform.urls), supergraph=sdl,
                 apollo_supergraph=without_security(sdl), queries=platform.queries(),
                 router_factory="tests.perf.platform_router:router_app",
                 router_env={DATA_DIR_ENV: str(platform.settings.data_dir)},
                 token=platform.token, replay_headers={"authorization": f"Bearer {platform.token()}"})


def _pointed_at(sdl: str, replay: dict[str, int]) -> str:
    """The supergraph with every subgraph's URL (placeholder or real) pointed at its replaying server."""
    for name, port in replay.items():
        sdl = re.sub(rf'(@join__graph\(name: "{re.escape(name)}", url: )"[^"]*"', rf'\1"http://127.0.0.1:{port}/graphql"',
                     sdl)
    return sdl


async def _measure(graph: Graph, args, gateway_core: int, others: set[int], procs: list) -> dict:
    names = list(graph.upstreams)
    replay = {name: free_port() for name in names}
    upstreams = {replay[n]: graph.upstreams[n] for n in names}
    p = multiprocessing.Process(target=serve_replays, args=(upstreams, others, graph.replay_headers), daemon=True)
    p.start()
    procs.append(p)
    for name in names:
        await _wait_ready(graph.upstreams[name], headers=graph.replay_headers)
        await _wait_ready(f"http://127.0.0.1:{replay[name]}/graphql")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        supergraph, apollo_supergraph = Path(tmp) / "supergraph.graphql", Path(tmp) / "apollo.graphql"
        supergraph.write_text(_pointed_at(graph.supergraph, replay))
        apollo_supergraph.write_text(_pointed_at(graph.apollo_supergraph, replay))
        for variant in args.variants:
            port = free_port()
            env = {**os.environ, "FINPACE_ROUTER_SUPERGRAPH": str(supergraph), **ROUTER_ENV, **graph.router_env,
                   **VARIANTS[variant]}
            results[f"router ({variant})"] = await _run_target(
                "router", _router_cmd(port, graph.router_factory), env, f"http://127.0.0.1:{port}/graphql", args,
                gateway_core, graph)
        port = free_port()
        cmd = ["node", str(APOLLO / "gateway.mjs"), str(apollo_supergraph), str(port)]
        results["Apollo Gateway"] = await _run_target(
            "apollo", cmd, dict(os.environ), f"http://127.0.0.1:{port}/", args, gateway_core, graph)
    return results


async def main_async(args) -> None:
    ensure_node_modules()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    gateway_core, others = cores[0], set(cores[1:]) or {cores[0]}
    _pin(os.getpid(), others)
    procs: list = []
    try:
        if "entities" in args.graphs:
            graph = _entities_graph(others, procs)
            _report(args, graph, await _measure(graph, args, gateway_core, others, procs))
        if "platform" in args.graphs:
            from tests.perf.platform_graph import seeded_platform

            async with seeded_platform() as platform:
                graph = _platform_graph(platform)
                _report(args, graph, await _measure(graph, args, gateway_core, others, procs))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()


def _report(args, graph: Graph, results: dict) -> None:
    table = _table(results, _selected(graph.queries, args))
    print(f"## {graph.marker}\n{table}", flush=True)
    if args.write:
        _write_docs(args, table, graph.marker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="write the figures to docs/benchmarks.md")
    parser.add_argument("--graphs", nargs="+", default=["entities", "platform"], choices=["entities", "platform"],
                        help="the test scenario's subgraphs and/or the project's seeded subgraphs")
    parser.add_argument("--queries", nargs="+", default=[], metavar="LABEL",
                        help="measure only the queries with these labels (e.g. 'single subgraph'); --write needs all")
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="router set-ups to measure"
    )
    args = parser.parse_args()
    if args.write and args.queries:
        parser.error("--write records every query; leave out --queries")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
