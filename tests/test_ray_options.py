"""The Ray executor's logic without a cluster: the driver's dedupe, and options rejected up front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cai.config import resolve_config
from cai.distributed.driver import Dedupe, summary_rows
from cai.errors import CaiError
from cai.records import Record

REPO = Path(__file__).resolve().parent.parent


def test_dedupe_writes_each_id_once_across_retried_blocks():
    dedupe = Dedupe({"done"})
    first = dedupe.fresh([Record("a", []), Record("b", []), Record("done", [])])
    retried = dedupe.fresh([Record("b", []), Record("c", [])])  # a block Ray ran again after a replica died
    assert [r.id for r in first] == ["a", "b"] and [r.id for r in retried] == ["c"]
    assert dedupe.fresh([Record("a", []), Record("c", [])]) == []


def test_executor_options_are_checked_with_the_rest():
    with pytest.raises(CaiError, match="unknown executor 'slurm'"):
        resolve_config({"executor": "slurm"})
    with pytest.raises(CaiError, match="must be a whole number, at least 1") as error:
        resolve_config({"executor": "ray", "replicas": 0})
    assert error.value.where == "--replicas"
    with pytest.raises(CaiError, match="credentials") as error:
        resolve_config({"executor": "ray", "ray_address": "ray://me:secret@head:10001"})
    assert error.value.where == "--ray-address"
    with pytest.raises(CaiError, match="--tensor-parallel-size 2 needs"):
        resolve_config({"executor": "ray", "tensor_parallel_size": 2, "replica_gpus": 1})
    config = resolve_config({"executor": "ray", "replicas": "3", "replica_gpus": 2, "tensor_parallel_size": 2})
    assert (config.replicas, config.replica_gpus, config.replica_cpus) == (3, 2.0, 1.0)


def test_missing_ray_is_one_line_saying_how_to_install_and_makes_no_run_folder(tmp_path):
    stub = tmp_path / "no-ray" / "ray"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{stub.parent}{os.pathsep}{REPO}", "COLUMNS": "250", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "cai", "run", "--executor", "ray", "--out", str(out), "--quiet"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "needs Ray" in lines[0] and "pip install 'cai[ray]'" in lines[0]
    assert not out.exists()


def test_summary_rows_name_each_replica_and_its_throughput():
    manifest = {"executor": {"kind": "ray", "address": "10.0.0.1:6379", "replicas": 2, "replica_cpus": 1.0,
                             "replica_gpus": 1.0, "per_replica": {
                                 "node-b:12": {"examples": 5, "seconds": 10.0, "tokens_per_s": 50.0},
                                 "node-a:7": {"examples": 7, "seconds": 12.5, "tokens_per_s": 61.25}}}}
    rows = summary_rows(manifest)
    assert rows["executor"] == "ray at 10.0.0.1:6379, 2 replica(s) of 1 CPU / 1 GPU"
    assert rows["replica 1"] == "node-a:7: 7 examples in 12.5 s, 61.2 tok/s"
    assert rows["replica 2"] == "node-b:12: 5 examples in 10.0 s, 50.0 tok/s"
    assert summary_rows({"executor": {"kind": "local"}}) == {}


def test_an_address_where_no_cluster_answers_is_one_line_before_any_work(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CaiError, match="no Ray cluster answers there") as error:
        resolve_config({"executor": "ray", "ray_address": f"127.0.0.1:{port}", "out": str(tmp_path / "run")})
    assert error.value.where == f"--ray-address 127.0.0.1:{port}"
    with pytest.raises(CaiError, match="not a cluster address"):
        resolve_config({"executor": "ray", "ray_address": "head-node"})
    assert not (tmp_path / "run").exists()
