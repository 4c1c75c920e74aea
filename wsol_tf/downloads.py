"""Downloads that resume, are checked, and land atomically.

Every file the package fetches from the web is recorded once, in
`REMOTE_FILES`: its URL, its size and a digest where they are known, and
the page to get it from by hand. `download` fetches one into a
directory:

- into `<name>.part`, resuming an interrupted transfer with an HTTP
  `Range` request (also after the connection drops mid-file, up to
  `attempts` times in one call);
- checked against the recorded size and digest (a sha256, an md5, or the
  sha256 prefix torchvision puts in its file names);
- renamed to `<name>` only when the check passes; a `.part` that fails it
  is deleted, and nothing is renamed.

`keras.utils.get_file` downloads and caches too, but restarts an
interrupted transfer from zero and compares whole digests only, so it
cannot check torchvision's name prefixes; the cache directory follows its
rule (`keras_cache_dir`).

A mirror replaces every URL by `<mirror>/<name>`: pass `mirror=` or set
the environment variable `WSOL_TF_MIRROR` (e.g. a local HTTP server
holding the files).

Example:

```python
from wsol_tf import downloads
path = downloads.torchvision_checkpoint("resnet50")
# ~/.keras/models/resnet50-19c8e357.pth, its sha256 starting 19c8e357
```
"""

import dataclasses
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from typing import Optional

from wsol_tf.errors import WSOLError

MIRROR_ENV = "WSOL_TF_MIRROR"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One downloadable (or hand-provided) file and how to check it.

    Attributes:
        name: the file name, also its name under a mirror.
        url: where to download it; None when it cannot be downloaded
            freely (ImageNet: the user provides it).
        page: where a person gets it by hand (shown when a download fails).
        size: its size in bytes, or None where not known.
        digest: "sha256:<hex>", "md5:<hex>" or "sha256-prefix:<hex>", or
            None where not known.
    """

    name: str
    url: Optional[str]
    page: str
    size: Optional[int] = None
    digest: Optional[str] = None


def _torchvision(name):
    """A torchvision checkpoint: its name carries its sha256's first hex
    digits (`<arch>-<8 hex>.pth`, torch.hub's convention)."""
    prefix = re.search(r"-([0-9a-f]+)\.", name).group(1)
    return RemoteFile(
        name=name,
        url=f"https://download.pytorch.org/models/{name}",
        page="https://pytorch.org/vision/stable/models.html",
        digest=f"sha256-prefix:{prefix}",
    )


_WSOLEVAL = (
    "https://github.com/clovaai/wsolevaluation#prepare-traineval-datasets"
)
_IMAGENET = "https://image-net.org/download-images.php (an account is needed)"

# The files, once. Sizes and digests as published with the files; where
# none is known, the entry says so.
REMOTE_FILES = {
    r.name: r
    for r in (
        # CUB-200-2011 (Caltech's record); its md5 and size are Caltech's.
        RemoteFile(
            name="CUB_200_2011.tgz",
            url="https://data.caltech.edu/records/65de6-vp158/files/"
            "CUB_200_2011.tgz?download=1",
            page="https://www.vision.caltech.edu/datasets/cub_200_2011/",
            size=1150585339,
            digest="md5:97eceeb196236b17998738112f37df78",
        ),
        # CUBV2 (train-fullsup), wsolevaluation's OneDrive link. Neither
        # a size nor a digest is published: only the transfer's own
        # length is checked.
        RemoteFile(
            name="CUBV2.tar",
            url="https://onedrive.live.com/download?cid=B7111B95B80CCC66"
            "&resid=B7111B95B80CCC66%2130812&authkey=AFMzb4akufUiWU0",
            page=_WSOLEVAL,
        ),
        # OpenImages30k images and masks, wsolevaluation's OneDrive links;
        # no size or digest published (the transfer's length is checked).
        RemoteFile(
            name="OpenImages_images.zip",
            url="https://onedrive.live.com/download?cid=B7111B95B80CCC66"
            "&resid=B7111B95B80CCC66%2130813&authkey=AHgXVPxKxO_5Fvc",
            page=_WSOLEVAL,
        ),
        RemoteFile(
            name="OpenImages_annotations.zip",
            url="https://onedrive.live.com/download?cid=B7111B95B80CCC66"
            "&resid=B7111B95B80CCC66%2130811&authkey=AMWbBWZVQFbm4jw",
            page=_WSOLEVAL,
        ),
        # ImageNetV2 threshold-0.7 (ILSVRC train-fullsup); no size or
        # digest published (the transfer's length is checked).
        RemoteFile(
            name="imagenetv2-threshold0.7.tar.gz",
            url="https://s3-us-west-2.amazonaws.com/imagenetv2public/"
            "imagenetv2-threshold0.7.tar.gz",
            page="https://github.com/modestyachts/ImageNetV2",
        ),
        # ILSVRC 2012: not freely downloadable. Sizes and md5s as
        # image-net.org lists them; a file the user provides is checked
        # by size (its md5 would take minutes to compute).
        RemoteFile(
            name="ILSVRC2012_img_train.tar",
            url=None,
            page=_IMAGENET,
            size=147897477120,
            digest="md5:1d675b47d978889d74fa0da5fadfb00e",
        ),
        RemoteFile(
            name="ILSVRC2012_img_val.tar",
            url=None,
            page=_IMAGENET,
            size=6744924160,
            digest="md5:29b22e2961454d5413ddabcf34fc5622",
        ),
        # torchvision's ImageNet checkpoints that wsolevaluation fine-tunes
        # (README, "Reproducing the published numbers").
        _torchvision("vgg16-397923af.pth"),
        _torchvision("resnet50-19c8e357.pth"),
        _torchvision("inception_v3_google-1a9a5a14.pth"),
    )
}

# `--checkpoint=torchvision:<architecture>` -> its file in REMOTE_FILES.
TORCHVISION_CHECKPOINTS = {
    "vgg16": "vgg16-397923af.pth",
    "resnet50": "resnet50-19c8e357.pth",
    "inceptionv3": "inception_v3_google-1a9a5a14.pth",
}


class DownloadError(WSOLError):
    """A file could not be fetched; the message says what to do by hand."""


class ChecksumError(WSOLError):
    """A file's size or digest is not the recorded one."""


def keras_cache_dir(subdir="models"):
    """Where keras.applications caches its weights: `$KERAS_HOME/<subdir>`,
    else `~/.keras/<subdir>` (`/tmp/.keras/<subdir>` where the home
    directory is not writable), as `keras.utils.get_file` decides."""
    base = os.environ.get("KERAS_HOME")
    if not base:
        home = os.path.expanduser("~")
        if not os.access(home, os.W_OK):
            home = "/tmp"
        base = os.path.join(home, ".keras")
    return os.path.join(os.path.expanduser(base), subdir)


def source_url(remote, mirror=None):
    """The URL `remote` is fetched from: `<mirror>/<name>` with a mirror
    (`mirror`, else `$WSOL_TF_MIRROR`), else its own URL (None: none)."""
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{remote.name}"
    return remote.url


def hand_instruction(remote, path, reason=None):
    """One line: what to download, from where, and where to put it."""
    why = f"{reason}. " if reason else ""
    return (
        f"{remote.name}: {why}Download it from {remote.page} and put it at "
        f"{path}, then run again."
    )


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path, remote, check_digest=True):
    """Raises ChecksumError unless `path` has `remote`'s size and digest.

    Args:
        path: the file to check.
        remote: its `RemoteFile`.
        check_digest: False checks the size only.
    """
    size = os.path.getsize(path)
    if remote.size is not None and size != remote.size:
        raise ChecksumError(
            f"{path}: {size} bytes, expected {remote.size} ({remote.name} as "
            "published)."
        )
    if not (check_digest and remote.digest):
        return
    kind, expected = remote.digest.split(":", 1)
    algorithm = "md5" if kind == "md5" else "sha256"
    actual = _file_digest(path, algorithm)
    ok = (
        actual.startswith(expected)
        if kind == "sha256-prefix"
        else (actual == expected)
    )
    if not ok:
        raise ChecksumError(
            f"{path}: {algorithm} {actual} does not match the recorded "
            f"{remote.digest} of {remote.name}."
        )


def _progress(total, verbose):
    if not verbose or not total:
        return None
    import keras

    return keras.utils.Progbar(total, unit_name="B", interval=0.5)


def _transfer(url, part, total_hint, verbose):
    """Appends the rest of `url` to `part` (Range from its size); returns
    the expected total size, or None when the server does not say."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left: `part` is whole
            return have
        raise
    with response:
        if have and response.status == 206:
            mode = "ab"
            match = re.search(
                r"/(\d+)$", response.headers.get("Content-Range", "")
            )
            total = int(match.group(1)) if match else None
        else:  # a full answer: start over
            mode, have = "wb", 0
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        bar = _progress(total or total_hint, verbose)
        with open(part, mode) as f:
            done = have
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                f.write(block)
                done += len(block)
                if bar is not None:
                    bar.update(done)
    if total is not None and done < total:
        raise http.client.IncompleteRead(b"", total - done)
    return total


def download(remote, directory, mirror=None, attempts=3, verbose=True):
    """`directory/<remote.name>`, downloaded (resumed) and checked if absent.

    A file already there is checked by size only; a downloaded one by size
    and digest.

    Args:
        remote: the `RemoteFile`.
        directory: where the file goes (created).
        mirror: base URL replacing the file's URL (default
            `$WSOL_TF_MIRROR`).
        attempts: transfers tried in this call; each resumes the last.
        verbose: show a progress bar.

    Returns:
        The file's path.

    Raises:
        DownloadError: no URL, or every attempt failed (network, HTTP
            error); one line saying what to download, from where, to where.
        ChecksumError: the downloaded file is not the recorded one (its
            `.part` is deleted).
    """
    path = os.path.join(directory, remote.name)
    if os.path.exists(path):
        verify(path, remote, check_digest=False)
        return path
    url = source_url(remote, mirror)
    if url is None:
        raise DownloadError(hand_instruction(remote, path, "not found"))
    os.makedirs(directory, exist_ok=True)
    part = path + ".part"
    reason = None
    for _ in range(attempts):
        try:
            total = _transfer(url, part, remote.size, verbose)
        except (OSError, http.client.HTTPException) as error:
            # URLError, timeouts and dropped connections are OSErrors or
            # HTTPExceptions; the next attempt resumes from the .part.
            reason = getattr(error, "reason", None) or error
            reason = (
                f"could not download {url} ({type(error).__name__}: {reason})"
            )
            continue
        if total is None or os.path.getsize(part) == total:
            break
        reason = f"could not download {url} (incomplete transfer)"
    else:
        raise DownloadError(hand_instruction(remote, path, reason))
    try:
        verify(part, remote)
    except ChecksumError as error:
        os.remove(part)
        raise ChecksumError(f"{error} Not used; {part} deleted.") from None
    os.replace(part, path)
    return path


def torchvision_checkpoint(architecture, cache_dir=None, mirror=None):
    """The torchvision ImageNet checkpoint of `architecture`, cached.

    Args:
        architecture: "vgg16", "resnet50" or "inceptionv3" (torchvision's
            "inception_v3" too).
        cache_dir: default `keras_cache_dir()` (keras.applications' cache).
        mirror: see `download`.

    Returns:
        The path of the checked `.pth` file (its sha256 starts with the hex
        digits of its name); a cached file is checked again.
    """
    key = architecture.replace("_", "")
    if key not in TORCHVISION_CHECKPOINTS:
        raise WSOLError(
            f"torchvision:{architecture}: expected one of "
            f"{', '.join(sorted(TORCHVISION_CHECKPOINTS))}."
        )
    remote = REMOTE_FILES[TORCHVISION_CHECKPOINTS[key]]
    directory = cache_dir or keras_cache_dir()
    path = os.path.join(directory, remote.name)
    if os.path.exists(path):
        verify(path, remote)  # small: the digest is cheap
        return path
    return download(remote, directory, mirror=mirror)
