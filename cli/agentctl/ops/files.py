"""The files an operator names (policies, test cases, the schema) are read only when they are what they claim
to be: a regular file of a bounded size, and a symlink only when it stays inside its folder. A FIFO would
hang the read, a device or a huge file would exhaust memory, and a link out of a repository someone else
prepared could make an error message echo a file of the operator's (~/.aws/credentials)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from agentctl.ops.errors import Refused

#: Far above any real policy, case or schema file.
MAX_FILE_BYTES = 1024 * 1024


def check_file(path: Path, folder: Path) -> None:
    """Refused unless `path` is a regular file of at most MAX_FILE_BYTES whose real place is inside `folder`."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve(strict=True)
            if not target.is_relative_to(folder.resolve()):
                raise Refused(f"{path} is a symbolic link to {target}, outside {folder}: not read")
            info = target.stat()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"{path} is not a regular file (a FIFO, a device or a socket): not read")
    if info.st_size > MAX_FILE_BYTES:
        raise Refused(f"{path} has {info.st_size} bytes, more than the {MAX_FILE_BYTES} agentctl reads: not read")


def read_text(path: Path) -> str:
    """The text of a file named by the operator, checked first (its folder is its parent)."""
    check_file(path, path.parent)
    return path.read_text(encoding="utf-8")


def check_policy_files(path: Path) -> None:
    """Every file a policy load reads (each .cedar file under a folder, or the file itself), checked."""
    if path.is_dir():
        for file in sorted(path.rglob("*.cedar")):
            check_file(file, path)
    elif path.exists() or path.is_symlink():
        check_file(path, path.parent)


class _NoAliases(yaml.SafeLoader):
    """YAML without aliases (`*name`): a few hundred bytes of nested aliases expand to gigabytes ("billion laughs"),
    and no case or settings file needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Safe YAML that refuses aliases: its errors are yaml.YAMLError, as yaml.safe_load's."""
    return yaml.load(text, Loader=_NoAliases)  # noqa: S506  # nosec B506 - SafeLoader-based


def repository_of(path: Path) -> Path:
    """The work tree holding `path` (the nearest folder with a .git), or its own folder when there is none: the
    boundary of what a file in it may make agentctl read."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder
