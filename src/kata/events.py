"""What the interactive loops wait on: file saves and key presses, as one queue of events.

Saves come from `watchfiles` (inotify/FSEvents/ReadDirectoryChangesW, through the Rust
`notify` crate); where it is missing or its events fail (some network and container file
systems), a stdlib poller compares each file's mtime and size. `KATA_WATCH_POLL=1` forces
polling. Keys come from stdin: single key presses on a terminal (cbreak mode, restored on exit),
whole lines otherwise, so the loops can be scripted.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Event:
    kind: str  # "changed" | "key" | "eof"
    value: str = ""  # the changed path, or the key / line typed


class Inbox:
    """A queue of events with the watched files and the key reader feeding it."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Event] = queue.Queue()
        self.paths: set[Path] = set()
        self.stop = threading.Event()
        self.watching = ""  # "watchfiles" or "polling", for the banner
        self._terminal = None

    def put(self, event: Event) -> None:
        self.queue.put(event)

    def get(self, timeout: float) -> Event | None:
        try:
            return self.queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def drain_changes(self) -> None:
        """Forget saves already queued (a grade just ran on the newest content)."""
        kept = []
        while True:
            try:
                event = self.queue.get_nowait()
            except queue.Empty:
                break
            if event.kind != "changed":
                kept.append(event)
        for event in kept:
            self.queue.put(event)

    # ------------------------------------------------------------ files

    def watch(self, paths: list[Path], poll: bool | None = None) -> None:
        """Report saves of `paths` (replacing the previous set)."""
        new = {path.resolve() for path in paths}
        folders_changed = {p.parent for p in new} != {p.parent for p in self.paths}
        self.paths = new
        if self.watching and not folders_changed:
            return
        if self.watching:
            self.stop.set()
            self.stop = threading.Event()
        poll = os.environ.get("KATA_WATCH_POLL") == "1" if poll is None else poll
        target = self._poll if poll else self._watchfiles
        self.watching = "polling" if poll else "watchfiles"
        threading.Thread(target=target, args=(self.stop,), daemon=True).start()

    def _watchfiles(self, stop: threading.Event) -> None:
        try:
            import watchfiles

            folders = sorted({str(p.parent) for p in self.paths})
            for changes in watchfiles.watch(*folders, debounce=30, step=20, stop_event=stop,
                                            recursive=False, raise_interrupt=False,
                                            watch_filter=None):
                for _change, name in changes:
                    path = Path(name).resolve()
                    if path in self.paths and path.exists():
                        self.put(Event("changed", str(path)))
        except Exception:  # no inotify (limits, network file systems) or no watchfiles
            if not stop.is_set():
                self.watching = "polling"
                self._poll(stop)

    def _poll(self, stop: threading.Event) -> None:
        def stamp(path: Path):
            try:
                info = path.stat()
                return info.st_mtime_ns, info.st_size
            except OSError:
                return None

        seen = {path: stamp(path) for path in self.paths}
        while not stop.wait(POLL_SECONDS):
            for path in list(self.paths):
                now = stamp(path)
                if path in seen and now != seen[path] and now is not None:
                    self.put(Event("changed", str(path)))
                seen[path] = now

    # ------------------------------------------------------------ keys

    def read_keys(self, stream=None) -> None:
        """Feed key presses (terminal) or lines (pipe) from `stream` (stdin) into the queue."""
        stream = stream or sys.stdin
        if stream is None or stream.closed:
            return
        try:
            fd = stream.fileno()
        except (OSError, ValueError):
            fd = None
        if fd is not None and os.isatty(fd) and os.name == "posix":
            import termios
            import tty

            self._terminal = (fd, termios.tcgetattr(fd))
            tty.setcbreak(fd)
            target, args = self._keys, (fd,)
        else:
            target, args = self._lines, (stream,)
        threading.Thread(target=target, args=args, daemon=True).start()

    def _keys(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 1)
            except OSError:
                data = b""
            if not data:
                self.put(Event("eof"))
                return
            self.put(Event("key", data.decode(errors="replace")))

    def _lines(self, stream) -> None:
        for line in stream:
            self.put(Event("key", line.strip() or "\n"))
        self.put(Event("eof"))

    def close(self) -> None:
        self.stop.set()
        if self._terminal is not None:
            import termios

            fd, saved = self._terminal
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            self._terminal = None

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Interrupter:
    """Polled by the warm grader while a grade runs, so the loop stays responsive.

    Returns True (cancel the grade) when `path` is saved with content other than `sha` (the
    version being graded) or on q; `reason` then says which ("changed" or "quit"). Other keys
    are handed to `on_key` at once (h shows a hint while the grade runs); g and Enter are
    ignored, a grade is already running. With `cancel_on_save=False` (the final grade of a
    blind attempt) saves are ignored.
    """

    def __init__(self, inbox: Inbox, path: Path, sha: str, on_key,
                 cancel_on_save: bool = True) -> None:
        self.inbox, self.path, self.sha, self.on_key = inbox, path, sha, on_key
        self.cancel_on_save = cancel_on_save
        self.reason = ""

    def __call__(self) -> bool:
        from kata.store import file_sha

        while (event := self.inbox.get(0)) is not None:
            if (event.kind == "changed" and self.cancel_on_save
                    and file_sha(self.path) != self.sha):
                self.reason = "changed"
                return True
            if event.kind != "key":
                continue
            key = event.value.strip().lower()[:1]
            if key == "q":
                self.reason = "quit"
                return True
            if key not in ("g", "") and key != "\n":
                self.on_key(key)
        return False


class ScriptedInbox(Inbox):
    """For tests and scripts: events from a list, each after advancing a fake clock.

    `script` holds (seconds to advance, Event or None) pairs; when it runs out, every wait just
    advances the clock by its timeout, so time-outs still happen.
    """

    def __init__(self, script: list[tuple[float, Event | None]], clock) -> None:
        super().__init__()
        self.script = list(script)
        self.clock = clock

    def watch(self, paths: list[Path], poll: bool | None = None) -> None:
        self.paths = {path.resolve() for path in paths}
        self.watching = "scripted"

    def read_keys(self, stream=None) -> None:
        pass

    def get(self, timeout: float) -> Event | None:
        if not self.queue.empty():
            return self.queue.get_nowait()
        if not self.script:
            self.clock.advance(timeout)
            return None
        delay, event = self.script[0]
        if delay > timeout:
            self.script[0] = (delay - timeout, event)
            self.clock.advance(timeout)
            return None
        self.script.pop(0)
        self.clock.advance(delay)
        if callable(event):
            event = event()
        return event

    def drain_changes(self) -> None:
        pass


class FakeClock:
    """A clock for tests: `clock()` returns the time, `advance(s)` moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
