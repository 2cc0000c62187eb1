"""Project templates for ``agentform init``: which exist, and copying one into a directory.

Templates are the examples shipped with agentform (``examples/`` in a source checkout, packaged
as ``agentform/_examples`` in the wheel), so a template is always a spec that validates. Copying
renames the project, points each file's ``$schema`` modeline at a schema file written beside the
spec, and refuses to overwrite existing files unless told to. Called by the ``init`` command.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IGNORED",
    "SCHEMA_FILE",
    "ScaffoldError",
    "Template",
    "copy_template",
    "first_agent",
    "templates",
]

SCHEMA_FILE = "agentform.schema.json"
_MODELINE = re.compile(r"^# yaml-language-server: \$schema=.*$", re.MULTILINE)
_PROJECT = re.compile(r"^project:.*$", re.MULTILINE)
_SKIP = {"__pycache__", ".agentform"}


class ScaffoldError(Exception):
    """The template cannot be copied as asked; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    path: Path
    summary: str


def _roots() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here / "_examples", here.parent / "examples"]


def templates() -> dict[str, Template]:
    """Available templates by name, with the first line of each README as summary."""
    for root in _roots():
        if root.is_dir():
            found = {}
            for d in sorted(p for p in root.iterdir() if (p / "agentform.yaml").is_file()):
                readme = d / "README.md"
                summary = ""
                if readme.is_file():
                    lines = [ln.strip("# ").strip() for ln in readme.read_text().splitlines()]
                    summary = next((ln for ln in lines[1:] if ln), "")
                found[d.name] = Template(d.name, d, summary)
            return found
    return {}


def copy_template(
    template: Template, target: Path, *, project: str, schema_text: str, force: bool = False
) -> list[Path]:
    """Copy ``template`` into ``target``; return the files written (relative to target)."""
    sources = [
        p
        for p in sorted(template.path.rglob("*"))
        if p.is_file() and not _SKIP & set(p.relative_to(template.path).parts)
    ]
    plan = [(src, target / src.relative_to(template.path)) for src in sources]
    plan.append((None, target / SCHEMA_FILE))  # type: ignore[arg-type]
    existing = [dst for src, dst in plan if dst.exists() and src is not None]
    if existing and not force:
        names = ", ".join(str(p.relative_to(target)) for p in existing[:3])
        raise ScaffoldError(
            f"{names}{' ...' if len(existing) > 3 else ''} already exist in "
            f"{target}; use --force to overwrite, or choose another directory"
        )
    written: list[Path] = []
    for src, dst in plan:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src is None:
            dst.write_text(schema_text, encoding="utf-8")
        elif dst.suffix in (".yaml", ".yml"):
            text = src.read_text(encoding="utf-8")
            rel = Path(*([".."] * (len(dst.relative_to(target).parts) - 1)), SCHEMA_FILE)
            text = _MODELINE.sub(f"# yaml-language-server: $schema={rel.as_posix()}", text)
            if dst.name == "agentform.yaml" and dst.parent == target:
                text = _PROJECT.sub(f"project: {project}", text, count=1)
            dst.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(src, dst)
        written.append(dst.relative_to(target))
    if _ignore_runtime_files(target):
        written.append(Path(".gitignore"))
    return written


IGNORED = ".agentform/"  # the engine's files, the local state and the runtime store


def _ignore_runtime_files(target: Path) -> bool:
    """Keep ``.agentform/`` out of git: add it to the project's ``.gitignore`` (made if absent,
    appended to otherwise, left alone when it already says so); True if the file changed."""
    path = target / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(
        line.strip() in (IGNORED, IGNORED.rstrip("/"), "/" + IGNORED) for line in text.splitlines()
    ):
        return False
    prefix = "" if not text or text.endswith("\n") else "\n"
    comment = "# agentform's local state, engine files and runtime store\n"
    path.write_text(text + prefix + comment + IGNORED + "\n", encoding="utf-8")
    return True


def first_agent(target: Path) -> str | None:
    """The agent to ask first in the copied project: the first one no other agent delegates
    to (an entry point, not a specialist), for the next steps ``init`` prints."""
    from agentform.spec import load_spec

    spec = load_spec(target, environ={}).spec
    if spec is None or not spec.agents:
        return None
    delegated = {d for agent in spec.agents.values() for d in agent.delegates}
    return next((name for name in spec.agents if name not in delegated), next(iter(spec.agents)))
