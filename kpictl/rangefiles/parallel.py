"""Loading many range files: spread over worker processes when it pays, the results
packed as plain tuples to cross the process boundary cheaply."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpictl.rangefiles.checks import load_range_file
from kpictl.rangefiles.model import (
    BAND_NAMES,
    Band,
    Catalog,
    KpiRange,
    Problem,
    RangeFile,
    Scoring,
    content_json,
    content_sha256,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor


# Below this many files a process pool costs more than it saves.
PARALLEL_MIN_FILES = 200


def load_many(
    paths: Sequence[Path],
    catalog: Catalog | None,
    *,
    display: bool = False,
    problems_only: bool = False,
) -> list[tuple[RangeFile | None, list[Problem]]]:
    """load_range_file for many files, in order: :func:`load_chunks` with one chunk."""
    with closing(
        load_chunks([paths], catalog, display=display, problems_only=problems_only)
    ) as one:
        return next(one, [])


def load_chunks(
    chunks: Sequence[Sequence[Path]],
    catalog: Catalog | None,
    *,
    display: bool = False,
    problems_only: bool = False,
    pieces: int = 8,
) -> Generator[list[tuple[RangeFile | None, list[Problem]]], None, None]:
    """load_range_file for each chunk of files in turn, one list of results per chunk:
    the one pipeline every command loads range files through.

    Range files are independent of each other, so many files are parsed and checked by
    one worker process per core (``display``: name files as given; ``problems_only``:
    the caller wants no RangeFile, so none is shipped back). With worker processes, the
    next chunk is parsed while the caller works on this one (a seed plans and writes a
    chunk while the next is read), and only those two chunks are held: memory does not
    grow with the number of chunks. Each chunk goes to the workers in ``pieces`` parts
    per worker.
    """
    workers = _worker_count(sum(len(chunk) for chunk in chunks))
    if workers <= 1:
        for chunk in chunks:
            yield [
                load_range_file(path, catalog, display=str(path) if display else None)
                for path in chunk
            ]
        return
    with _worker_pool(workers, catalog, display, problems_only) as pool:
        pending: deque[list[Future[list[_Packed]]]] = deque()
        for i in range(len(chunks)):
            while len(pending) < 2 and i + len(pending) < len(chunks):
                chunk = chunks[i + len(pending)]
                size = max(1, -(-len(chunk) // (workers * pieces)))
                pending.append(
                    [
                        pool.submit(_load_chunk, chunk[j : j + size])
                        for j in range(0, len(chunk), size)
                    ]
                )
            results = [result for future in pending.popleft() for result in future.result()]
            yield _unpacked(chunks[i], results)


@contextmanager
def _worker_pool(
    workers: int, catalog: Catalog | None, display: bool, problems_only: bool
) -> Iterator[ProcessPoolExecutor]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the loaded modules, so they start in milliseconds
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_set_worker_catalog,
        initargs=(catalog, display, problems_only, os.getpid()),
    )
    try:
        yield pool
    finally:
        # a caller that stops early (a bad file, an interrupt) leaves queued work undone
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_count(files: int) -> int:
    if files < PARALLEL_MIN_FILES or os.environ.get("KPICTL_SERIAL"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, 8)


_WORKER: dict[str, Any] = {}


def _set_worker_catalog(
    catalog: Catalog | None, display: bool, problems_only: bool, parent: int
) -> None:
    _die_with_parent(parent)
    _WORKER.update(catalog=catalog, display=display, problems_only=problems_only)


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the command that started it: a SIGKILL or SIGTERM to
    ``kpictl seed`` would otherwise leave its workers blocked for ever under PID 1.

    Ctrl-C reaches every process of the terminal's process group: the workers ignore
    it (no tracebacks of theirs) and the parent, which handles it, shuts them down.
    SIGTERM, which the parent turns into an interrupt, is the default again here: the
    pool's own shutdown may use it. On Linux the kernel kills the worker when the
    parent dies (PR_SET_PDEATHSIG); elsewhere a thread watches the parent.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _set_death_signal():
        _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _set_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False elsewhere."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="kpictl-parent-watch", daemon=True).start()


_Packed = tuple[tuple[Any, ...] | None, list[Problem]]


def _load_chunk(paths: Sequence[Path]) -> list[_Packed]:
    catalog, display = _WORKER["catalog"], _WORKER["display"]
    out = []
    for path in paths:
        rangefile, problems = load_range_file(path, catalog, display=str(path) if display else None)
        keep = rangefile is not None and not _WORKER["problems_only"]
        out.append((_pack(rangefile) if keep else None, problems))  # type: ignore[arg-type]
    return out


# Results cross the process boundary as plain tuples: pickling thousands of slotted
# dataclasses costs about half as much as parsing the files did.


def _pack(rf: RangeFile) -> tuple[Any, ...]:
    ranges = tuple(
        (k, *(_band_tuple(r.band(b)) for b in BAND_NAMES), r.weight, r.playbook)
        for k, r in rf.ranges.items()
    )
    scoring = rf.scoring.to_dict() if rf.scoring else None
    # the content's sha256 and JSON are computed here, in parallel, not by the receiver
    content = rf.content()
    return (
        rf.kind,
        rf.version,
        ranges,
        rf.customer,
        rf.name,
        scoring,
        rf.sha256,
        content_sha256(content),
        content_json(content),
    )


def _band_tuple(band: Band | None) -> tuple[float | None, float | None] | None:
    return None if band is None else (band.min, band.max)


def _unpacked(
    paths: Sequence[Path], results: Sequence[_Packed]
) -> list[tuple[RangeFile | None, list[Problem]]]:
    """The workers' results for ``paths`` (in order) as load_range_file returns them."""
    return [
        (None if packed is None else _unpack(packed, path), problems)
        for path, (packed, problems) in zip(paths, results, strict=True)
    ]


def _unpack(packed: tuple[Any, ...], path: Path) -> RangeFile:
    kind, version, ranges, customer, name, scoring, sha, content_sha, content = packed
    rangefile = RangeFile(
        path=path,
        kind=kind,
        version=version,
        ranges={
            k: KpiRange(
                k,
                None if c is None else Band(*c),
                None if r is None else Band(*r),
                None if h is None else Band(*h),
                weight,
                playbook,
            )
            for k, c, r, h, weight, playbook in ranges
        },
        customer=customer,
        name=name,
        scoring=None if scoring is None else Scoring.from_dict(scoring),
        sha256=sha,
    )
    rangefile.memoise(content_sha, content)
    return rangefile
