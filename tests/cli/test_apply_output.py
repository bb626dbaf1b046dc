"""After apply (issue 15): the ids of the created groups and the outputs with their final values."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.e2e.cli import run

ROOT = Path(__file__).resolve().parents[2]


def test_apply_prints_created_ids_and_outputs(tmp_path: Path) -> None:
    directory = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", directory)
    code, out, err = run("apply", directory, "--auto-approve")
    assert code == 0, err
    state = json.loads((directory / "live.json").read_text())
    ids = {g["SecurityGroupName"]: g["SecurityGroupId"] for g in state["SecurityGroups"]}
    tail = out.split("Apply complete!", 1)[1]
    assert f'security_group.admin = "{ids["quickstart-admin"]}"' in tail
    assert f'security_group.web = "{ids["quickstart-web"]}"' in tail
    assert re.search(rf'Outputs:\n  web_id = "{ids["quickstart-web"]}"', tail)
