"""Help explains (issue 21 item 10): the glossary covers the words the window uses and is reached
from plot titles (a click) and settings (tooltip, What's This); "How DeepCluster works" shows
docs/METHOD.md in the app; the bundle carries it; Help's entries come from the action registry."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt

from dcgui.gui.help import GLOSSARY, glossary_dialog, method_dialog, method_path, terms_in
from dcgui.gui.plots import PLOT_NAMES, PlotsPanel
from dcgui.gui.session_model import SessionModel
from dcgui.gui.settings_form import SettingsForm

ROOT = Path(__file__).resolve().parents[2]
WANTED = ("NMI", "AMI", "ARI", "k", "epoch", "purity", "Sobel", "projection head", "centroid", "kNN",
          "linear probe", "UMAP", "pseudo-label")


def test_the_glossary_has_every_term_and_finds_them_in_text() -> None:
    assert set(WANTED) <= set(GLOSSARY)
    assert terms_in("Number of k-means clusters (pseudo-classes) per epoch") == ["epoch", "k"]
    assert terms_in("keep the kNN accuracy") == ["kNN"]  # not "k" inside "keep"


def test_every_setting_explains_its_terms(qtbot) -> None:
    form = SettingsForm()
    qtbot.addWidget(form)
    for name, editor in form.editors.items():
        assert editor.toolTip() and editor.whatsThis(), name
    assert "Terms: k, pseudo-label" in form.editors["k"].toolTip()
    assert GLOSSARY["Sobel"][:30] in form.editors["sobel"].whatsThis()
    assert GLOSSARY["projection head"][:30] in form.editors["projection"].whatsThis()


def test_a_click_on_a_plot_title_opens_the_glossary_at_its_term(qtbot) -> None:
    panel = PlotsPanel(SessionModel())
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    asked: list[str] = []
    panel.glossaryRequested.connect(asked.append)
    for name in PLOT_NAMES:
        w = panel.plots[name]
        assert w.whatsThis(), name
        title = w.getPlotItem().titleLabel.sceneBoundingRect().center()
        assert panel.on_title(name, title) and not panel.on_title(name, QPointF(title.x(), title.y() + 200))
        qtbot.mouseClick(w.viewport(), Qt.MouseButton.LeftButton, pos=w.mapFromScene(title))
    assert asked == ["NMI", "NMI", "pseudo-label", "k", "epoch"]
    dialog = glossary_dialog(None, "UMAP")
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    assert all(t in text for t in WANTED) and dialog.pending_anchor == "term-umap"


def test_how_deepcluster_works_shows_method_md_and_the_bundle_carries_it(qtbot) -> None:
    assert method_path() == ROOT / "docs" / "METHOD.md"
    dialog = method_dialog()
    qtbot.addWidget(dialog)
    shown = dialog.browser.toPlainText()
    assert "The method: DeepCluster as dcgui implements it" in shown and "One epoch" in shown
    spec = (ROOT / "packaging" / "dcgui.spec").read_text()
    assert '(str(ROOT / "docs" / "METHOD.md"), "docs")' in spec
