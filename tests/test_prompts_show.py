"""`cai prompts show STAGE`: the messages a stage sends, built by the stages themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cai.constitution import load_constitution
from cai.constitution_tools.preview import SAMPLE_CRITIQUE, SAMPLE_RESPONSE, build_preview
from cai.errors import CaiError
from cai.records import Record
from cai.stages import CritiqueStage, few_shot_turns, sample_principle
from cai.templates import Renderer

REPO = Path(__file__).resolve().parent.parent
DEFAULT = load_constitution(REPO / "constitution" / "default.yaml")
SCAFFOLD = REPO / "constitution" / "scaffold.yaml"


def cai(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cai", *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}, timeout=600)


def test_critique_preview_is_what_the_critique_stage_sends():
    # Find an example id for which a real run would sample principle #3, then compare with what it sends.
    wanted = DEFAULT.principles[3]
    example_id = next(f"ex-{i}" for i in range(10_000) if sample_principle(DEFAULT, 0, f"ex-{i}", 0) == wanted)
    messages = [{"role": "user", "content": "How do I get into my own car when I locked the keys inside?"}]
    record = Record(example_id, messages, initial_response="Break the window.")
    renderer = Renderer()
    sent = CritiqueStage(DEFAULT, renderer, 0, 0, few_shot_turns(DEFAULT, renderer, 2)).requests([record])[0]
    preview = build_preview("critique", DEFAULT, renderer, principle_id=wanted.id, prompt=messages[0]["content"],
                            response="Break the window.", few_shot=2)
    assert preview.messages == sent and preview.prefix_messages == 12
    assert wanted.critique in preview.messages[-1]["content"]


def test_revision_preview_carries_the_critique_and_the_revision_request():
    principle = DEFAULT.principles[5]
    preview = build_preview("revision", DEFAULT, Renderer(), principle_id=principle.id, few_shot=0)
    roles = [m["role"] for m in preview.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert preview.messages[1]["content"] == SAMPLE_RESPONSE
    assert principle.critique in preview.messages[2]["content"]
    assert preview.messages[3]["content"] == SAMPLE_CRITIQUE
    assert preview.messages[4]["content"] == principle.revision


def test_comparison_preview_in_both_orders():
    comparison = DEFAULT.comparisons[2]
    forward = build_preview("comparison", DEFAULT, Renderer(), principle_id=comparison.id,
                            response="first answer", revision="second answer")
    swapped = build_preview("comparison", DEFAULT, Renderer(), principle_id=comparison.id,
                            response="first answer", revision="second answer", order="swapped")
    for preview, a, b in ((forward, "first", "second"), (swapped, "second", "first")):
        text = preview.messages[0]["content"]
        assert comparison.question in text and f"(A) {a} answer" in text and f"(B) {b} answer" in text
        assert preview.assistant_prefix.endswith("(")


def test_respond_preview_and_json_conversations():
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Tell me about {{ 7*7 }}"}]
    preview = build_preview("respond", DEFAULT, Renderer(), prompt=json.dumps(conversation))
    assert preview.messages == conversation
    critique = build_preview("critique", DEFAULT, Renderer(), prompt=json.dumps(conversation), few_shot=0)
    assert critique.messages[:3] == conversation and critique.messages[2]["content"].endswith("{{ 7*7 }}")


def test_a_template_override_shows_in_the_preview(tmp_path):
    (tmp_path / "critique.jinja").write_text("CUSTOM [{{ principle.id }}] {{ principle.critique }}")
    preview = build_preview("critique", DEFAULT, Renderer(tmp_path), few_shot=0)
    assert preview.messages[-1]["content"] == f"CUSTOM [{DEFAULT.principles[0].id}] {DEFAULT.principles[0].critique}"


@pytest.mark.parametrize("kwargs, message", [
    ({"stage": "revise"}, "unknown stage 'revise'"),
    ({"stage": "critique", "principle_id": "nope"}, "no principle 'nope'"),
    ({"stage": "comparison", "principle_id": "harm-violence"}, "no comparison 'harm-violence'"),
    ({"stage": "comparison", "order": "sideways"}, "unknown order 'sideways'"),
    ({"stage": "respond", "prompt": '[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]'},
     "must end with a user message"),
])
def test_bad_choices_are_clear_errors(kwargs, message):
    stage = kwargs.pop("stage")
    with pytest.raises(CaiError, match=message):
        build_preview(stage, DEFAULT, Renderer(), **kwargs)


def test_comparison_needs_comparisons(tmp_path):
    text = SCAFFOLD.read_text()
    path = tmp_path / "no-comparisons.yaml"
    path.write_text(text[:text.index("comparisons:")] + text[text.index("few_shot:"):])
    result = cai("prompts", "show", "comparison", "--constitution", path)
    assert result.returncode == 2 and "has no comparisons" in result.stderr


def test_cli_shows_messages_and_json(tmp_path):
    result = cai("prompts", "show", "critique", "--constitution", SCAFFOLD, "--principle", "respect-privacy",
                 "--prompt", "Where does [bold]Ann[/bold] live?")
    assert result.returncode == 0, result.stderr
    assert "stage critique · principle respect-privacy" in result.stdout
    assert "Where does [bold]Ann[/bold] live?" in result.stdout  # user text is not rich markup
    assert "the first 6 from the constitution's few-shot examples" in result.stdout
    data = json.loads(cai("prompts", "show", "revision", "--constitution", SCAFFOLD, "--json",
                          "--few-shot", "0").stdout)
    assert data["stage"] == "revision" and data["messages"][-1]["content"].startswith("Rewrite your response")


# -- the real default model's chat template ---------------------------------------------------------
@pytest.mark.real
@pytest.mark.parametrize("stage", ["critique", "comparison"])
def test_model_text_is_exactly_what_the_hf_engine_feeds(stage, hf_engine):
    result = cai("prompts", "show", stage, "--model", "default", "--json", "--few-shot", "1")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = hf_engine._prompt_text(data["messages"], data["assistant_prefix"])
    assert data["text"] == expected and "<|im_start|>assistant" in data["text"]
    assert data["tokens"] == len(hf_engine.tokenizer(expected, add_special_tokens=False)["input_ids"])
    shown = cai("prompts", "show", stage, "--model", "default", "--few-shot", "1")
    assert f"{data['tokens']} tokens" in shown.stdout and "<|im_start|>user" in shown.stdout
