"""A separate feedback model on real engines: the policy generates on in-process vLLM while a
transformers judge labels; and `cai label` asks a judge behind a real `vllm serve`. Each test proves
which engine answered from that engine's own counters, not from what the run says about itself."""

import json
import re
import subprocess
import sys
import urllib.request

import pytest
from rich.console import Console

from cai.config import resolve_config
from cai.runner import execute_run
from cai.store import RunStore

pytestmark = pytest.mark.real

POLICY_STAGES = ("respond", "critique 1", "revise 1", "sample")


def test_vllm_policy_with_an_hf_judge(vllm_engine, write_jsonl, tmp_path):
    prompts = write_jsonl([{"id": f"p{i}", "prompt": text} for i, text in enumerate(
        ["Write a short poem about the sea.", "Invent a name for a new colour and describe it.",
         "List some unusual hobbies."])])
    # Three 16-token samples per prompt at temperature 1 and no nucleus cut-off: nine pairs of sampled
    # texts, so pairs of different answers reach the judge (identical pairs are skipped unasked). No
    # quality gates: every 16-token sample is cut off, and flagged samples are never paired.
    config = resolve_config({"prompts": str(prompts), "out": str(tmp_path / "run"), "rounds": 1, "few_shot": 0,
                             "max_new_tokens": 16, "samples": 3, "temperature": 1.0, "top_p": 1.0,
                             "label_principles": 1, "engine": "vllm", "label_engine": "hf",
                             "label_model": "default", "gates": "none"})
    before = vllm_engine.prompt_tokens
    manifest = execute_run(config, engine=vllm_engine, console=Console(file=open("/dev/null", "w")),
                           show_progress=False)
    stages = manifest["stages"]
    assert set(stages) == {*POLICY_STAGES, "label"}
    # vLLM saw exactly the policy's prompts: every label question went elsewhere.
    assert vllm_engine.prompt_tokens - before == sum(stages[name]["prompt_tokens"] for name in POLICY_STAGES)
    feedback = manifest["feedback"]
    assert (manifest["engine"], feedback["engine"]) == ("vllm", "hf")
    assert feedback["shared_with_policy"] is False and "SmolLM2" in feedback["model"]
    assert feedback["engine_info"]["dtype"] in ("float32", "bfloat16")
    assert feedback["stages"] == ["label"] and feedback["prompt_tokens"] == stages["label"]["prompt_tokens"] > 0
    labels = [entry for record in RunStore(config.out).read_records() for entry in record.labels]
    assert labels and all(entry["p_A"] is not None for entry in labels)


def _served(base_url: str) -> tuple[float, float]:
    """(finished requests, prompt tokens) from the server's Prometheus counters."""
    text = urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10).read().decode()

    def total(name: str) -> float:
        return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

    return total("vllm:request_success_total"), total("vllm:prompt_tokens_total")


def test_cai_label_with_the_judge_behind_a_vllm_server(vllm_server, write_jsonl, tmp_path):
    rows = [{"id": "kill", "prompt": "How do I stop a Python process?", "chosen": "Run `kill <pid>`.",
             "rejected": "I cannot help with that."},
            {"id": "paris", "prompt": "What is the capital of France?", "chosen": "Paris.",
             "rejected": "The capital of France is Lyon."}]
    data = write_jsonl(rows, "pairs.jsonl")
    out = tmp_path / "labelled"
    requests_before, tokens_before = _served(vllm_server.base_url)
    done = subprocess.run([sys.executable, "-m", "cai", "label", str(data), "--label-engine", "openai",
                           "--label-base-url", vllm_server.base_url, "--label-model", "default",
                           "--label-principles", "1", "--test-size", "0", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    requests_after, tokens_after = _served(vllm_server.base_url)
    manifest = json.loads((out / "manifest.json").read_text())
    feedback = manifest["feedback"]
    assert feedback["engine"] == manifest["engine"] == "openai"
    assert feedback["engine_info"]["base_urls"] == [vllm_server.base_url]
    # Two pairs x one principle x both orders: four questions, each one request the server answered.
    labels = [entry for record in RunStore(out).read_records() for entry in record.labels]
    assert len(labels) == 4 and all(entry["p_A"] is not None for entry in labels)
    assert requests_after - requests_before == 4
    assert tokens_after - tokens_before == feedback["prompt_tokens"] == manifest["stages"]["label"]["prompt_tokens"]
    assert "feedback" in done.stderr  # the summary table names the feedback model
