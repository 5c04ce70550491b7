"""Output: curating a collection into folders (``curate``) and exporting a trained network
(``export``). Writes only new files, never over a user's file."""
