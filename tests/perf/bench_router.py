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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from router.transport import NativePool, TransportError
from tests.perf.replay import serve_replays
from tests.router.apollo_gateway import ensure_node_modules
from tests.router.harness import APOLLO, SCENARIOS, free_port, load_subgraphs
from tests.router.regenerate import PLACEHOLDER

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


QUERIES = {
    "two-hop list": "{ topReviews { body author { name } product { name price } } }",
    "deep nested (5 fetches)": _chain(4),
    "deep nested (10 fetches)": _chain(9),
    "single subgraph": "{ users { id name username } }",
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


async def _wait_ready(url: str, limit: float = 30.0) -> float:
    start = time.perf_counter()
    async with httpx.AsyncClient() as client:
        while time.perf_counter() - start < limit:
            try:
                resp = await client.post(url, json={"query": "{ __typename }"})
                if resp.status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} did not become ready")


async def _load(url: str, query: str, duration: float, concurrency: int, proc: psutil.Process) -> dict:
    """`concurrency` keep-alive clients post `query` for `duration` seconds (a cheap client: see module doc)."""
    latencies: list[float] = []
    errors = 0
    peak = proc.memory_info().rss
    cpu_before = sum(proc.cpu_times()[:2])
    deadline = time.perf_counter() + duration
    body = json.dumps({"query": query}).encode()
    headers = {"content-type": "application/json", "accept": "application/json"}
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


async def _run_target(name: str, cmd: list[str], env: dict, url: str, args, core: int) -> dict:
    started = time.perf_counter()
    # Started before the event loop has work to do; the call returns at once.
    proc = subprocess.Popen(  # noqa: ASYNC220
        cmd, env=env, cwd=REPO if name == "router" else APOLLO, stdout=subprocess.DEVNULL
    )
    _pin(proc.pid, {core})
    try:
        await _wait_ready(url)
        startup = time.perf_counter() - started
        ps = psutil.Process(proc.pid)
        results = {"startup_s": startup}
        for label, query in QUERIES.items():
            await _load(url, query, 1.0, args.concurrency, ps)  # warm-up: caches, JIT, pools
            results[label] = await _load(url, query, args.duration, args.concurrency, ps)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _table(results: dict) -> str:
    lines = [
        "| query | gateway | RPS | RPS vs Apollo | p50 ms | p95 ms | gateway CPU ms/request | peak RSS MB | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in QUERIES:
        apollo = results.get("Apollo Gateway", {}).get(label)
        for target in results:
            r = results[target][label]
            ratio = f"{r['rps'] / apollo['rps']:.2f}" if apollo and apollo["rps"] else "-"
            lines.append(
                f"| {label} | {target} | {r['rps']:.0f} | {ratio} | {r['p50']:.1f} | {r['p95']:.1f} | "
                f"{r['cpu_ms']:.2f} | {r['peak_mb']:.0f} | {r['errors']} |"
            )
    sizes = ", ".join(f"{label} {results[next(iter(results))][label]['response_bytes']:,} B" for label in QUERIES)
    lines.append(f"\nResponse sizes: {sizes}.")
    starts = ", ".join(f"{t} {results[t]['startup_s']:.2f} s" for t in results)
    return "\n".join(lines) + f"\n\nStart-up to first answer: {starts}.\n"


START, END = "<!-- bench_router:start -->", "<!-- bench_router:end -->"


def _write_docs(args, table: str) -> None:
    """Replace the figures between the markers in docs/benchmarks.md; the prose around them is written by hand."""
    path = REPO / "docs" / "benchmarks.md"
    text = path.read_text()
    run = (
        f"Run of {time.strftime('%Y-%m-%d')}: {args.concurrency} clients, {args.duration:.0f} s per query after a "
        f"1 s warm-up, {os.cpu_count()} cores, Python {sys.version.split()[0]}.\n\n"
    )
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{run}{table}{END}{tail}")


def _router_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "router.app:create_app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


async def main_async(args) -> None:
    ensure_node_modules()
    names = list(load_subgraphs(SCENARIO))
    real = {name: free_port() for name in names}
    replay = {name: free_port() for name in names}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    gateway_core, others = cores[0], set(cores[1:]) or {cores[0]}
    procs = []
    for name, port in real.items():
        p = multiprocessing.Process(target=_serve_subgraph, args=(SCENARIO, name, port), daemon=True)
        p.start()
        _pin(p.pid, others)
        procs.append(p)
    upstreams = {replay[n]: f"http://127.0.0.1:{real[n]}/graphql" for n in names}
    p = multiprocessing.Process(target=serve_replays, args=(upstreams, others), daemon=True)
    p.start()
    procs.append(p)
    _pin(os.getpid(), others)
    try:
        for name in names:
            await _wait_ready(f"http://127.0.0.1:{real[name]}/graphql")
            await _wait_ready(f"http://127.0.0.1:{replay[name]}/graphql")
        sdl = (SCENARIOS / SCENARIO / "supergraph.graphql").read_text()
        for name, port in replay.items():
            sdl = sdl.replace(PLACEHOLDER.format(name=name), f"http://127.0.0.1:{port}/graphql")
        with tempfile.TemporaryDirectory() as tmp:
            supergraph = Path(tmp) / "supergraph.graphql"
            supergraph.write_text(sdl)
            results = {}
            for variant in args.variants:
                port = free_port()
                env = {**os.environ, "FINPACE_ROUTER_SUPERGRAPH": str(supergraph), **ROUTER_ENV, **VARIANTS[variant]}
                results[f"router ({variant})"] = await _run_target(
                    "router", _router_cmd(port), env, f"http://127.0.0.1:{port}/graphql", args, gateway_core
                )
            port = free_port()
            cmd = ["node", str(APOLLO / "gateway.mjs"), str(supergraph), str(port)]
            results["Apollo Gateway"] = await _run_target(
                "apollo", cmd, dict(os.environ), f"http://127.0.0.1:{port}/", args, gateway_core
            )
    finally:
        for p in procs:
            p.terminate()
    table = _table(results)
    print(table)
    if args.write:
        _write_docs(args, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="write the figures to docs/benchmarks.md")
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="router set-ups to measure"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
