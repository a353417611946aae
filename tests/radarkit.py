"""Test helpers for the radar: a real git repository, and agents that write files by script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from swarmkit import agent_cmd

from controlroom.models import AgentSpec

IDENT = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENT, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A repository at ``root`` with one commit holding ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def writer(name: str, steps: list[dict[str, Any]], **kwargs: Any) -> AgentSpec:
    """An agent in its own worktree (unless ``workspace`` says otherwise) running ``steps``."""
    kwargs.setdefault("workspace", "worktree")
    return AgentSpec(name=name, command=agent_cmd("writer", json.dumps(steps)), **kwargs)


HOLD = {"hold": 30}
CLIENT = "".join(f"line {i}\n" for i in range(1, 21))
PYPROJECT = """[project]
name = "billing"
version = "0.1.0"
dependencies = [
    "requests>=2.0",
    "click>=8",
]
"""
