"""A dispatcher run's claims, shared by its threads and taken ahead of need."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from core.clock import utcnow
from core.db import Database
from messaging.outbox.batch_jobs import BatchJob
from messaging.outbox.claims import DispatchConfig, claim, renew

log = logging.getLogger(__name__)


class ClaimQueue:
    """A run's claimed batches, handed to its threads one at a time.

    The next claim is taken while the last one is still being sent: the thread that takes the
    first batch of a claim claims again before sending it (one claim at a time), so the other
    threads never wait for a claim while batches are due. Claimed only when the last claim had
    run out, the threads stood idle for every claim (34 ms for 8 multicasts, which LINE's limit
    sends in 41 ms): a third of a million-friend send.

    A claim that comes back empty while batches are left is not the end: the next claim is taken
    when those ran out, and the run ends when a claim with nothing left comes back empty or the
    run's deadline passed; batches already claimed are sent even past the deadline. Every third
    of the lease, the lease of those not handed out yet is renewed, so a long claim stays this
    run's.
    """

    def __init__(
        self,
        database: Database,
        config: DispatchConfig,
        *,
        deadline: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._clock = clock
        self._config = config
        self._deadline = deadline
        self._jobs: deque[BatchJob] = deque()
        self._leased_at = 0.0
        self._changed = threading.Condition()
        self._claiming = False
        # Claim again once fewer than this many batches are left; 0 after a claim came back
        # empty (then the next claim waits until the batches ran out).
        self._low_water = 0
        self._done = False
        self.cut_short = False

    def next(self) -> BatchJob | None:
        """The next batch to send, or None when the run is over."""
        while True:
            job: BatchJob | None = None
            with self._changed:
                while True:
                    if self._jobs:
                        if time.monotonic() - self._leased_at > self._config.lease_seconds / 3:
                            self._renew()
                            continue
                        job = self._jobs.popleft()
                        if self._claiming or len(self._jobs) >= self._low_water:
                            return job
                        break
                    if self._done:
                        return None
                    if not self._claiming:
                        break
                    self._changed.wait()
                self._claiming = True
            self._claim(holding=job is not None)
            if job is not None:
                return job

    def _claim(self, *, holding: bool) -> None:
        jobs: list[BatchJob] = []
        try:
            if time.monotonic() >= self._deadline:
                self.cut_short = True
            else:
                jobs = claim(self._database, config=self._config, now=self._clock())
        except Exception:
            with self._changed:
                self._claiming, self._done = False, True
                self._changed.notify_all()
            if not holding:
                raise
            # The batch in hand was claimed already: it is sent, and the run ends after it.
            log.exception("dispatcher claim failed; this run ends after the batches it holds")
            return
        with self._changed:
            if not self._jobs:
                self._leased_at = time.monotonic()
            self._jobs.extend(jobs)
            self._low_water = len(jobs)
            # Nothing found while a batch is in hand or left: claim again when they ran out.
            self._done = not jobs and not self._jobs and not holding
            self._claiming = False
            self._changed.notify_all()

    def _renew(self) -> None:
        self._jobs = deque(
            renew(self._database, list(self._jobs), config=self._config, now=self._clock())
        )
        self._leased_at = time.monotonic()
