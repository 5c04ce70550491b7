"""Help that explains: a glossary of the words the window uses, reachable from every plot title and
setting (tooltips and What's This), and "How DeepCluster works" (docs/METHOD.md shown in the app).

The glossary is one table (``GLOSSARY``); ``explain`` attaches the entries a text mentions to a
widget's tooltip and What's This. METHOD.md is read from the repository's ``docs/`` or from the
bundle's copy (``packaging/dcgui.spec`` carries it), never downloaded.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QWidget

from dcgui.gui.layout import dialog_buttons, vbox

# term -> what it means here, in the window's words (ordered as a person meets them)
GLOSSARY: dict[str, str] = {
    "epoch": "One round of DeepCluster: compute every image's features with the current network, cluster them "
             "with k-means, then train the network to predict those clusters. Epoch 0 is the random start.",
    "k": "The number of clusters k-means makes each epoch. DeepCluster uses more clusters than there are real "
         "categories (over-clustering): each category splits into several clusters, which gives better features.",
    "pseudo-label": "The cluster number an image gets at one epoch, used as its training target as if it were a "
                    "class label. It is not a label a person gave: it changes from epoch to epoch.",
    "centroid": "The centre (mean feature vector) of a cluster. Outliers are the images far from every centroid; "
                "the 'centroids' head sets the network's top layer to them (DeepCluster-v2).",
    "projection head": "A small network on top of the backbone whose output is clustered. The features before it "
                       "(what Similar, the map and exports use) stay general instead of specialising to the "
                       "pseudo-labels.",
    "Sobel": "An edge filter. With the Sobel front end the network sees grey edges instead of colours, so k-means "
             "cannot group images by colour alone (the paper's choice).",
    "NMI": "Normalised mutual information: how much two groupings agree, from 0 (unrelated) to 1 (the same up to "
           "renaming). NMI(t−1, t) compares one epoch's clusters with the previous epoch's (stability); NMI against "
           "labels compares them with your class folders.",
    "AMI": "Adjusted mutual information: NMI corrected for chance, so that many small clusters do not score well "
           "by luck (0 = chance level, 1 = identical).",
    "ARI": "Adjusted Rand index: the share of image pairs two groupings treat alike (together or apart), "
           "corrected for chance: 0 = chance, 1 = identical.",
    "purity": "The share of a cluster's images that carry its most common class label (only with class "
              "sub-folders). 1 = the cluster holds one class only.",
    "kNN": "k nearest neighbours: an image is classified by a vote of the labelled images nearest to it in feature "
           "space (Explore › Evaluation uses 20 neighbours). Measures how well the features group the classes.",
    "linear probe": "A linear classifier trained on the frozen features to predict the class labels; its accuracy "
                    "says how much class information the features carry in a simple form.",
    "UMAP": "A method that places high-dimensional feature vectors on a 2-D map so that neighbours stay "
            "neighbours (Explore › Map). Distances between far-apart groups on the map mean little.",
}

_ANCHOR = re.compile(r"[^a-z0-9]+")


def anchor(term: str) -> str:
    return "term-" + _ANCHOR.sub("-", term.lower()).strip("-")


def _pattern(term: str) -> re.Pattern[str]:
    # "k" only as a word of its own (k-means, k = 40); the others also in plural or hyphenated forms
    if term == "k":
        return re.compile(r"(?<![\w-])k(?![\w-])|\bk-means\b")
    flags = 0 if term in ("NMI", "AMI", "ARI", "kNN", "UMAP", "Sobel") else re.IGNORECASE
    return re.compile(r"\b" + re.escape(term) + r"s?\b", flags)


def terms_in(text: str) -> list[str]:
    """The glossary terms ``text`` mentions, in glossary order."""
    return [t for t in GLOSSARY if _pattern(t).search(text)]


def definitions_html(terms: list[str]) -> str:
    return "".join(f"<p><b>{html.escape(t)}</b>: {html.escape(GLOSSARY[t])}</p>" for t in terms)


def explain(widget: QWidget, text: str, terms: list[str] | None = None) -> list[str]:
    """Give ``widget`` a tooltip (``text`` and the glossary terms it uses) and a What's This
    (``text`` and those terms' definitions). ``terms`` default: the ones ``text`` mentions.
    Returns the terms."""
    used = terms_in(text) if terms is None else terms
    tip = text
    if used:
        tip += (f"\n\nTerms: {', '.join(used)}. Shift+F1 then a click here, or Help ▸ Glossary, "
                "says what they mean.")
    widget.setToolTip(tip)
    widget.setWhatsThis(f"<p>{html.escape(text)}</p>{definitions_html(used)}")
    return used


def glossary_html() -> str:
    rows = "".join(f"<h3><a name='{anchor(t)}'></a>{html.escape(t)}</h3><p>{html.escape(d)}</p>"
                   for t, d in GLOSSARY.items())
    return ("<h2>Glossary</h2><p>The words the window uses, in the order you meet them. "
            "Help ▸ How DeepCluster works explains the method step by step.</p>" + rows)


class MethodTextMissing(FileNotFoundError):
    pass


def method_path() -> Path:
    """docs/METHOD.md: beside the package in a source checkout, or in the bundle's ``docs/``."""
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / "docs" / "METHOD.md"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "docs" / "METHOD.md")
    for c in candidates:
        if c.is_file():
            return c
    raise MethodTextMissing(f"{candidates[-1]} is missing: this dcgui was installed without its docs folder; "
                            "reinstall it from the repository or read docs/METHOD.md there")


class HelpDialog(QDialog):
    """A page of help: the glossary (``term`` scrolls to an entry) or the method (Markdown)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(False)
        self.browser.setOpenLinks(False)  # links stay inside: anchors only
        self.browser.anchorClicked.connect(lambda url: self.browser.scrollToAnchor(url.fragment()))
        vbox(self.browser, dialog_buttons(self, QDialogButtonBox.StandardButton.Close), parent=self)
        self.resize(720, 640)
        self.pending_anchor = ""  # scrolled to once the page is laid out

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.pending_anchor:
            self.browser.scrollToAnchor(self.pending_anchor)


def glossary_dialog(parent: QWidget | None = None, term: str | None = None) -> HelpDialog:
    dialog = HelpDialog("Glossary", parent)
    dialog.browser.setHtml(glossary_html())
    if term is not None and term in GLOSSARY:
        dialog.pending_anchor = anchor(term)
    return dialog


def method_dialog(parent: QWidget | None = None) -> HelpDialog:
    """"How DeepCluster works": docs/METHOD.md rendered; a missing file is said in the page."""
    dialog = HelpDialog("How DeepCluster works", parent)
    try:
        dialog.browser.setMarkdown(method_path().read_text(encoding="utf-8"))
    except OSError as exc:
        dialog.browser.setPlainText(str(exc))
    return dialog
