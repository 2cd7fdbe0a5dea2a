"""On a multi-GPU flavor a bundled training script starts one process per GPU (accelerate launch), never DataParallel."""

import shlex

import pytest
from huggingface_hub import HfApi

from conftest import CANARY_TOKEN, SCRIPTS
from hf_trainer.jobs.arguments import HubUvJobRequest
from hf_trainer.jobs.hub import HubBackend


@pytest.mark.parametrize(
    "script, flavor, processes",
    [
        ("train_sft.py", "a10g-largex4", "4"),  # four GPUs: four processes
        ("train_dpo.py", "h200x2", "2"),
        ("train_sft.py", "a10g-large", None),  # one GPU: plain uv run
        ("inspect_dataset.py", "a10g-largex4", None),  # not a training script: never replicated
    ],
)
def test_the_job_command_starts_one_process_per_gpu_for_training_scripts(fake_hub, script, flavor, processes):
    # The multi-GPU flavors, as the live hardware list names them.
    fake_hub.hardware += [{**fake_hub.hardware[-1], "name": name} for name in ("a10g-largex4", "h200x2")]
    backend = HubBackend(HfApi(endpoint=fake_hub.url, token=CANARY_TOKEN), catalog_loader=lambda api: _catalog())
    backend.uv(HubUvJobRequest(script=str(SCRIPTS / script), script_args=["--max_steps", "1"], flavor=flavor))
    (spec,) = fake_hub.bodies("POST", r"^/api/jobs/alice$")
    run = shlex.split(spec["command"][2].partition("exec ")[2])
    if processes is None:
        assert "accelerate" not in run and run[:2] == ["uv", "run"]
    else:
        target = f"/tmp/hf-trainer/{script}"
        assert run[:4] == ["uv", "run", "--with-requirements", target]
        assert run[4:6] == ["accelerate", "launch"] and run[run.index("--num_processes") + 1] == processes
        assert run[-3:] == [target, "--max_steps", "1"]


def _catalog():
    from hf_trainer.runtime.estimate_math import FALLBACK_FLAVORS, Catalog

    return Catalog(FALLBACK_FLAVORS, "fallback", "test")
