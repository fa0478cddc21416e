"""Stopping background tasks at shutdown: a swallowed cancellation is retried, and the wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib

from shared.tasks import stop_tasks


async def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                # What asyncio.wait_for does on Python 3.11 when cancellation races its inner future.
                if swallowed == 0:
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    assert await stop_tasks([task], within=5) == []
    assert task.cancelled()
    assert swallowed == 1


async def test_a_task_that_never_ends_is_reported_after_the_deadline() -> None:
    release = asyncio.Event()

    async def immortal() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    task = asyncio.create_task(immortal(), name="immortal")
    done = asyncio.create_task(asyncio.sleep(0), name="done-already")
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await stop_tasks([task, done], within=1.0) == ["immortal"]
    assert loop.time() - started < 5
    release.set()
    task.cancel()
    await asyncio.wait([task], timeout=2)
    assert task.done()


async def test_a_failed_task_does_not_stop_the_others_from_being_stopped() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failing = asyncio.create_task(fails(), name="fails")
    sleeper = asyncio.create_task(asyncio.sleep(3600), name="sleeper")
    await asyncio.sleep(0)
    assert await stop_tasks([failing, sleeper], within=5) == []
    assert sleeper.cancelled()
    assert isinstance(failing.exception(), RuntimeError)
