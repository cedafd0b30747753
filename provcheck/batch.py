"""Matching many claims in worker processes, results in the order the claims were given.

A newsroom job checks a folder of uploads: on a machine with several cores the claims
are matched side by side, each worker opening the index once (read-only, lazily, as a
single ``match`` call does) and matching claim after claim. Results come back in the
claims' order, each as soon as it and every claim before it are known, so a streaming
caller (``match --json-lines``) prints finished results while the rest still run.

A worker killed mid-claim (the out-of-memory killer, a decoder crash) breaks the whole
pool; the claim being waited for is then matched again alone in a new pool. If it
breaks that one too it is the culprit and gets an error result; the claims that were
in flight beside it are matched again.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .fetch import FetchPolicy
from .match import MatchSettings
from .parent_watch import exit_with_parent
from .results import ClaimResult, Verdict

#: Claims handed to the pool ahead of the one awaited, per worker (keeps every worker busy
#: without queueing a whole folder's worth of work that an interrupt would throw away).
AHEAD_PER_WORKER = 2

#: Checks one claim in a worker: (claim, top, fetch policy) -> its result, never raising for the claim.
ClaimCheck = Callable[[str, int, FetchPolicy], ClaimResult]
#: Opens the index in a worker: (index path, settings) -> its claim check (a module-level function: it is pickled).
CheckerOpener = Callable[[str, MatchSettings], ClaimCheck]

_worker_check: ClaimCheck | None = None


def _init_worker(opener: CheckerOpener, index_path: str, settings: MatchSettings) -> None:
    global _worker_check
    # Ctrl-C is the parent's to handle: it stops the pool; a worker must not print its own traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()
    _worker_check = opener(index_path, settings)


def _check_in_worker(image: str, top: int, policy: FetchPolicy) -> ClaimResult:
    if _worker_check is None:
        raise RuntimeError("The worker was not initialised.")
    return _worker_check(image, top, policy)


def died_result(image: str) -> ClaimResult:
    """The result of a claim whose worker process died while matching it, twice."""
    return ClaimResult(query=image, verdict=Verdict.NONE, matches=(),
                       error=f"{image}: the process matching it died (out of memory, or a crash in a decoder)")


class ClaimWorkers:
    """A pool of worker processes matching claims against one index (a file path or a database URL)."""

    def __init__(self, opener: CheckerOpener, index_path: str, settings: MatchSettings, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}.")
        self._opener = opener
        self._index_path = index_path
        self._settings = settings
        self.workers = workers
        # spawn: workers inherit none of this process's threads, locks or open index, on every OS
        self._context = multiprocessing.get_context("spawn")
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self, workers: int | None = None) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=workers or self.workers, mp_context=self._context,
                                                 initializer=_init_worker,
                                                 initargs=(self._opener, self._index_path, self._settings))
        return self._executor

    def _restart(self, workers: int | None = None) -> ProcessPoolExecutor:
        self.close()
        return self._pool(workers)

    def check(self, images: Iterable[str], top: int, policy: FetchPolicy) -> Iterator[ClaimResult]:
        """The result of every claim, in the claims' order, each as soon as it and those before it are known."""
        queue = iter(images)
        in_flight: deque[tuple[str, Future[ClaimResult]]] = deque()
        ahead = self.workers * AHEAD_PER_WORKER

        def refill() -> None:
            while len(in_flight) < ahead:
                image = next(queue, None)
                if image is None:
                    return
                in_flight.append((image, self._pool().submit(_check_in_worker, image, top, policy)))

        refill()
        try:
            while in_flight:
                image, future = in_flight.popleft()
                try:
                    result = future.result()
                except BrokenProcessPool:
                    result = self._alone(image, top, policy)
                    waiting = [claim for claim, _ in in_flight]
                    in_flight.clear()
                    for claim in waiting:
                        in_flight.append((claim, self._pool().submit(_check_in_worker, claim, top, policy)))
                yield result
                refill()
        except BaseException:
            self.stop()  # Ctrl-C, or the caller stopped reading: the claims in flight are not waited for
            raise

    def _alone(self, image: str, top: int, policy: FetchPolicy) -> ClaimResult:
        """Match one claim in a pool of its own: its result, or an error if it kills that worker too."""
        pool = self._restart(workers=1)
        try:
            return pool.submit(_check_in_worker, image, top, policy).result()
        except BrokenProcessPool:
            return died_result(image)
        finally:
            self.close()

    def stop(self) -> None:
        """End the workers now, claims in flight or not."""
        executor = self._executor
        if executor is None:
            return
        # ProcessPoolExecutor has no public way to end busy workers before Python 3.14 (terminate_workers)
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> ClaimWorkers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
