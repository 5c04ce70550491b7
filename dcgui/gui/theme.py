"""Light / dark / system themes (Fusion style + palette), persisted in QSettings.

"system" keeps the platform's style and palette (captured when the theme is first applied), so
the app follows the desktop; "light" and "dark" use Fusion with an explicit palette so they look
the same everywhere. Widgets that draw their own colours (plots) listen for
``QEvent.PaletteChange`` and read ``is_dark()``.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")
SETTINGS_KEY = "view/theme"

_system: tuple[str, QPalette] | None = None  # the platform's style name and palette


def saved_theme() -> str:
    value = QSettings().value(SETTINGS_KEY, "system")
    return value if value in THEMES else "system"


def apply_theme(app: QApplication, name: str | None = None, persist: bool = True) -> str:
    """Apply ``name`` (default: the saved one); returns the theme applied."""
    global _system
    name = name if name in THEMES else saved_theme()
    style = app.style()
    if _system is None:
        _system = (style.name() if style is not None else "fusion", QPalette(app.palette()))
    if name == "system":
        sys_style, sys_palette = _system
        app.setStyle(QStyleFactory.create(sys_style) or QStyleFactory.create("Fusion"))
        app.setPalette(sys_palette)
    else:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(dark_palette() if name == "dark" else light_palette())
    if persist:
        QSettings().setValue(SETTINGS_KEY, name)
    return name


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether text is lighter than the window background in ``palette`` (default: the app's)."""
    pal = palette if palette is not None else QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.WindowText).lightness() > pal.color(QPalette.ColorRole.Window).lightness()


def light_palette() -> QPalette:
    return _palette({
        QPalette.ColorRole.Window: "#f3f3f3",
        QPalette.ColorRole.WindowText: "#1d1d1d",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#f5f7fa",
        QPalette.ColorRole.ToolTipBase: "#ffffdc",
        QPalette.ColorRole.ToolTipText: "#1d1d1d",
        QPalette.ColorRole.PlaceholderText: "#7a7a7a",
        QPalette.ColorRole.Text: "#1d1d1d",
        QPalette.ColorRole.Button: "#eaeaea",
        QPalette.ColorRole.ButtonText: "#1d1d1d",
        QPalette.ColorRole.BrightText: "#d32f2f",
        QPalette.ColorRole.Highlight: "#2f6fb5",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#1f5fa8",
        QPalette.ColorRole.Light: "#ffffff",
        QPalette.ColorRole.Midlight: "#e3e3e3",
        QPalette.ColorRole.Mid: "#b8b8b8",
        QPalette.ColorRole.Dark: "#9a9a9a",
        QPalette.ColorRole.Shadow: "#5a5a5a",
    }, disabled="#9a9a9a")


def dark_palette() -> QPalette:
    return _palette({
        QPalette.ColorRole.Window: "#2b2b2e",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1e20",
        QPalette.ColorRole.AlternateBase: "#27272a",
        QPalette.ColorRole.ToolTipBase: "#3a3a3e",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.PlaceholderText: "#8a8a8a",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#3a3a3e",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#3d7fc9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#7fb2ec",
        QPalette.ColorRole.Light: "#4a4a4f",
        QPalette.ColorRole.Midlight: "#3f3f44",
        QPalette.ColorRole.Mid: "#323236",
        QPalette.ColorRole.Dark: "#1a1a1c",
        QPalette.ColorRole.Shadow: "#000000",
    }, disabled="#6e6e73")


def _palette(roles: dict[QPalette.ColorRole, str], disabled: str) -> QPalette:
    """A palette with ``roles``' colours and ``disabled`` for the text of disabled widgets."""
    p = QPalette()
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return p


def error_colour(palette: QPalette | None = None) -> QColor:
    """A red that reads on the current background (inline validation messages)."""
    return QColor("#ff7b72") if is_dark(palette) else QColor("#c62828")


def muted_colour(palette: QPalette | None = None) -> QColor:
    """Grey text for secondary information (missing recent files, hints)."""
    pal = palette if palette is not None else QGuiApplication.palette()
    return pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
