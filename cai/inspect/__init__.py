"""Looking at a run: read it (even while it is still going), summarise it, filter it, tell one example's
story with word-level diffs, in the terminal or as one self-contained HTML file."""

from cai.inspect.loader import Example, RunView, load_run

__all__ = ["Example", "RunView", "load_run"]
