"""The README's commands, run as a newcomer runs them: on a fresh clone, with arguments."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .support import REPO_ROOT, free_port


def fresh_clone(destination: Path) -> Path:
    """A git clone of this checkout, with the checkout's uncommitted changes laid over it (so the code under
    test is what is about to be committed; on CI's clean clone there are none)."""
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(destination)], check=True, timeout=120)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.split(b"\0")
    for name in filter(None, (raw.decode() for raw in listed)):
        source, target = REPO_ROOT / name, destination / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.exists():
            target.unlink()  # deleted in the checkout, not yet committed
    return destination


def test_scripts_serve_passes_its_arguments_to_the_server_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path / "clone")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "BROADCAST_"))}
    # The suite's own virtualenv stands in for the one scripts/serve would install on first run, when it is
    # current (scripts/test has just made it so); otherwise the clone installs its own (minutes), because
    # an install into the shared one would point its editable package at the clone.
    pyproject = hashlib.sha256((clone / "pyproject.toml").read_bytes()).hexdigest()[:16]
    if (Path(sys.prefix) / f".installed-{pyproject}").exists():
        env["VENV_DIR"] = sys.prefix
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["scripts/serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + (90 if "VENV_DIR" in env else 600)
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)  # polling for the port to open
        assert answer is not None, f"scripts/serve exited with {proc.poll()}:\n{log_path.read_text()}"
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok"}
        # It ran the clone's code, on the clone's embedded database.
        assert (clone / "data" / "graphql_api.sqlite3").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
