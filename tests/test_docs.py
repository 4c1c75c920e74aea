"""Every repository path and relative link the user documentation names
exists: README.md and docs/*.md."""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))
)
# First components of the repository's own paths. A token under another
# folder (`runs/...`, `dataset/CUB`, wsolevaluation's `wsol/vgg.py`) names
# something a run creates or another project holds.
PREFIXES = ("wsol_tf", "tools", "flags", "bench", "docs", "tests", ".ci")
# A path token: no placeholder, glob or URL characters (`<dataset>`, `*`,
# `{a,b}`, `$VAR`, `~`, `:`) may appear in it.
PATH = re.compile(r"^\.?[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)+/?$")
INLINE = re.compile(r"`([^`]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tokens(text):
    """Words of the page's code: inline spans and fenced blocks, split at
    whitespace, `=`, `,`, quotes and brackets."""
    code = [m.group(1) for m in FENCE.finditer(text)]
    code += INLINE.findall(FENCE.sub("", text))
    for chunk in code:
        yield from re.split(r"[\s=,'\"()\[\]]+", chunk)


def repository_paths(text):
    """The repository paths a page names (sorted, unique)."""
    found = set()
    for token in _tokens(text):
        token = token.rstrip(".;:")
        if PATH.match(token) and token.split("/")[0] in PREFIXES:
            found.add(token.rstrip("/"))
    return sorted(found)


def relative_links(text):
    """Markdown link targets that are not URLs or in-page anchors."""
    targets = set()
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.add(target.split("#", 1)[0])
    return sorted(t for t in targets if t)


def _read(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def test_pages_found():
    assert "docs/method.md" in PAGES and "docs/evaluation.md" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_named_repository_paths_exist(page):
    missing = [
        p
        for p in repository_paths(_read(page))
        if not os.path.exists(os.path.join(ROOT, p))
    ]
    assert not missing, f"{page} names paths not in the repository: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_exist(page):
    base = os.path.dirname(os.path.join(ROOT, page))
    missing = [
        t
        for t in relative_links(_read(page))
        if not os.path.exists(os.path.normpath(os.path.join(base, t)))
    ]
    assert not missing, f"{page} links to missing files: {missing}"


def test_path_detection():
    text = (
        "Run `python tools/train.py --flagfile=flags/demo.flags` and read "
        "[the method](docs/method.md), `bench/README.md`.\n"
        "```bash\npython tools/tune.py --model_dir=runs/tune_icl \\\n"
        "    --output=bench/results/q_<date>.json\n```\n"
        "`flags/<dataset>_<backbone>_<method>.flags`, `wsol/vgg.py`, "
        "`$WSOL_TF_CACHE/pretrained/`, `~/.cache/wsol_tf`, "
        "https://github.com/clovaai/wsolevaluation, `bench/results/*.json`, "
        "[arXiv](https://arxiv.org/abs/2009.12063), [top](#install)."
    )
    assert repository_paths(text) == [
        "bench/README.md",
        "flags/demo.flags",
        "tools/train.py",
        "tools/tune.py",
    ]
    assert relative_links(text) == ["docs/method.md"]
