"""The embedded model's conversion when several processes ask for it at once (Ray replicas on one node):
one converts, the others wait and use its folder; no half-made folder is ever seen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASK = ("from cai.models import default_model_dir; from transformers import AutoConfig; "
       "path = default_model_dir(); AutoConfig.from_pretrained(path); print(path)")


@pytest.mark.real
def test_concurrent_conversions_convert_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAI_CACHE": str(tmp_path / "cache"), "CAI_VERBOSE": ""}
    workers = [subprocess.Popen([sys.executable, "-c", ASK], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    paths = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert paths == {str(tmp_path / "cache" / "models" / "SmolLM2-135M-Instruct")}
    assert sum(err.count("converting the embedded") for _, err in outputs) == 1  # the other one waited
    assert not [p for p in (tmp_path / "cache" / "models").iterdir() if p.name.startswith(".convert-")]
