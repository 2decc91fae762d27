"""cai: turn a constitution into alignment data (critiques, revisions, preference labels)."""

__version__ = "0.1.0"
