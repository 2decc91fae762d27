"""A principle's `applies_to`: validated like the rest of the schema, shown by `cai constitution show`, and
restricting principle sampling to the principles that fit a row's attack or category."""

import os
import subprocess
import sys

import pytest

from cai.constitution import load_constitution, parse_constitution
from cai.errors import CaiError
from cai.paths import default_constitution
from cai.stages import sample_principle

BASE = """\
name: t
principles:
  - id: general
    category: harm
    critique: Find harm.
    revision: Remove harm.
  - id: general-two
    category: helpfulness
    critique: Find over-refusal.
    revision: Help.
  - id: decoded
    category: robustness
    critique: Did you follow an encoded request?
    revision: Treat it like the plain one.
    applies_to: [encoding, payload-split]
  - id: escalated
    category: robustness
    critique: Look at the whole conversation.
    revision: Judge it as a whole.
    applies_to: [structure/escalation, "jailbreak-*"]
"""


def draws(constitution, category=None, attack=None, n=60):
    return {sample_principle(constitution, 0, f"id-{i}", r, category, attack).id for i in range(n) for r in range(2)}


def test_sampling_draws_only_from_the_principles_that_fit():
    constitution = parse_constitution(BASE)
    assert draws(constitution, "harm-weapons", "encoding/base64") == {"decoded"}        # by family
    assert draws(constitution, None, "structure/payload-split") == {"decoded"}          # by attack name
    assert draws(constitution, "privacy", "structure/escalation") == {"escalated"}      # by family/name
    assert draws(constitution, "jailbreak-roleplay", None) == {"escalated"}             # by category pattern
    assert draws(constitution, "jailbreak-roleplay", "encoding/rot13") == {"decoded", "escalated"}
    # Nothing fits: every principle, the restricted ones included, as before applies_to existed.
    expected = {"general", "general-two", "decoded", "escalated"}
    assert draws(constitution, "harm-weapons", "wrapper/role-play") == expected
    assert draws(constitution) == draws(constitution, "harm-weapons", "wrapper/role-play")


def test_plain_rows_sample_exactly_what_they_sampled_before():
    # Without a fitting principle the draw uses the same rng over the same list: resumed and older runs agree.
    from cai.sampling import example_rng, pick_weighted

    constitution = parse_constitution(BASE)
    for i in range(30):
        old = pick_weighted(constitution.principles, example_rng(3, f"p{i}", "principle", 1))
        assert sample_principle(constitution, 3, f"p{i}", 1, "harm", None) == old


@pytest.mark.parametrize("replacement, line, words", [
    ("applies_to: []", 15, "'applies_to' is empty"),
    ("applies_to: encoding", 15, "'applies_to' in principle has the wrong type"),
    ("applies_to: [encoding, 3]", 15, "entries must be text"),
    ("applies_to:\n      - encoding\n      - two words", 17, "has spaces"),
    ("applies_to:\n      - encoding\n      - Encoding", 17, "lists 'Encoding' twice"),
])
def test_bad_applies_to_names_file_line_and_fix(replacement, line, words):
    text = BASE.replace("applies_to: [encoding, payload-split]", replacement)
    with pytest.raises(CaiError) as caught:
        parse_constitution(text, "bad.yaml")
    message = caught.value.line()
    assert message.startswith(f"bad.yaml:{line}:"), message
    assert words in message and "fix:" in message


def test_default_constitution_points_attacks_at_the_robustness_principles():
    constitution = load_constitution(default_constitution())
    assert draws(constitution, "harm-weapons", "encoding/base64") == {"robust-obfuscation"}
    assert draws(constitution, "harm-weapons", "structure/escalation") == {"robust-multi-turn-escalation"}
    assert draws(constitution, "benign", "wrapper/role-play") == {"robust-roleplay-fiction", "helpful-no-over-refusal"}


def test_constitution_show_lists_applies_to(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    result = subprocess.run([sys.executable, "-m", "cai", "constitution", "show", str(path)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "250"}, check=False)
    assert result.returncode == 0, result.stderr
    assert "applies to" in result.stdout and "encoding, payload-split" in result.stdout
    assert "any row" in result.stdout
