"""Images on disk: decoding every supported format (``imageio``), the decoded-thumbnail cache,
the collection of a folder (scanning, file lists), EXIF facts and the embedded demo collection."""
