"""Strict chat templates, as common model families ship them: the few-shot turns and a system message
must land where each one accepts them. The templates are written here into a copy of the default
model's folder (the weights are linked, not copied)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cai.constitution import load_constitution
from cai.engines.roles import TemplateRoles, fold_system
from cai.paths import default_constitution
from cai.records import Record, Round
from cai.stages import CritiqueStage, RevisionStage, few_shot_turns, with_few_shot
from cai.templates import Renderer

_TURN = "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
_END = "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
TEMPLATES = {
    # Mistral/Gemma style: user, assistant, user, ... and nothing else.
    "alternating": "{% for message in messages %}"
                   "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                   "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                   "{% endif %}" + _TURN + _END,
    "no-system": "{% for message in messages %}"
                 "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
                 + _TURN + _END,
    "system-first": "{% for message in messages %}"
                    "{% if message['role'] == 'system' and not loop.first %}"
                    "{{ raise_exception('A system message is only allowed first') }}{% endif %}" + _TURN + _END,
}
DATA = Path(__file__).parent / "data"
SYSTEM = {"role": "system", "content": "You are a terse assistant."}
MULTI_TURN = [{"role": "user", "content": "I'm writing a story."},
              {"role": "assistant", "content": "What is it about?"},
              {"role": "user", "content": "A detective. Write the first line."}]


def model_with_template(default_model_path: str, folder: Path, template: str) -> str:
    """The default model's folder with `template` as its chat template."""
    folder.mkdir()
    for item in Path(default_model_path).iterdir():
        if item.name == "chat_template.jinja":
            continue
        if item.name == "tokenizer_config.json":
            config = json.loads(item.read_text())
            config.pop("chat_template", None)
            (folder / item.name).write_text(json.dumps(config))
        else:
            (folder / item.name).symlink_to(item)
    (folder / "chat_template.jinja").write_text(template)
    return str(folder)


@pytest.fixture(scope="module")
def strict_models(default_model_path, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("templates")
    return {name: model_with_template(default_model_path, root / name, text) for name, text in TEMPLATES.items()}


def stage_requests(messages) -> list:
    """The critique and revision requests of one record with one round, with two worked examples."""
    constitution, renderer = load_constitution(default_constitution()), Renderer()
    prefix = few_shot_turns(constitution, renderer, 2)
    record = Record(id="r", messages=messages, initial_response="first answer",
                    rounds=[Round(constitution.principles[0].id, "", "critique this", "a critique")])
    critique = CritiqueStage(constitution, renderer, 0, 0, prefix).requests([record])
    revision = RevisionStage(constitution, renderer, 0, prefix).requests([record])
    return prefix, critique + revision


def alternates(conversation) -> bool:
    roles = [m["role"] for m in conversation]
    return all(role == ("user" if i % 2 == 0 else "assistant") for i, role in enumerate(roles))


@pytest.mark.parametrize("messages", [[{"role": "user", "content": "hi"}], MULTI_TURN,
                                      [SYSTEM, {"role": "user", "content": "hi"}], [SYSTEM, *MULTI_TURN]],
                         ids=["single", "multi-turn", "system", "system+multi-turn"])
def test_few_shot_goes_first_after_a_system_message_and_roles_alternate(messages):
    prefix, requests = stage_requests(messages)
    assert prefix and prefix[-1]["role"] == "assistant"
    lead = messages[:1] if messages[0]["role"] == "system" else []
    for request in requests:
        # The system message (if any) leads, then the shared prefix, for the prefix cache.
        assert request[:len(lead) + len(prefix)] == lead + prefix
        body = request[len(lead):]
        assert alternates(body) and alternates(fold_system(request))


def test_placement_is_pure():
    prefix = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    messages = [SYSTEM, {"role": "user", "content": "hi"}]
    assert with_few_shot(prefix, messages) == [SYSTEM, *prefix, messages[1]]
    assert messages == [SYSTEM, {"role": "user", "content": "hi"}] and len(prefix) == 2
    assert with_few_shot(prefix, messages[1:]) == [*prefix, messages[1]]
    assert with_few_shot([], messages) == messages


def test_a_worked_example_with_its_own_system_message_keeps_the_prefix_alternating():
    import dataclasses

    constitution = load_constitution(default_constitution())
    example = constitution.few_shot[0]
    with_system = dataclasses.replace(example, messages=(SYSTEM, *example.messages))
    constitution = dataclasses.replace(constitution, few_shot=[with_system])
    prefix = few_shot_turns(constitution, Renderer(), 1)
    assert alternates(prefix) and prefix[0]["content"].startswith(SYSTEM["content"] + "\n\n")


def test_fold_system_joins_the_next_user_turn():
    assert fold_system([SYSTEM, {"role": "user", "content": "hi"}]) == [
        {"role": "user", "content": "You are a terse assistant.\n\nhi"}]
    assert fold_system([SYSTEM]) == [{"role": "user", "content": "You are a terse assistant."}]


def test_the_probe_tells_which_templates_take_a_system_role(strict_models, default_model_path):
    from transformers import AutoTokenizer

    shows = {name: TemplateRoles(AutoTokenizer.from_pretrained(path)).system for name, path in strict_models.items()}
    assert shows == {"alternating": False, "no-system": False, "system-first": True}
    assert TemplateRoles(AutoTokenizer.from_pretrained(default_model_path)).system is True


@pytest.mark.real
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_a_real_run_through_a_strict_template(template, strict_models, write_jsonl, tmp_path):
    # A system-prompt row, and the first multi-turn conversation of tests/data/multi_turn.jsonl.
    shipped = [json.loads(line) for line in (DATA / "multi_turn.jsonl").read_text().splitlines()]
    multi = next(row for row in shipped if len(row["conversation"]) > 1)
    prompts = write_jsonl([{"id": "sys", "conversation": [SYSTEM, {"role": "user", "content": "Name a colour."}]},
                           {"id": "multi", "conversation": multi["conversation"]}])
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "cai", "run", "--engine", "hf", "--model", strict_models[template],
                             "--prompts", str(prompts), "--rounds", "1", "--max-new-tokens", "16", "--few-shot", "1",
                             "--dtype", "float32", "--no-label", "--test-size", "0", "--out", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=1800, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["completed"] == 2, manifest["counts"]
    traces = {r["id"]: r for r in map(json.loads, (out / "traces.jsonl").read_text().splitlines())}
    assert set(traces) == {"sys", "multi"}
    assert traces["multi"]["messages"] == multi["conversation"] and traces["sys"]["messages"][0] == SYSTEM
    for trace in traces.values():
        assert len(trace["rounds"]) == 1 and trace["rounds"][0]["revision_prompt"], trace
