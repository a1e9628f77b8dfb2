"""Finding plaintext on disk: files under folders, and files processes hold open (unnamed temporary files too),
whose bytes contain a marker the test put in a document."""

import os
from pathlib import Path

MB = 1024 * 1024


def _holds(handle_path: str, marker: bytes) -> bool:
    with open(handle_path, "rb") as handle:
        previous = b""
        while block := handle.read(4 * MB):
            if marker in previous[-len(marker):] + block:
                return True
            previous = block
    return False


def files_with(roots: list[Path], marker: bytes, since: float = 0.0) -> list[str]:
    """Every file under these folders (changed since a moment) whose bytes contain the marker."""
    hits = []
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    if path.is_file() and path.stat().st_mtime >= since and _holds(str(path), marker):
                        hits.append(str(path))
                except OSError:
                    continue  # removed while we looked (a temporary file renamed into place)
    return hits


def open_files(pid: int | str = "self", skip: tuple[str, ...] = ()) -> dict[str, str]:
    """The regular files a process holds open, unnamed (deleted) ones included: {its /proc fd path: file name}."""
    found = {}
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found  # the process ended
    for fd in descriptors:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(path)
        except OSError:
            continue
        if target.startswith("/") and not target.startswith(("/dev/", "/proc/")) and not target.startswith(skip):
            found[path] = target  # sockets, pipes and terminals are not files
    return found


def open_files_with(marker: bytes, pids: tuple[int | str, ...] = ("self",), skip: tuple[str, ...] = ()) -> list[str]:
    """Files these processes hold open (unnamed temporary files included) whose bytes contain the marker."""
    hits = []
    for pid in pids:
        for path, target in open_files(pid, skip).items():
            try:
                if _holds(path, marker):
                    hits.append(target)
            except OSError:
                continue
    return hits
