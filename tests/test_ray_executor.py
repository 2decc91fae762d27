"""`cai run --executor ray` on a real local Ray cluster (tests/conftest.py `ray_address`), real engines.

Every run here is short (few prompts, 16-token answers, one round): what is tested is where examples
go (every one exactly once, the same principles as a local run, the same run folder), not what the
model writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from run_shape import run_content, run_shape

from cai.config import RunConfig, resolve_config
from cai.runner import execute_run

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parent.parent
OPTIONS = {"rounds": 1, "max_new_tokens": 16, "few_shot": 1, "temperature": 0.0, "test_size": 0.5, "seed": 3,
           "label_principles": 1, "dtype": "float32", "gates": "none", "engine": "hf"}
REPLICA_CLASS = "MapWorker(MapBatches(Replica))"


def _prompts(path: Path, count: int) -> Path:
    topics = ["rain", "bread", "maps", "owls", "tea", "bridges", "glass", "snow", "clocks", "rivers", "salt", "kites"]
    path.write_text("".join(json.dumps({"id": f"q{i:02d}", "prompt": f"Say one thing about {topics[i % 12]}."})
                            + "\n" for i in range(count)), encoding="utf-8")
    return path


def _quiet() -> Console:
    return Console(file=open(os.devnull, "w"))


def _trace_ids(run: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (run / "traces.jsonl").read_text().splitlines() if line.strip()]


def _lines(run: Path) -> int:
    traces = run / "traces.jsonl"
    return len(traces.read_text().splitlines()) if traces.is_file() else 0


def _alive_replicas() -> list[dict]:
    """The replicas' actors as the cluster's control store (GCS) lists them, with their worker pids.
    (ray.util.state asks the dashboard, which the test cluster runs without.)"""
    from ray._private import state

    return [a for a in state.actors().values() if a["ActorClassName"] == REPLICA_CLASS and a["State"] == "ALIVE"]


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def twelve(tmp_path_factory) -> Path:
    return _prompts(tmp_path_factory.mktemp("ray-prompts") / "prompts.jsonl", 12)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, twelve, hf_engine) -> Path:
    out = tmp_path_factory.mktemp("ray-local") / "run"
    execute_run(RunConfig(prompts=str(twelve), out=str(out), **OPTIONS), engine=hf_engine, show_progress=False,
                console=_quiet())
    return out


def test_two_hf_replicas_write_every_example_once_as_a_local_run_would(ray_address, twelve, local_run, tmp_path):
    out = tmp_path / "run"
    manifest = execute_run(RunConfig(prompts=str(twelve), out=str(out), executor="ray", replicas=2, chunk_size=3,
                                     **OPTIONS), show_progress=False, console=_quiet())
    ids = _trace_ids(out)
    assert sorted(ids) == [f"q{i:02d}" for i in range(12)] and len(ids) == 12
    ray_shape, local_shape = run_shape(out), run_shape(local_run)
    assert ray_shape == local_shape
    # Principles are seeded per example: the same seed samples the same ones on any executor.
    assert run_content(out)["principles"] == run_content(local_run)["principles"]
    executor = manifest["executor"]
    assert executor["kind"] == "ray" and executor["replicas"] == 2 and executor["block_size"] == 3
    assert sum(r["examples"] for r in executor["per_replica"].values()) == 12
    assert manifest["engine"] == "hf" and executor["engine"]["engine"] == "hf"
    assert manifest["counts"]["completed"] == 12 and manifest["status"] == "complete"


def test_one_vllm_replica(ray_address, tmp_path, local_run):
    prompts = _prompts(tmp_path / "prompts.jsonl", 3)
    out = tmp_path / "run"
    manifest = execute_run(RunConfig(prompts=str(prompts), out=str(out), executor="ray", replicas=1,
                                     replica_cpus=2, **{**OPTIONS, "engine": "vllm"}),
                           show_progress=False, console=_quiet())
    assert sorted(_trace_ids(out)) == ["q00", "q01", "q02"]
    assert manifest["engine"] == "vllm" and manifest["executor"]["engine"]["engine"] == "vllm"
    local = run_content(local_run)["principles"]
    assert run_content(out)["principles"] == {i: local[i] for i in ("q00", "q01", "q02")}
    assert set(run_shape(out)["splits"]) == set(run_shape(local_run)["splits"])


def test_a_killed_replica_is_replaced_and_its_block_retried(ray_address, tmp_path):
    prompts = _prompts(tmp_path / "prompts.jsonl", 6)
    out = tmp_path / "run"
    config = RunConfig(prompts=str(prompts), out=str(out), executor="ray", replicas=1, chunk_size=2, **OPTIONS)
    result: dict = {}

    def run() -> None:
        try:
            result["manifest"] = execute_run(config, show_progress=False, console=_quiet())
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            result["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    try:
        _wait(lambda: _lines(out) >= 1, 300, "the first finished block")
        actors = _alive_replicas()
        assert len(actors) == 1
        os.kill(actors[0]["Pid"], signal.SIGKILL)  # the replica's worker process, mid-run: blocks are left
    finally:
        worker.join(600)
    assert "error" not in result, result.get("error")
    ids = _trace_ids(out)
    assert sorted(ids) == [f"q{i:02d}" for i in range(6)] and len(ids) == 6
    # The replacement is another process: the run's figures name both.
    assert len(result["manifest"]["executor"]["per_replica"]) == 2


def test_a_killed_driver_leaves_a_run_that_resume_finishes_locally(ray_address, tmp_path, hf_engine):
    prompts = _prompts(tmp_path / "prompts.jsonl", 6)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "cai", "run", "--prompts", str(prompts), "--out", str(out), "--executor", "ray",
            "--ray-address", ray_address, "--replicas", "1", "--chunk-size", "2", "--quiet"]
    for key, value in OPTIONS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    log = tmp_path / "driver.log"
    with log.open("w") as stderr:
        driver = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        _wait(lambda: _lines(out) >= 1 or driver.poll() is not None, 300, "the first finished block")
        assert driver.poll() is None, f"the driver ended before it could be killed: {log.read_text()[-2000:]}"
    finally:
        driver.kill()  # SIGKILL: no clean-up of any kind in the driver
        driver.wait(30)
    written = _lines(out)
    assert 1 <= written < 6
    # The cluster drops a dead driver's replicas: nothing of the killed run lingers on it.
    _wait(lambda: not _alive_replicas(), 60, "the killed driver's replicas to stop")
    saved = json.loads(json.dumps(__import__("yaml").safe_load((out / "config.yaml").read_text())))
    assert saved["executor"] == "ray"
    config = resolve_config({"out": str(out), "executor": "local"}, saved=saved)
    manifest = execute_run(config, resume=True, engine=hf_engine, show_progress=False, console=_quiet())
    ids = _trace_ids(out)
    assert sorted(ids) == [f"q{i:02d}" for i in range(6)] and len(ids) == 6
    assert manifest["executor"] == {"kind": "local"} and manifest["counts"]["completed"] == 6
