"""The openai engine: retry/spread/concurrency logic against a tiny fake server on 127.0.0.1, and the
real thing — `cai run --engine openai` against a real vLLM server the session starts and stops."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from run_shape import cli_args, run_content, run_shape
from servers import free_port

from cai.engines import Sampling, build_engine
from cai.engines.http_client import normalise_base_url
from cai.engines.server_model import choose_model
from cai.errors import CaiError

QUESTION = [{"role": "user", "content": "Which animal is larger? (A) an elephant (B) a mouse. "
                                        "Answer with the letter."}]
PREFIX = "The answer is: ("


class FakeServer:
    """/v1/models and /v1/chat/completions. `failures` are statuses answered, in order, before chat
    requests start succeeding; a reply echoes the last user message."""

    def __init__(self, failures=(), model="fake-model", delay=0.0):
        self.failures, self.model, self.delay = list(failures), model, delay
        self.chats: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.headers.append(dict(self.headers))
                self._send(200, {"data": [{"id": server.model, "max_model_len": 1024}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.chats.append(body)
                    server.headers.append(dict(self.headers))
                    status = server.failures.pop(0) if server.failures else 200
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        threading.Event().wait(server.delay)
                    if status != 200:
                        return self._send(status, {"error": {"message": f"scripted {status}"}},
                                          [("Retry-After", "0")] if status == 429 else [])
                    self._send(200, server.reply(body))
                finally:
                    with server.lock:
                        server.in_flight -= 1

        return Handler

    def reply(self, body: dict) -> dict:
        text = "echo: " + body["messages"][-1]["content"]
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if body.get("logprobs"):
            top = [{"token": " A", "logprob": math.log(0.6)}, {"token": "A", "logprob": math.log(0.1)},
                   {"token": "C", "logprob": math.log(0.2)}]
            choice["logprobs"] = {"content": [{"token": " A", "logprob": math.log(0.6), "top_logprobs": top}]}
        return {"choices": [choice] * body.get("n", 1), "usage": {"prompt_tokens": 7, "completion_tokens": 3}}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def engine_for(*servers, **options):
    options = {"backoff": 0.001, "base_url": [s.url for s in servers], **options}
    return build_engine("openai", "unused-local-path", requested_model="default", **options)


def conversations(count: int) -> list:
    return [[{"role": "user", "content": f"question {i}"}] for i in range(count)]


def test_requests_spread_over_servers_and_answers_keep_their_order():
    with FakeServer() as one, FakeServer() as two:
        engine = engine_for(one, two)
        completions = engine.chat(conversations(10), Sampling(max_new_tokens=5))
    assert [c.text for c in completions] == [f"echo: question {i}" for i in range(10)]
    assert len(one.chats) > 0 and len(two.chats) > 0 and len(one.chats) + len(two.chats) == 10
    assert all(body["max_tokens"] == 5 and body["model"] == "fake-model" for body in one.chats + two.chats)
    assert completions[0].prompt_tokens == 7 and completions[0].completion_tokens == 3


def test_concurrency_is_bounded():
    with FakeServer(delay=0.05) as server:
        engine = engine_for(server, concurrency=3)
        engine.chat(conversations(12), Sampling(max_new_tokens=5))
    assert 1 < server.max_in_flight <= 3


def test_429_and_5xx_are_retried_then_succeed():
    with FakeServer(failures=[429, 503, 500]) as server:
        engine = engine_for(server, max_retries=5)
        [completion] = engine.chat(conversations(1), Sampling(max_new_tokens=5))
    assert completion.text == "echo: question 0"
    assert len(server.chats) == 4


def test_gives_up_after_max_retries_with_one_line():
    with FakeServer(failures=[500] * 10) as server:
        engine = engine_for(server, max_retries=2)
        with pytest.raises(CaiError) as error:
            engine.chat(conversations(1), Sampling(max_new_tokens=5))
    assert len(server.chats) == 3
    assert "after 3 attempts" in error.value.line() and "HTTP 500" in error.value.line()
    assert "\n" not in error.value.line()


def test_a_rejected_request_is_not_retried():
    with FakeServer(failures=[400]) as server:
        engine = engine_for(server, max_retries=5)
        with pytest.raises(CaiError) as error:
            engine.chat(conversations(1), Sampling(max_new_tokens=5))
    assert len(server.chats) == 1 and "HTTP 400" in error.value.line() and "scripted 400" in error.value.line()


def test_unreachable_server_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(CaiError) as error:
        build_engine("openai", "m", base_url=[url], max_retries=1, backoff=0.001)
    line = error.value.line()
    assert url in line and "cannot connect" in line and "\n" not in line


def test_api_key_comes_from_the_named_variable_and_is_never_recorded(monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", "sk-secret-123")
    with FakeServer() as server:
        engine = engine_for(server, api_key_env="MY_SERVER_KEY")
        engine.chat(conversations(1), Sampling(max_new_tokens=5))
    assert {h.get("Authorization") for h in server.headers} == {"Bearer sk-secret-123"}
    assert "sk-secret-123" not in json.dumps(engine.info)
    assert engine.info["api_key_env"] == "MY_SERVER_KEY" and engine.info["api_key_set"] is True


def test_choice_probs_sum_variants_report_missing_and_continue_the_prefix():
    with FakeServer() as server:
        engine = engine_for(server)
        [probs] = engine.choice_probs([QUESTION], ["A", "B"], PREFIX)
    assert probs.probs == {"A": pytest.approx(0.7)} and probs.missing == ["B"]
    [body] = server.chats
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["messages"][-1] == {"role": "assistant", "content": PREFIX}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_greedy_samples_are_one_request_repeated():
    with FakeServer() as server:
        engine = engine_for(server)
        [completion] = engine.chat(conversations(1), Sampling(max_new_tokens=5, temperature=0.0, n=3))
    assert server.chats[0]["n"] == 1 and completion.texts == ["echo: question 0"] * 3


def test_every_request_carries_the_runs_seed():
    with FakeServer() as server:
        engine = engine_for(server)
        engine.chat(conversations(2), Sampling(max_new_tokens=5, temperature=0.8, seed=17))
        engine.chat(conversations(1), Sampling(max_new_tokens=5, temperature=0.0, seed=5))
    assert [body["seed"] for body in server.chats] == [17, 17, 5]


def test_the_cli_sends_its_seed_to_the_server(tmp_path, write_jsonl):
    from rich.console import Console

    from cai.config import resolve_config
    from cai.runner import execute_run

    prompts = write_jsonl([{"id": "a", "prompt": "hello"}])
    with FakeServer() as server:
        config = resolve_config({"prompts": str(prompts), "out": str(tmp_path / "run"), "engine": "openai",
                                 "base_url": [server.url], "model": "default", "rounds": 1, "seed": 23,
                                 "max_new_tokens": 4, "test_size": 0.0, "label": False})
        execute_run(config, console=Console(file=open(os.devnull, "w")), show_progress=False)
    assert server.chats and {body["seed"] for body in server.chats} == {23}


def test_model_choice():
    served = [[{"id": "org/model", "max_model_len": 4096}]]
    assert choose_model(served, "default", "/local/default", ["u"]) == ("org/model", 4096)
    assert choose_model(served, "org/model", "org/model", ["u"]) == ("org/model", 4096)
    with pytest.raises(CaiError, match="pass --model with one of: org/model"):
        choose_model(served, "other/model", "other/model", ["u"])
    with pytest.raises(CaiError, match="not served here"):
        choose_model(served + [[{"id": "else"}]], "default", None, ["u1", "u2"])


def test_base_urls_are_normalised():
    assert normalise_base_url("http://host:8000") == "http://host:8000/v1"
    assert normalise_base_url("http://host:8000/v1/") == "http://host:8000/v1"
    assert normalise_base_url("https://api.example.com/openai/v1") == "https://api.example.com/openai/v1"
    with pytest.raises(CaiError):
        normalise_base_url("host:8000")


@pytest.mark.real
def test_cli_run_through_a_real_vllm_server_matches_hf_structure(tmp_path, vllm_server, hf_reference_run):
    out = tmp_path / "run"
    env = dict(os.environ, OPENAI_API_KEY="sk-never-written-42")
    result = subprocess.run([sys.executable, "-m", "cai", "run", "--engine", "openai", "--base-url",
                             vllm_server.base_url, "--out", str(out), "--quiet", *cli_args()],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == "openai" and manifest["status"] == "complete"
    assert manifest["engine_info"]["base_urls"] == [vllm_server.base_url]
    assert manifest["engine_info"]["token_counts"] == "local tokenizer"
    assert run_shape(out) == run_shape(hf_reference_run)
    assert run_content(out) == run_content(hf_reference_run)
    for path in out.rglob("*"):
        if path.is_file():
            assert b"sk-never-written-42" not in path.read_bytes(), path
    assert "sk-never-written-42" not in result.stdout + result.stderr


@pytest.mark.real
def test_server_scores_and_counts_like_the_in_process_engine(vllm_server, vllm_engine):
    engine = build_engine("openai", vllm_engine.model_id, base_url=[vllm_server.base_url])
    assert engine.model_id == vllm_engine.model_id and engine.context_length == vllm_engine.context_length
    [remote] = engine.choice_probs([QUESTION], ["A", "B"], PREFIX)
    [local] = vllm_engine.choice_probs([QUESTION], ["A", "B"], PREFIX)
    # continue_final_message renders exactly the prompt the in-process engine scores...
    assert remote.prompt_tokens == local.prompt_tokens
    # ...and the same model on the same kernels gives the same probabilities.
    for letter in "AB":
        assert remote.probs[letter] == pytest.approx(local.probs[letter], abs=0.02)
    [completion] = engine.chat([QUESTION], Sampling(max_new_tokens=6, temperature=0.0))
    assert completion.prompt_tokens == engine.count_tokens(QUESTION) == vllm_engine.count_tokens(QUESTION)
    assert 1 <= completion.completion_tokens <= 6
    # The run's seed reaches the server: the same seeded sampling request twice gives the same text.
    sampled = Sampling(max_new_tokens=12, temperature=1.0, seed=11)
    first, second = engine.chat([QUESTION, QUESTION], sampled)
    assert first.text == second.text and engine.chat([QUESTION], sampled)[0].text == first.text
