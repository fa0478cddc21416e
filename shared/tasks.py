"""Background task lifecycle: stop a service's long-running tasks at shutdown, bounded in time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# How often a task that survived its cancellation is cancelled again while we wait.
_RECANCEL_SECONDS = 0.5


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, within: float = 10.0) -> list[str]:
    """Cancels the tasks and waits for them to finish; returns the names of those still running after `within` seconds.

    One `cancel()` is not always enough: on Python 3.11 `asyncio.wait_for` swallows a cancellation that
    arrives as its inner future completes (nats-py's `fetch` waits that way), and the loop around it then
    carries on. A task that is still running is therefore cancelled again every half second until it ends
    or the deadline passes. A shutdown must never wait forever: `finpace up` expects every service to exit
    once it has been told to (its parent-death signal included).
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_SECONDS, remaining))
    for task in tasks:
        if task.done() and not task.cancelled():
            with contextlib.suppress(asyncio.CancelledError):
                error = task.exception()
                if error is not None:
                    log.warning("task_failed_at_shutdown", task=task.get_name(), error=repr(error))
    names = sorted(task.get_name() for task in pending)
    if names:
        log.error("tasks_left_running_at_shutdown", tasks=names, within=within)
    return names
