"""The `file:` state under concurrency and hostile paths (issue 12 §4, DESIGN §4).

Applies lock the state file for their whole read-modify-write; readers take a shared lock for the
read only and never write; nothing is opened or written through a symbolic link.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sgplan.backends import open_client
from sgplan.cloud.base import CloudError
from sgplan.diagnostics import UserError
from sgplan.fakecloud.filecloud import FileCloud, lock_path

STACK_TAG = "sgplan-stack"


def _create_tagged(cloud: FileCloud, stack: str) -> None:
    cloud.call("vpc", "CreateSecurityGroup", {"GroupName": f"g-{stack}", "GroupDescription": "",
                                              "Tags": [{"Key": STACK_TAG, "Value": stack}]})


def _stacks(path: Path) -> list[str]:
    groups = json.loads(path.read_text())["SecurityGroups"]
    return sorted(tag["Value"] for g in groups for tag in g["TagSet"] if tag["Key"] == STACK_TAG)


def _apply(path: Path, stack: str, rng: random.Random, errors: list[BaseException]) -> None:
    """One apply: read, think a little (the window in which the old code lost updates), write."""
    try:
        cloud = FileCloud(path, "ap-guangzhou", for_apply=True, lock_timeout=10)
        try:
            cloud.call("vpc", "DescribeSecurityGroups", {})
            time.sleep(rng.uniform(0, 0.003))
            _create_tagged(cloud, stack)
        finally:
            cloud.close()
    except BaseException as exc:  # pragma: no cover - reported by the test
        errors.append(exc)


def test_two_concurrent_applies_lose_nothing_over_50_trials(tmp_path: Path) -> None:
    rng = random.Random(12)
    started = time.monotonic()
    for trial in range(50):
        path = tmp_path / f"live-{trial}.json"
        path.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": []}))
        errors: list[BaseException] = []
        workers = [threading.Thread(target=_apply, args=(path, stack, random.Random(rng.random()), errors))
                   for stack in ("blue", "green")]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not errors, errors
        assert _stacks(path) == ["blue", "green"], f"trial {trial}: a stack's group was lost"
    assert time.monotonic() - started < 10


_PROCESS_APPLY = """
import sys, time
from sgplan.fakecloud.filecloud import FileCloud
cloud = FileCloud(sys.argv[1], "ap-guangzhou", for_apply=True, lock_timeout=20)
cloud.call("vpc", "DescribeSecurityGroups", {})
time.sleep(0.05)
cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "g", "GroupDescription": "",
                                          "Tags": [{"Key": "sgplan-stack", "Value": sys.argv[2]}]})
cloud.close()
"""


def test_concurrent_applies_in_separate_processes(tmp_path: Path) -> None:
    # flock between processes is the real case (two CI jobs on one runner).
    path = tmp_path / "live.json"
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS_APPLY, str(path), stack], cwd=Path.cwd())
             for stack in ("a", "b", "c")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert _stacks(path) == ["a", "b", "c"]


def test_a_reader_waits_for_a_running_apply_and_then_sees_its_result(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    apply = FileCloud(path, "ap-guangzhou", for_apply=True)
    _create_tagged(apply, "x")
    with pytest.raises(UserError, match=r"live\.json: the state file is locked by a running `sgplan apply` "
                                        r"\(waited 0\.2 s\)"):
        FileCloud(path, "ap-guangzhou", lock_timeout=0.2)
    with pytest.raises(UserError, match="locked"):
        FileCloud(path, "ap-guangzhou", for_apply=True, lock_timeout=0.2)
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(
        FileCloud(path, "ap-guangzhou", lock_timeout=10).call("vpc", "DescribeSecurityGroups", {})["TotalCount"]))
    reader.start()
    time.sleep(0.05)
    assert not seen  # still waiting for the apply
    apply.close()
    reader.join(timeout=10)
    assert seen == [1]


def test_readers_share_the_lock_and_never_write(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa"}]}))
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    first = FileCloud(path, "ap-guangzhou")
    assert not lock_path(path).exists()  # a reader creates no lock file
    with FileCloud(path, "ap-guangzhou", for_apply=True) as apply:
        pass  # nothing changed: nothing written
    second = open_client(f"file:{path}", "ap-guangzhou")
    with pytest.raises(CloudError) as info:
        second.call("vpc", "DeleteSecurityGroup", {"SecurityGroupId": "sg-aaaaaaaa"})
    assert info.value.code == "UnauthorizedOperation" and "read-only" in info.value.message
    for cloud in (first, second):
        assert cloud.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 1
        cloud.close()
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert not apply.engine.changed


def test_open_client_wires_for_apply(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    with pytest.raises(UserError, match="no such state file"):
        open_client(f"file:{path}", "ap-guangzhou")
    client = open_client(f"file:{path}", "ap-guangzhou", for_apply=True)
    client.call("vpc", "CreateSecurityGroup", {"GroupName": "n", "GroupDescription": ""})
    client.close()
    assert len(json.loads(path.read_text())["SecurityGroups"]) == 1


def test_the_state_file_is_never_read_or_written_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-secret1"}]}))
    before = outside.read_bytes()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "live.json").symlink_to(outside)
    for for_apply in (False, True):
        with pytest.raises(UserError, match=r"live\.json: is a symbolic link; sgplan reads and writes state files "
                                            r"only as regular files"):
            FileCloud(repo / "live.json", "ap-guangzhou", for_apply=for_apply)
    assert outside.read_bytes() == before


def test_a_planted_lock_file_symlink_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    path = tmp_path / "live.json"
    lock_path(path).symlink_to(victim)
    with pytest.raises(UserError, match=r"\.live\.json\.lock: the lock file is a symbolic link; remove it"):
        FileCloud(path, "ap-guangzhou", for_apply=True)
    path.write_text("{}")
    with pytest.raises(UserError, match="the lock file is a symbolic link"):
        FileCloud(path, "ap-guangzhou")
    assert victim.read_text() == "keep me" and path.read_text() == "{}"


def test_a_symlinked_state_path_is_not_replaced_by_a_write(tmp_path: Path) -> None:
    # The link is refused before anything is written, even when it appears after the read.
    path = tmp_path / "live.json"
    cloud = FileCloud(path, "ap-guangzhou", for_apply=True)
    _create_tagged(cloud, "x")
    target = tmp_path / "elsewhere.json"
    target.write_text("untouched")
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(UserError, match="is a symbolic link"):
        cloud.close()
    assert target.read_text() == "untouched" and path.is_symlink()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_failed_write_releases_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sgplan.cloud import snapshot

    path = tmp_path / "live.json"
    cloud = FileCloud(path, "ap-guangzhou", for_apply=True)
    _create_tagged(cloud, "x")
    monkeypatch.setattr(snapshot.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(UserError, match=r"cannot write the state file; it was left as it was \(No space left"):
        cloud.close()
    monkeypatch.undo()
    FileCloud(path, "ap-guangzhou", for_apply=True, lock_timeout=0.2).close()  # not left locked
    assert json.loads(path.read_text())["SecurityGroups"] == []
