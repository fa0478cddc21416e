"""The audit subgraph end to end: party outbox → JetStream → evidence, queries, health and extracts."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

import nats
from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, create_sessionmaker, outbox_table
from shared.events import Actor
from shared.outbox import OutboxRelay
from subgraphs.audit.app import create_app
from subgraphs.audit.extract import write_extract
from subgraphs.audit.models import Evidence
from subgraphs.audit.queries import TrailFilter
from subgraphs.audit.schema import build_schema
from subgraphs.party import service as party_service
from subgraphs.party.commands import RegisterParty
from subgraphs.party.models import LifecycleAction, PartyType
from tests.helpers import GraphQLClient, serve

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "audit.graphql"

TRAIL = """
query Trail($subject: String, $actor: String, $type: String, $first: Int!, $after: String) {
  auditTrail(subject: $subject, actor: $actor, type: $type, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id sequence type source subject aggregateVersion reason correlationId before after
                   actor { sub roles } prevHash hash eventSubject } }
  }
}"""
VERIFY = "{ verifyAuditChain { ok entriesChecked lastSequence firstBadSequence problem message } }"


async def test_sdl_snapshot_is_current() -> None:
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def party_activity(settings: Settings, party_engine: AsyncEngine) -> tuple[str, str]:
    """Registers a party and submits it for verification through the party service; publishes the outbox."""
    sessions = create_sessionmaker(party_engine)
    correlation = uuid.uuid4().hex
    ctx = RequestContext(actor=Actor(sub="rm-7", roles=("rm",)), correlation_id=correlation)
    suffix = uuid.uuid4().hex[:8]
    party = await party_service.register_party(
        UnitOfWork(sessions, ctx),
        data=RegisterParty(party_type=PartyType.ORGANISATION, legal_name=f"Audit Test {suffix} Ltd"),
        idempotency_key=uuid.uuid4().hex,
    )
    await party_service.change_party_status(
        UnitOfWork(sessions, ctx),
        party_id=str(party.id),
        action=LifecycleAction.SUBMIT_FOR_VERIFICATION,
        reason="KYC pack complete",
    )
    nc = await nats.connect(settings.nats_url)
    try:
        await OutboxRelay(engine=party_engine, js=nc.jetstream(), domain="party").drain()
    finally:
        await nc.close()
    return str(party.id), correlation


async def wait_for(predicate, within: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_party_events_become_chained_evidence(
    auditor: GraphQLClient, settings: Settings, party_engine: AsyncEngine
) -> None:
    party_id, correlation = await party_activity(settings, party_engine)

    async def arrived() -> bool:
        data = await auditor.data(TRAIL, {"subject": party_id, "first": 10})
        return bool(data["auditTrail"]["totalCount"] == 2)

    await wait_for(arrived)
    trail = (await auditor.data(TRAIL, {"subject": party_id, "first": 10}))["auditTrail"]
    registered, changed = (e["node"] for e in trail["edges"])
    assert registered["type"] == "PartyRegistered" and changed["type"] == "PartyStatusChanged"
    assert int(registered["sequence"]) < int(changed["sequence"])  # Long: a decimal string
    assert (registered["aggregateVersion"], changed["aggregateVersion"]) == (1, 2)
    assert changed["reason"] == "KYC pack complete" and changed["correlationId"] == correlation
    assert changed["actor"] == {"sub": "rm-7", "roles": ["rm"]}
    assert changed["before"]["status"] == "PROSPECT" and changed["after"]["status"] == "PENDING_VERIFICATION"
    assert changed["eventSubject"] == "finpace.party.party.status_changed" and changed["source"] == "party"
    verdict = (await auditor.data(VERIFY))["verifyAuditChain"]
    assert verdict["ok"] and verdict["firstBadSequence"] is None and verdict["entriesChecked"] >= 2


async def test_every_party_outbox_event_has_exactly_one_evidence_entry(
    auditor: GraphQLClient,
    settings: Settings,
    party_engine: AsyncEngine,
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    for _ in range(3):
        await party_activity(settings, party_engine)
    async with create_sessionmaker(party_engine)() as session:
        published = set(
            (
                await session.execute(select(outbox_table.c.event_id).where(outbox_table.c.published_at.is_not(None)))
            ).scalars()
        )

    async def all_recorded() -> bool:
        async with audit_sessions() as session:
            stored = (
                await session.execute(
                    select(func.count()).select_from(Evidence).where(Evidence.event_id.in_(published))
                )
            ).scalar_one()
        return bool(stored == len(published))

    await wait_for(all_recorded, within=60)
    async with audit_sessions() as session:
        per_event = (
            await session.execute(
                text("SELECT event_id, count(*) AS n FROM audit_evidence GROUP BY event_id HAVING count(*) > 1")
            )
        ).all()
        # One statement, one snapshot: every inbox row has its evidence entry and vice versa.
        unmatched = (
            await session.execute(text("SELECT (SELECT count(*) FROM inbox) - (SELECT count(*) FROM audit_evidence)"))
        ).scalar()
    assert per_event == [] and len(published) >= 6 and unmatched == 0


async def test_trail_pages_and_filters(auditor: GraphQLClient, settings: Settings, party_engine: AsyncEngine) -> None:
    party_id, _ = await party_activity(settings, party_engine)

    async def arrived() -> bool:
        data = await auditor.data(TRAIL, {"subject": party_id, "first": 10})
        return bool(data["auditTrail"]["totalCount"] == 2)

    await wait_for(arrived)
    page1 = (await auditor.data(TRAIL, {"subject": party_id, "first": 1}))["auditTrail"]
    assert page1["pageInfo"]["hasNextPage"] and len(page1["edges"]) == 1
    page2 = (await auditor.data(TRAIL, {"subject": party_id, "first": 1, "after": page1["pageInfo"]["endCursor"]}))[
        "auditTrail"
    ]
    assert not page2["pageInfo"]["hasNextPage"]
    assert page2["edges"][0]["node"]["prevHash"] != page1["edges"][0]["node"]["prevHash"]
    by_type = await auditor.data(TRAIL, {"subject": party_id, "type": "PartyStatusChanged", "first": 10})
    assert by_type["auditTrail"]["totalCount"] == 1
    by_actor = await auditor.data(TRAIL, {"actor": "nobody-" + uuid.uuid4().hex, "first": 10})
    assert by_actor["auditTrail"]["totalCount"] == 0


async def test_bad_input_and_roles_are_refused(auditor: GraphQLClient, settings: Settings) -> None:
    bad = await auditor(TRAIL, {"first": 1000})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    forged = await auditor(TRAIL, {"first": 1, "after": "not-a-cursor"})
    assert forged["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    customer = auditor.with_token(issue_dev_token(settings, role="customer", sub="c-1"))
    refused = await customer(TRAIL, {"first": 1})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused["data"] is None
    ops = auditor.with_token(issue_dev_token(settings, role="ops", sub="o-1"))
    assert (await ops(VERIFY))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await auditor.with_token(None)(VERIFY)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_extracts_as_json_lines_and_csv(
    auditor: GraphQLClient,
    settings: Settings,
    party_engine: AsyncEngine,
    audit_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    party_id, _ = await party_activity(settings, party_engine)

    async def arrived() -> bool:
        data = await auditor.data(TRAIL, {"subject": party_id, "first": 10})
        return bool(data["auditTrail"]["totalCount"] == 2)

    await wait_for(arrived)
    seen: list[tuple[int, int]] = []
    trail = TrailFilter(subject=party_id)
    jsonl = await write_extract(
        audit_sessions,
        tmp_path / "trail.jsonl",
        fmt="jsonl",
        trail=trail,
        progress=lambda done, total: seen.append((done, total)),
    )
    lines = [json.loads(line) for line in (tmp_path / "trail.jsonl").read_text().splitlines()]
    assert jsonl.rows == 2 and seen[-1] == (2, 2)
    assert [r["event_type"] for r in lines] == ["PartyRegistered", "PartyStatusChanged"]
    assert lines[1]["reason"] == "KYC pack complete" and lines[1]["hash"] and lines[1]["prev_hash"]
    everything = await write_extract(audit_sessions, tmp_path / "all.csv", fmt="csv")
    rows = list(csv.DictReader((tmp_path / "all.csv").read_text().splitlines()))
    assert everything.rows == len(rows) >= 2 and len(everything.sha256) == 64
    assert {r["subject"] for r in rows} >= {party_id}
    assert json.loads(next(r for r in rows if r["subject"] == party_id)["actor"])["sub"] == "rm-7"


async def test_stopped_consumer_turns_health_red_and_shows_lag(
    audit_app: tuple[Starlette, str],
    audit_http: httpx.AsyncClient,
    auditor: GraphQLClient,
    settings: Settings,
    party_engine: AsyncEngine,
) -> None:
    app, base = audit_app
    assert (await audit_http.get(f"{base}/health")).status_code == 200
    await app.state.audit.stop_consumer("audit-party")
    try:
        health = await audit_http.get(f"{base}/health")
        ready = await audit_http.get(f"{base}/ready")
        assert health.status_code == 503 and ready.status_code == 503
        assert health.json()["consumers"]["audit-party"]["running"] is False
        await party_activity(settings, party_engine)

        async def lag_visible() -> bool:
            body = (await audit_http.get(f"{base}/metrics")).text
            line = next(
                (x for x in body.splitlines() if x.startswith('finpace_consumer_pending{consumer="audit-party"}')), ""
            )
            down = 'finpace_audit_consumer_up{consumer="audit-party"} 0.0' in body
            return bool(line) and float(line.split()[-1]) >= 2 and down

        await wait_for(lag_visible)
    finally:
        app.state.audit.start_consumer("audit-party")

    async def green() -> bool:
        return (await audit_http.get(f"{base}/ready")).status_code == 200 and (
            await audit_http.get(f"{base}/health")
        ).status_code == 200

    await wait_for(green)


def test_cli_verify_and_extract(
    audit_app: tuple[Starlette, str], audit_config: Any, settings: Settings, tmp_path: Path, monkeypatch: Any
) -> None:
    import contextlib as _contextlib

    from click.testing import CliRunner

    from subgraphs.audit.cli import build_audit_group

    monkeypatch.setenv("FINPACE_AUDIT_CHECKPOINT_DIR", str(audit_config.checkpoint_dir))
    monkeypatch.setenv("FINPACE_AUDIT_SIGNING_KEY", str(audit_config.signing_key))
    group = build_audit_group(lambda: _contextlib.nullcontext(settings))
    runner = CliRunner()
    verified = runner.invoke(group, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert any(line.startswith("OK: ") for line in verified.output.splitlines())
    out = tmp_path / "trail.csv"
    extracted = runner.invoke(group, ["extract", "-o", str(out), "--format", "csv", "--actor", "rm-7"])
    assert extracted.exit_code == 0, extracted.output
    assert "entries written" in extracted.output and out.read_text().startswith("sequence,")
    refused = runner.invoke(group, ["extract", "-o", str(out), "--format", "xml"])
    assert refused.exit_code == 2


async def test_only_the_leader_consumes_and_a_standby_takes_over(
    audit_app: tuple[Starlette, str],
    audit_http: httpx.AsyncClient,
    audit_config: Any,
    auditor: GraphQLClient,
    settings: Settings,
    party_engine: AsyncEngine,
) -> None:
    leader = audit_app[0].state.audit

    async def leads(runtime: Any) -> bool:
        return bool(runtime.leader and all(state.running for state in runtime.consumers.values()))

    async def recorded(client: GraphQLClient, party_id: str) -> bool:
        return bool((await client.data(TRAIL, {"subject": party_id, "first": 10}))["auditTrail"]["totalCount"] == 2)

    await wait_for(lambda: leads(leader))
    second = create_app(settings, config=audit_config)
    try:
        async with serve(second) as second_base:
            standby, via_second = second.state.audit, GraphQLClient(audit_http, f"{second_base}/graphql", auditor.token)
            await asyncio.sleep(5 * audit_config.leader_poll_seconds)  # several tries for the lock, all refused
            assert not standby.leader and not any(state.running for state in standby.consumers.values())
            health = await audit_http.get(f"{second_base}/health")
            assert health.status_code == 200 and health.json()["consumers"]["audit-party"]["role"] == "standby"
            # (finpace_audit_leader is per process: both replicas share this one, so it is not checked here.)

            await leader.stop()  # the lock goes with its connection: the standby takes over
            await wait_for(lambda: leads(standby))
            party_id, _ = await party_activity(settings, party_engine)
            await wait_for(lambda: recorded(via_second, party_id))
            trail = (await via_second.data(TRAIL, {"subject": party_id, "first": 10}))["auditTrail"]
            assert [e["node"]["aggregateVersion"] for e in trail["edges"]] == [1, 2]
            assert (await via_second.data(VERIFY))["verifyAuditChain"]["ok"]
            assert (await audit_http.get(f"{second_base}/health")).json()["consumers"]["audit-party"]["role"] == (
                "leader"
            )
    finally:
        # The second replica has shut down and released the lock: the first leads again (later tests need it).
        if not leader.tasks:
            leader.start()
    await wait_for(lambda: leads(leader))
    party_id, _ = await party_activity(settings, party_engine)
    await wait_for(lambda: recorded(auditor, party_id))
