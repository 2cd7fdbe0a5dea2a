"""Hardening III (docs that say what the code does not): `train_vlm.py --help` offered `--fsdp`, which the script
refuses. It is no longer offered; given anyway, it is still refused with the reason (not "unrecognized")."""

import subprocess
import sys

from conftest import SCRIPTS


def test_train_vlm_help_does_not_offer_fsdp_and_still_explains_its_refusal() -> None:
    script = str(SCRIPTS / "train_vlm.py")
    shown = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "--fsdp" not in shown.stdout
    sys.path.insert(0, str(SCRIPTS))
    try:
        import train_vlm
    finally:
        sys.path.remove(str(SCRIPTS))
    assert train_vlm.parse_args(["--fsdp", "--model_name_or_path", "m", "--dataset_name", "d"]).fsdp is True
