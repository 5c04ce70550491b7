"""What joins a session to the engine, shared by the command line and the window.

- ``edits``: the user's edits as both front ends make them (merge, split, keep one, unflag).
"""
