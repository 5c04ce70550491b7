# PyInstaller runtime hook (packaging/dcgui.spec): runs before dcgui in the bundle.
# qtpy (which superqt uses) picks a Qt binding at import: PyQt5 first unless QT_API says
# otherwise or a binding is already imported. The bundle holds PySide6 only (bundle_plan
# excludes the others), so say so up front instead of relying on import order.
import os

os.environ.setdefault("QT_API", "pyside6")
