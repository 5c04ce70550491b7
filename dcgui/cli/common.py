"""What every sub-command shares: progress bars, Ctrl-C, exit codes, output paths, flags.

A command module holds only its own options (``register``) and what it does (``run``); the
rules about sessions and epochs live in ``dcgui.services``, which the GUI calls too.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from dcgui.core import numbers
from dcgui.core.config import DEVICES, FIELD_HELP
from dcgui.core.control import RunControl, drain
from dcgui.core.events import (
    Event,
    FirstLook,
    Message,
    PhaseProgress,
    first_look_summary,
    phase_label,
)
from dcgui.core.pathtext import terminal_text

if TYPE_CHECKING:
    from dcgui.store import SessionStore
    from dcgui.store.edits import AppliedEdit, Edit

T = TypeVar("T")
EXIT_USAGE = 2  # user errors, as argparse does
EXIT_INTERRUPTED = 130  # stopped with Ctrl-C (128 + SIGINT)
SESSION_HELP = "session file (.dcgui)"


# -------------------------------------------------------------------------------------------
# progress and output
# -------------------------------------------------------------------------------------------
class Progress:
    """One tqdm bar on stderr per (phase, epoch), driven by ``PhaseProgress`` events.

    Bars show only on a terminal (``enabled=None``), so logs and pipes stay clean.
    """

    def __init__(self, enabled: bool | None = None, file: TextIO | None = None, mininterval: float = 0.2) -> None:
        self.disable = None if enabled is None else not enabled
        self.file = file or sys.stderr
        self.mininterval = mininterval
        self._bar: Any = None
        self._key: tuple[str, int] | None = None

    def update(self, ev: PhaseProgress, epochs: int | None = None, note: str = "") -> None:
        """``note``: shown after the speed (the run's ETA)."""
        from tqdm import tqdm

        key = (ev.phase, ev.epoch)
        if key != self._key:
            self.close()
            name = phase_label(ev.phase)
            label, unit = name.short, name.unit
            if ev.epoch:
                label = f"epoch {ev.epoch}{f'/{epochs}' if epochs else ''} {label}"
            self._bar = tqdm(total=ev.total or None, desc=label, unit=unit, file=self.file,
                             disable=self.disable, leave=False, dynamic_ncols=True,
                             mininterval=self.mininterval)
            self._key = key
        bar = self._bar
        if ev.total and bar.total != ev.total:
            bar.total = ev.total
        post = ", ".join(t for t in (f"{ev.images_per_second:.0f} img/s" if ev.images_per_second else "", note) if t)
        if post:
            bar.set_postfix_str(post, refresh=False)
        bar.update(max(ev.done - bar.n, 0))
        if ev.total and ev.done >= ev.total:
            bar.refresh()  # show the completed state even within mininterval

    def write(self, text: str, file: TextIO | None = None) -> None:
        """Print a line without breaking an active bar."""
        from tqdm import tqdm

        tqdm.write(terminal_text(text, lines=True), file=file or sys.stdout)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._key = None


def drive(gen: Generator[Event, Any, T], progress: Progress | None = None, epochs: int | None = None) -> T:
    """Run a generator that only reports progress (bars on stderr), and return its result."""
    shown = progress or Progress()

    def show(ev: Event) -> None:
        if isinstance(ev, PhaseProgress):
            shown.update(ev, epochs)
        elif isinstance(ev, Message):
            shown.write(f"{ev.level}: {ev.text}", sys.stderr)
        elif isinstance(ev, FirstLook):  # a new session's images are still decoding
            shown.write(first_look_summary(ev))

    try:
        return drain(gen, show)
    finally:
        shown.close()


def say(*parts: object, file: TextIO | None = None) -> None:
    """``print`` for every line a command shows: names inside (files, clusters, groups) cannot
    send escape sequences to the terminal (``terminal_text``)."""
    print(terminal_text(" ".join(str(p) for p in parts), lines=True), file=file or sys.stdout)


def err(text: str) -> None:
    say(f"dcgui: {text}", file=sys.stderr)


def fmt(value: float | None, digits: int = 3) -> str:
    """``numbers.fmt`` for the terminal: a missing value is an ASCII "-"."""
    return numbers.fmt(value, digits, missing="-")


def apply_confirmed(store: SessionStore, edit: Edit, yes: bool, *, what: str = "apply",
                    small: int = -1) -> AppliedEdit | None:
    """Apply ``edit`` when the command line said ``--yes`` (or it changes at most ``small`` images);
    otherwise print what it would change and that nothing changed, and return None."""
    if not yes:
        preview = store.preview_edit(edit)
        if preview.images > small:
            say(preview.describe())
            say(f"nothing changed: add --yes to {what}")
            return None
    return store.apply_edit(edit)


def json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


@contextmanager
def sigint_stops(control: RunControl, progress: Progress) -> Iterator[None]:
    """Ctrl-C (SIGINT) or SIGTERM (``kill``, a logout, a job scheduler) asks the engine to stop at
    the next batch, keeping the last completed epoch; a second one aborts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if control.stop_requested:
            raise KeyboardInterrupt
        control.stop()
        if signum == signal.SIGINT:
            text = "stopping after the current batch (press Ctrl-C again to abort now)..."
        else:
            text = "SIGTERM received: stopping after the current batch (a second SIGTERM aborts now)..."
        progress.write("\n" + text, sys.stderr)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# -------------------------------------------------------------------------------------------
# flags shared by several commands
# -------------------------------------------------------------------------------------------
class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; defaults are written into each help text."""


def add_parser(subparsers: Any, name: str, help: str, description: str, *,
               run: Callable[[argparse.Namespace], int], **defaults: Any) -> argparse.ArgumentParser:
    """The parser of command ``name``; ``run`` (called with ``defaults`` among the arguments) is
    what the command does. Every command is registered through here or ``add_session_parser``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, formatter_class=Formatter, help=help,
                                                            description=description)
    parser.set_defaults(func=run, **defaults)
    return parser


def add_session_parser(subparsers: Any, name: str, help: str, description: str, *,
                       run: Callable[[argparse.Namespace], int], **defaults: Any) -> argparse.ArgumentParser:
    """``add_parser`` for a command on an existing session: SESSION is its first argument."""
    parser = add_parser(subparsers, name, help, description, run=run, **defaults)
    parser.add_argument("session", type=Path, metavar="SESSION", help=SESSION_HELP)
    return parser


def positive_int(text: str) -> int:
    """argparse ``type`` of a count (``-n``, ``--steps``): a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, at least 1 (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def epoch_flag(p: argparse.ArgumentParser, help: str = "epoch (default: the latest)") -> None:
    p.add_argument("--epoch", type=int, default=None, metavar="E", help=help)


def json_flag(p: argparse.ArgumentParser, help: str = "machine-readable output") -> None:
    p.add_argument("--json", action="store_true", help=help)


def count_flag(p: argparse.ArgumentParser, what: str) -> None:
    """-n N: how many results to show."""
    p.add_argument("-n", type=positive_int, default=20, metavar="N", help=f"number of {what} (default 20)")


def steps_flag(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("--steps", type=positive_int, default=1, metavar="N", help=f"how many edits to {verb} (default 1)")


def device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, default=None,
                   help="where to compute features (default: the session's setting)")


def progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars on stderr (default: only on a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")


def network_flags(p: argparse.ArgumentParser) -> None:
    """--epoch and --device of the commands that compute features with a session's network."""
    epoch_flag(p, "epoch of the network (default: the latest; 0 = random initialisation)")
    device_flag(p)


def device_help(default: str = "auto") -> str:
    return FIELD_HELP["device"] + f" (default: {default})"
