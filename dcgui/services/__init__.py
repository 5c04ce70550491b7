"""What joins a session to the engine, shared by the command line and the window.

``dcgui.core`` works on arrays and paths; ``dcgui.store`` keeps a session in one SQLite file;
the modules here read a session, call the engine and write the results back:

- ``session``: open a session, choose an epoch, load the network of an epoch;
- ``training``: create a session, check a resume, prepare the collection, train;
- ``explore``: features at an epoch (cached), similar images, duplicates, outliers, the 2-D map;
- ``evaluate``: kNN / linear probe / NMI of an epoch against the random initialisation;
- ``curation``: clusters into folders (the plan), and the cluster table (CSV).

``dcgui.cli`` and ``dcgui.gui`` both call these; neither imports the other (import-linter
contracts in pyproject.toml).
"""
