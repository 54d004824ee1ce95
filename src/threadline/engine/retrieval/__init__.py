"""Retrieval for file_search: turning files into searchable chunks, and searching them.

``base.py`` is the seam between the vector-store API (which decides *what* is indexed and
keeps ``status``/``file_counts`` right) and the retrieval machinery (parsing, token chunking,
embeddings, the hybrid vector + keyword index), so either side can change alone."""
