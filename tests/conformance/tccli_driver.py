"""Runs Tencent's own CLI, unmodified, for a list of jobs in one process (tccli's import is slow).

Usage: python -m tests.conformance.tccli_driver JOBS.json → one JSON line per job on stdout:
{"job": n, "rc": exit code, "out": tccli's stdout, "err": its stderr}. Each job is
{"argv": [service, action, --option, value, …]}. tccli signs with the SDK and talks to the
endpoint given with --endpoint (an http:// URL is used as given by the SDK's ApiRequest).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


class _Kept(io.BytesIO):
    def close(self) -> None:  # keep the bytes readable after tccli closes its stream
        pass


def main(path: str) -> int:
    from tccli.main import main as tccli_main

    jobs = json.loads(open(path, encoding="utf-8").read())
    for n, job in enumerate(jobs):
        # tccli writes to sys.stdout.buffer (and may close it): real byte buffers that stay readable.
        raw = {"out": _Kept(), "err": _Kept()}
        out = io.TextIOWrapper(raw["out"], encoding="utf-8", write_through=True)
        err = io.TextIOWrapper(raw["err"], encoding="utf-8", write_through=True)
        sys.argv = ["tccli", *job["argv"]]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = tccli_main()
            except SystemExit as exc:  # tccli exits on API errors
                rc = exc.code if isinstance(exc.code, int) else 1
        text = {name: buffer.getvalue().decode("utf-8", "replace") for name, buffer in raw.items()}
        sys.__stdout__.write(json.dumps({"job": n, "rc": rc, **text}) + "\n")
        sys.__stdout__.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
