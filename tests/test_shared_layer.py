"""The facts the CLI and the GUI share are written once: commands, error policy, pause point."""

from __future__ import annotations

import argparse
import importlib
import threading
import time

import pytest

from dcgui.cli import COMMANDS, build_parser, main
from dcgui.core.control import RunControl, StopRequested, iter_pause_point
from dcgui.core.errors import DcguiError, InvalidValue, is_user_error, user_message
from dcgui.core.events import Paused, Resumed


def test_each_command_is_one_module_with_its_own_register() -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    for name in COMMANDS:
        importlib.import_module(f"dcgui.cli.{name}").register(sub)
        assert sub.choices[name].get_default("func").__module__ == f"dcgui.cli.{name}"
    assert set(sub.choices) == set(COMMANDS)
    assert {a.dest for a in build_parser()._actions} >= {"command"}


def test_one_error_policy_for_the_cli_and_the_gui(capsys: pytest.CaptureFixture[str]) -> None:
    from dcgui.gui.errors import describe
    from dcgui.gui.worker import WorkerError

    # Only errors raised on purpose are the user's to fix: an OSError or ValueError from deep
    # inside is a bug, shown with its traceback (issue 20 item 17).
    missing = FileNotFoundError(2, "No such file or directory", "/nowhere/x.dcgui")
    assert is_user_error(DcguiError("x")) and is_user_error(InvalidValue("x"))
    assert not is_user_error(missing) and not is_user_error(ValueError("x")) and not is_user_error(KeyError("x"))
    assert user_message(missing) == "/nowhere/x.dcgui: No such file or directory"
    assert not WorkerError.from_exception(missing).user_facing
    assert describe(DcguiError("fix it"))[0] == "fix it"
    assert describe(missing)[0].startswith("Unexpected error (a bug in dcgui): FileNotFoundError")
    assert "Unexpected error" in describe(KeyError("x"))[0]
    assert main(["info", "/nowhere/x.dcgui"]) == 2
    assert capsys.readouterr().err.strip().startswith("dcgui: error: the session file /nowhere/x.dcgui does not exist")


def test_the_pause_point_blocks_announces_and_stops() -> None:
    control = RunControl()
    control.pause()
    threading.Timer(0.3, control.resume).start()
    gen = iter_pause_point(control, epoch=3)
    assert next(gen) == Paused(3)
    t0 = time.perf_counter()
    assert next(gen) == Resumed(3)
    assert time.perf_counter() - t0 >= 0.2
    control.pause()
    threading.Timer(0.2, control.stop).start()
    with pytest.raises(StopRequested):
        control.pause_point()  # a stop during the pause ends it
    assert RunControl().pause_point() == 0.0
