"""The constitution schema: the default validates and covers the refusal mechanism; bad files fail
with one line naming the file and line."""

import re
import subprocess
import sys
from collections import Counter

import pytest

from cai.constitution import CATEGORIES, load_constitution, parse_constitution
from cai.errors import CaiError
from cai.paths import default_constitution

GOOD = """\
name: t
principles:
  - id: a
    category: harm
    critique: Find harm.
    revision: Remove harm.
comparisons:
  - id: c
    question: Which is less harmful?
"""


def test_default_constitution_is_rich_enough():
    constitution = load_constitution(default_constitution())
    assert len(constitution.principles) >= 16
    assert len(constitution.comparisons) >= 8
    used = Counter(p.category for p in constitution.principles)
    assert set(used) == set(CATEGORIES), "every category should have principles"
    ids = [p.id for p in constitution.principles] + [c.id for c in constitution.comparisons]
    assert len(ids) == len(set(ids))
    assert constitution.few_shot, "few-shot examples ship with the default"


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace("critique: Find harm.", "critique: Find: harm: now"), 5, "YAML syntax"),
    (GOOD.replace("    revision: Remove harm.\n", ""), 3, "missing 'revision'"),
    (GOOD.replace("    revision: Remove harm.\n", "    revision: Remove harm.\n    colour: red\n"), 7,
     "unknown key 'colour'"),
    (GOOD.replace("  - id: c\n", "  - id: a\n"), 8, "duplicate id 'a'"),
    ("name: t\nprinciples: []\n", 2, "'principles' is empty"),
    (GOOD.replace("category: harm", "category: vibes"), 4, "unknown category"),
    (GOOD.replace("category: harm", "category: harm\n    weight: -1"), 5, "weight must be positive"),
])
def test_bad_constitution_names_file_line_and_fix(text, line, words):
    with pytest.raises(CaiError) as caught:
        parse_constitution(text, "bad.yaml")
    message = caught.value.line()
    assert message.startswith(f"bad.yaml:{line}:"), message
    assert words in message
    assert "fix:" in message and "\n" not in message


def test_bad_constitution_cli_exits_nonzero_and_leaves_no_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("    revision: Remove harm.\n", "    revision: Remove harm.\n    oops: 1\n"))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "cai", "run", "--constitution", str(bad), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.match(rf"error: {re.escape(str(bad))}:\d+: unknown key 'oops'", lines[0]), result.stderr
    assert not out.exists()
