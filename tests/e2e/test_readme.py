"""The README's seed-lab walkthrough, run as written: the shell block after the
`<!-- walkthrough -->` marker, in bash, from the repository's root, against a fresh server,
with `keyward`, the aws CLI and a python3 that has boto3 first on PATH. What it prints is what
the README says it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REGION, REPO_ROOT, aws_executable, keyward_bin

WALKTHROUGH = re.compile(r"<!-- walkthrough:[^>]*-->\s*```sh\n(.*?)```", re.S)


def walkthrough() -> str:
    found = WALKTHROUGH.search((REPO_ROOT / "README.md").read_text())
    assert found, "README.md has no walkthrough block"
    return found.group(1)


def test_the_readme_walkthrough_runs_the_seed_lab(fresh_server, tmp_path: Path, sensitive) -> None:
    sensitive.add("lab_password")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {fresh_server.access_key_id}\n"
                           f"aws_secret_access_key = {fresh_server.secret_access_key}\n")
    credentials.chmod(0o600)
    path = os.pathsep.join([str(keyward_bin().parent), str(Path(aws_executable()).parent),
                            str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARD_"))}
    env.update({
        "PATH": path,
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": fresh_server.endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    script = "set -euo pipefail\n" + walkthrough()
    result = subprocess.run(["bash", "-c", script], cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"walkthrough failed ({result.returncode}):\n{result.stderr}"
    out = result.stdout
    assert "keys.user_name" in out and "created" in out
    assert "no changes" in out
    assert "UserName decrypted using KMS key:student" in out
    assert "Password retrieved from Secrets Manager:lab_password" in out
    assert "ExceptionSecret" not in out
    # The last line is the audit trail's Decrypt events' users: the role's session's.
    assert "keyward-exec-loadtest" in out.strip().splitlines()[-1]
