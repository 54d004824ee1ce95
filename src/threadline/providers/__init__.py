"""Backends behind small Protocols: the only package that talks to vendors."""
