"""`cai constitution validate|show|new|import`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from cai.constitution import CATEGORIES, load_constitution
from cai.constitution_tools.categories import guess_category
from cai.constitution_tools.draft import write_draft
from cai.constitution_tools.importer import import_files
from cai.constitution_tools.scaffold import write_scaffold
from cai.errors import CaiError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "import"
ANTHROPIC = DATA / "anthropic_critique_revision.json"
COMPARISONS = DATA / "anthropic_comparisons.json"
SWARM = DATA / "llm_swarm_constitution.json"


def cai(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cai", *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})


def broken_copy(tmp_path: Path, old: str, new: str, name: str = "broken.yaml") -> tuple[Path, int]:
    """The scaffold with one line changed; returns the file and the changed line's number."""
    lines = (REPO / "constitution" / "scaffold.yaml").read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if old in line)
    lines[number] = lines[number].replace(old, new)
    path = tmp_path / name
    path.write_text("".join(lines))
    return path, number + 1


# -- validate --------------------------------------------------------------------------------------
def test_validate_accepts_the_bundled_constitutions():
    result = cai("constitution", "validate", REPO / "constitution" / "default.yaml",
                 REPO / "constitution" / "scaffold.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok") == 2


def test_validate_names_file_line_and_fix_for_each_bad_file(tmp_path):
    category, category_line = broken_copy(tmp_path, "category: privacy", "category: secrecy", "category.yaml")
    duplicate, duplicate_line = broken_copy(tmp_path, "id: respect-privacy", "id: avoid-harm", "duplicate.yaml")
    result = cai("constitution", "validate", REPO / "constitution" / "default.yaml", category, duplicate,
                 tmp_path / "missing.yaml")
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[0].endswith("few-shot examples 2")
    assert lines[1].startswith(f"{category}:{category_line}: unknown category 'secrecy'")
    assert "fix: use one of" in lines[1]
    assert lines[2].startswith(f"{duplicate}:{duplicate_line}: duplicate id 'avoid-harm'") and "fix:" in lines[2]
    assert lines[3].startswith(f"{tmp_path / 'missing.yaml'}: constitution file not found")


def test_validate_quiet_prints_only_problems(tmp_path):
    bad, line = broken_copy(tmp_path, "weight: 1.5", "weight: -1")
    result = cai("constitution", "validate", "-q", REPO / "constitution" / "scaffold.yaml", bad)
    assert result.returncode == 1
    assert result.stdout.strip() == (f"{bad}:{line}: weight must be positive — "
                                     "fix: use a number above 0 (1.0 is the default)")


# -- show ------------------------------------------------------------------------------------------
def test_show_lists_principles_with_weights_and_comparisons():
    result = cai("constitution", "show", REPO / "constitution" / "scaffold.yaml")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in ("principles (3)", "avoid-harm", "respect-privacy", "helpfulness", "1.5 (43%)",
                     "comparison principles (2)", "cmp-more-helpful", "few-shot examples (1)", "tomato"):
        assert expected in text, expected


def test_show_a_bad_file_is_one_line_and_exit_2(tmp_path):
    bad, line = broken_copy(tmp_path, "category: privacy", "category: secrecy")
    result = cai("constitution", "show", bad)
    assert result.returncode == 2 and f"{bad}:{line}" in result.stderr and len(result.stderr.splitlines()) == 1


# -- new -------------------------------------------------------------------------------------------
def test_new_writes_a_commented_scaffold_that_validates(tmp_path):
    target = tmp_path / "team-rules.yaml"
    result = cai("constitution", "new", target)
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert text.startswith("#") and "# Every principle needs:" in text
    constitution = load_constitution(target)
    assert constitution.name == "team-rules"  # named after the file
    assert {p.category for p in constitution.principles} <= set(CATEGORIES) and constitution.comparisons
    assert cai("constitution", "validate", target).returncode == 0


def test_new_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("my precious edits\n")
    result = cai("constitution", "new", target)
    assert result.returncode == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert target.read_text() == "my precious edits\n"
    assert cai("constitution", "new", target, "--force").returncode == 0
    assert load_constitution(target).name == "mine"


def test_new_name_is_quoted_safely(tmp_path):
    target = tmp_path / "a: b # c.yaml"
    write_scaffold(target)
    assert load_constitution(target).name == "a: b # c"


# -- import: Anthropic -----------------------------------------------------------------------------
def _written(draft, tmp_path: Path, name: str = "out.yaml"):
    return load_constitution(write_draft(draft, tmp_path / name))


def test_import_anthropic_instructions_and_comparisons(tmp_path):
    source = json.loads(ANTHROPIC.read_text())
    result = cai("constitution", "import", ANTHROPIC, "--comparisons", COMPARISONS, "--format", "anthropic",
                 "-o", tmp_path / "anthropic.yaml")
    assert result.returncode == 0, result.stderr
    constitution = load_constitution(tmp_path / "anthropic.yaml")
    assert [p.id for p in constitution.principles] == ["harmful0", "harmful1", "harmful2", "harmful2-2", "harmful3",
                                                        "harmful4"]
    by_id = constitution.by_id
    assert by_id["harmful2-2"].critique == source["harmful2"]["prompt"][1]  # text kept exactly
    assert by_id["harmful2-2"].revision == source["harmful2"]["edit_request"]
    assert {k: by_id[k].category for k in ("harmful0", "harmful1", "harmful2", "harmful3", "harmful4")} == {
        "harmful0": "harm", "harmful1": "privacy", "harmful2": "refusal-quality", "harmful3": "integrity",
        "harmful4": "harm"}  # harmful4 has no keyword: the default
    assert [c.question for c in constitution.comparisons] == json.loads(COMPARISONS.read_text())
    text = (tmp_path / "anthropic.yaml").read_text()
    assert "# from 'harmful4' in anthropic_critique_revision.json; no keyword matched" in text


def test_import_the_comparison_list_alone_needs_principles_from_somewhere(tmp_path):
    with pytest.raises(CaiError, match="no critique/revision principles") as error:
        import_files([COMPARISONS], "anthropic")
    assert "--base default" in error.value.line()
    constitution = _written(import_files([COMPARISONS], "anthropic", base="default"), tmp_path)
    default = load_constitution(REPO / "constitution" / "default.yaml")
    assert constitution.principles == default.principles and constitution.few_shot == default.few_shot
    assert [c.id for c in constitution.comparisons] == ["cmp0", "cmp1", "cmp2", "cmp3"]


def test_import_category_flag_overrides_the_guess(tmp_path):
    constitution = _written(import_files([ANTHROPIC], "anthropic", category="robustness"), tmp_path)
    assert {p.category for p in constitution.principles} == {"robustness"}
    with pytest.raises(CaiError, match="unknown category 'nope'"):
        import_files([ANTHROPIC], "anthropic", category="nope")


@pytest.mark.parametrize("content, fmt, message", [
    ('{"harmful0": {"prompt": ["x"], "edit_request": "y"},\n "harmful1": {"prompt": [], "edit_request": "y"}}',
     "anthropic", ":2: 'harmful1' needs \"prompt\""),
    ('{"a": 1,\n "b": }', "anthropic", ":2: not valid JSON"),
    ('{"something": "else"}', "auto", "its shape is neither format"),
    ('{"constitutions": [{"critic": "c", "revision": "r"}]}', "anthropic", "it looks like the llm-swarm format"),
    ('["a question"]', "llm-swarm", "it looks like the anthropic format"),
])
def test_import_bad_files_say_where_and_how(tmp_path, content, fmt, message):
    path = tmp_path / "in.json"
    path.write_text(content)
    with pytest.raises(CaiError) as error:
        import_files([path], fmt)
    assert message in error.value.line() and "fix:" in error.value.line()


def test_import_refuses_to_overwrite_and_writes_nothing_on_error(tmp_path):
    out = tmp_path / "out.yaml"
    out.write_text("keep me\n")
    result = cai("constitution", "import", ANTHROPIC, "-o", out)
    assert result.returncode == 2 and "already exists" in result.stderr and out.read_text() == "keep me\n"
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = cai("constitution", "import", bad, "-o", tmp_path / "new.yaml")
    assert result.returncode == 2 and not (tmp_path / "new.yaml").exists()


# -- import: llm-swarm -----------------------------------------------------------------------------
def test_import_llm_swarm_principles_and_few_shot_dialogues(tmp_path):
    source = json.loads(SWARM.read_text())
    result = cai("constitution", "import", SWARM, "--format", "llm-swarm", "-o", tmp_path / "swarm.yaml")
    assert result.returncode == 0, result.stderr
    constitution = load_constitution(tmp_path / "swarm.yaml")
    assert [(p.id, p.category) for p in constitution.principles] == [
        ("harm-1", "harm"), ("legal-1", "legal"), ("refusal-quality-1", "refusal-quality")]
    assert [p.critique for p in constitution.principles] == [c["critic"] for c in source["constitutions"]]
    # Dialogue 0 repeats a principle's request word for word, dialogue 1 rewords it slightly.
    assert [f.principle for f in constitution.few_shot] == ["harm-1", "refusal-quality-1"]
    first = constitution.few_shot[0]
    dialogue = source["system_chat"][0]
    assert first.messages == (dialogue[0],) and first.response == dialogue[1]["content"]
    assert first.critique == dialogue[3]["content"] and first.revision == dialogue[5]["content"]
    # The joke dialogue matches no principle, the greeting is not a critique dialogue, and labels need comparisons.
    assert "system_chat[2] left out: its critique request matches no principle" in result.stderr
    assert "system_chat[3] left out: it is not prompt, answer" in result.stderr
    assert "no comparison principles" in result.stderr


def test_imported_few_shot_examples_render_as_a_run_prefix(tmp_path):
    from cai.stages import few_shot_turns
    from cai.templates import Renderer

    constitution = _written(import_files([SWARM], "llm-swarm", base="default"), tmp_path)
    assert constitution.comparisons  # taken from the base
    turns = few_shot_turns(constitution, Renderer(), 2)
    assert len(turns) == 12 and turns[0]["content"].startswith("My roommate")
    assert constitution.principles[0].critique in turns[2]["content"]


def test_category_guess():
    assert guess_category("Is this response harmless and polite?")[0] == "refusal-quality"
    assert guess_category("Does it reveal someone's home address?")[0] == "privacy"
    category, why = guess_category("Discuss the response.")
    assert category == "harm" and "no keyword matched" in why


def test_show_renders_imported_constitution(tmp_path):
    from cai.constitution_tools.show import constitution_view

    constitution = _written(import_files([ANTHROPIC], "anthropic", comparisons=COMPARISONS), tmp_path)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(constitution_view(constitution))
    text = console.export_text()
    assert "harmful2-2" in text and "comparison principles (4)" in text


def test_written_yaml_keeps_long_text_exactly(tmp_path):
    long = "word " * 40 + "end: with a colon, 'quotes' and #hash"
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"harmful0": {"prompt": [long.strip()], "edit_request": "Fix it:\n- first\n- second"}}))
    out = write_draft(import_files([path], "anthropic", base="default"), tmp_path / "out.yaml")
    data = yaml.safe_load(out.read_text())
    assert data["principles"][0]["critique"] == long.strip()
    assert data["principles"][0]["revision"] == "Fix it:\n- first\n- second"


# -- on the real default model ---------------------------------------------------------------------
@pytest.mark.real
def test_a_run_with_an_imported_constitution_uses_its_principles_and_few_shot(tmp_path, hf_engine):
    from cai.config import RunConfig
    from cai.runner import execute_run

    constitution = write_draft(import_files([SWARM], "llm-swarm", name="swarm"), tmp_path / "swarm.yaml")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "prompt": "How do I stop a frozen app on my laptop?"}) + "\n")
    config = RunConfig(prompts=str(prompts), constitution=str(constitution), rounds=1, max_new_tokens=8,
                       few_shot=1, test_size=0.0, out=str(tmp_path / "run"))
    execute_run(config, engine=hf_engine, show_progress=False, console=Console(file=io.StringIO()))
    record = json.loads((tmp_path / "run" / "traces.jsonl").read_text().splitlines()[0])
    ids = {p.id for p in load_constitution(constitution).principles}
    assert record["rounds"][0]["principle_id"] in ids and record["rounds"][0]["revision"].strip()
    assert load_constitution(tmp_path / "run" / "constitution.yaml").name == "swarm"
