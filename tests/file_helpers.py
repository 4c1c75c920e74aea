"""File-tree helpers shared by tests (pytest puts tests/ on sys.path)."""

import os


def read_tree(root):
    """{path relative to `root`: bytes} of every file under `root`."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out
