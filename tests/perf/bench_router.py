"""Benchmark: the router and Apollo Gateway on the same subgraphs, supergraph and queries.

Run with `python -m tests.perf.bench_router [--duration 10] [--concurrency 50] [--write]`.
Each gateway runs alone, pinned to one core; subgraphs and the load generator share the other cores.
"""

from __future__ import annotations

import argparse
import asyncio
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

from tests.router.apollo_gateway import ensure_node_modules
from tests.router.harness import APOLLO, SCENARIOS, free_port, load_subgraphs
from tests.router.regenerate import PLACEHOLDER

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "entities"
QUERIES = {
    "two-hop list": "{ topReviews { body author { name } product { name price } } }",
    "deep nested (7 fetches)": (
        "{ topReviews { author { name reviews { product { name reviews { author { username reviews "
        "{ product { price } } } } } } } } }"
    ),
    "single subgraph": "{ users { id name username } }",
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
    latencies: list[float] = []
    errors = 0
    peak = proc.memory_info().rss
    cpu_before = sum(proc.cpu_times()[:2])
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                resp = await client.post(url, json={"query": query})
                latencies.append(time.perf_counter() - started)
                if resp.status_code != 200 or "errors" in resp.json():
                    errors += 1

        async def sampler() -> None:
            nonlocal peak
            while time.perf_counter() < deadline:
                peak = max(peak, sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))
                await asyncio.sleep(0.1)

        await asyncio.gather(sampler(), *(worker() for _ in range(concurrency)))
    latencies.sort()
    cpu = sum(proc.cpu_times()[:2]) - cpu_before
    return {
        "cpu_ms": cpu / max(len(latencies), 1) * 1000,
        "rps": len(latencies) / duration,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "errors": errors,
        "peak_mb": peak / 2**20,
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
        "| query | gateway | RPS | p50 ms | p95 ms | gateway CPU ms/request | peak RSS MB | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in QUERIES:
        for target in results:
            r = results[target][label]
            lines.append(
                f"| {label} | {target} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['cpu_ms']:.2f} | "
                f"{r['peak_mb']:.0f} | "
                f"{r['errors']} |"
            )
    starts = ", ".join(f"{t} {results[t]['startup_s']:.2f} s" for t in results)
    return "\n".join(lines) + f"\n\nStart-up to first answer: {starts}.\n"


def _write_docs(args, table: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = (
        "## Router\n\n"
        "Method: `python -m tests.perf.bench_router` starts the `entities` test scenario's three Strawberry "
        "subgraphs (one uvicorn process each), composes nothing (both gateways read the same committed "
        "supergraph), then runs each gateway alone, pinned to one core: the router under uvicorn (1 worker, once "
        "per subgraph transport: httpx, the default, and the opt-in native one), "
        "Apollo Gateway 2.14.4 on Node with @apollo/server. "
        f"{args.concurrency} concurrent keep-alive clients send the same query for {args.duration:.0f} s after a "
        f"1 s warm-up. Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. Peak RSS includes the "
        "gateway's child processes. The subgraphs and the load generator share the remaining core(s), so "
        "absolute figures are bounded by them; compare the two gateways with each other.\n\n" + table
    )
    if "## Router" in text:
        head, _, rest = text.partition("## Router")
        tail = rest.split("\n## ", 1)
        text = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


async def main_async(args) -> None:
    ensure_node_modules()
    ports = {name: free_port() for name in load_subgraphs(SCENARIO)}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    gateway_core, others = cores[0], set(cores[1:]) or {cores[0]}
    procs = []
    for name, port in ports.items():
        p = multiprocessing.Process(target=_serve_subgraph, args=(SCENARIO, name, port), daemon=True)
        p.start()
        _pin(p.pid, others)
        procs.append(p)
    _pin(os.getpid(), others)
    try:
        for port in ports.values():
            await _wait_ready(f"http://127.0.0.1:{port}/graphql")
        sdl = (SCENARIOS / SCENARIO / "supergraph.graphql").read_text()
        for name, port in ports.items():
            sdl = sdl.replace(PLACEHOLDER.format(name=name), f"http://127.0.0.1:{port}/graphql")
        with tempfile.TemporaryDirectory() as tmp:
            supergraph = Path(tmp) / "supergraph.graphql"
            supergraph.write_text(sdl)
            results = {}
            for transport in args.transports:
                port = free_port()
                env = {
                    **os.environ,
                    "FINPACE_ROUTER_SUPERGRAPH": str(supergraph),
                    "FINPACE_ROUTER_CSRF_PREVENTION": "0",
                    "FINPACE_ROUTER_SUBGRAPH_TRANSPORT": transport,
                }
                cmd = [
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
                results[f"router ({transport})"] = await _run_target(
                    "router", cmd, env, f"http://127.0.0.1:{port}/graphql", args, gateway_core
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
        "--transports", nargs="+", default=["httpx", "native"], help="router subgraph transports to measure"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
