"""OAuth protocol engine: pure request builders and response parsers, one I/O seam."""
