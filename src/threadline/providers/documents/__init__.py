"""Documents to plain text: format detection, one parser per format, and a sandboxed runner."""
