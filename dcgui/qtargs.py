"""Qt's own command-line options, told apart from dcgui's before argparse sees them (no Qt import).

argparse cannot know that ``-style fusion`` is one option with a value: left to
``parse_known_args`` the value ``fusion`` would be taken for the SESSION argument.
"""

from __future__ import annotations

# Options QGuiApplication / QApplication take with a separate value (Qt 6 documentation of
# QGuiApplication and QApplication, X11 ones included) and those without one.
QT_VALUE_OPTIONS = frozenset({
    "-style", "-stylesheet", "-platform", "-platformpluginpath", "-platformtheme", "-plugin",
    "-qwindowgeometry", "-qwindowtitle", "-qwindowicon", "-session", "-display", "-geometry",
    "-title", "-name",
})
# ...and those without one (-qmljsdebugger only takes its value after "=").
QT_FLAG_OPTIONS = frozenset({"-reverse", "-widgetcount", "-nograb", "-dograb", "-sync", "-qmljsdebugger"})


def split_qt_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(dcgui's arguments, Qt's arguments)``, each in its original order.

    Qt accepts ``-opt value``, ``-opt=value`` and the same with two dashes; all are recognised.
    """
    own: list[str] = []
    qt: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = "-" + arg.lstrip("-").split("=", 1)[0] if arg.startswith("-") else ""
        if name in QT_VALUE_OPTIONS and "=" not in arg and i + 1 < len(argv):
            qt += [arg, argv[i + 1]]
            i += 2
            continue
        if name in QT_VALUE_OPTIONS or name in QT_FLAG_OPTIONS:
            qt.append(arg)
        else:
            own.append(arg)
        i += 1
    return own, qt
