"""What leaves a session: curating a collection into folders by cluster (``curate``: copies,
links or moves, never over a user's file) and exporting a trained backbone for use outside dcgui
(``export``)."""
