"""Download, check, extract and lay out CUB, OpenImages30k and ILSVRC.

What wsolevaluation's `dataset/prepare_{cub,openimages,imagenet}.sh` do,
into the layout the presets' `--data_root` expects (`flags/datasets/`):

    <root>/CUB/<class>/<image>.jpg              CUB_200_2011.tgz's images/
                                                and CUBV2.tar (val)
    <root>/OpenImages/{train,val,test}/...      OpenImages_images.zip and
                                                OpenImages_annotations.zip
    <root>/ILSVRC/train/<wnid>/<image>.JPEG     ILSVRC2012_img_train.tar (and
                                                its per-class tars)
    <root>/ILSVRC/val/<image>.JPEG              ILSVRC2012_img_val.tar (test)
    <root>/ILSVRC/val2/<class>/<image>.jpeg     ImageNetV2 threshold-0.7 (val)

and, for ILSVRC, the train metadata (1.28 M images: not shipped) under
`<metadata_root>/train`.

Archives are fetched with `wsol_tf.downloads` (resumed, checked, renamed
into place) into `archives_dir` (default `root`); ImageNet's two tars
cannot be downloaded and are looked for in `archives_dir`, then `root`.
Each archive is extracted into a temporary folder under `root` and its
files moved into place; `<root>/.prepared.json` records the archives
done, so that a re-run does nothing for them (even with the archive
deleted). An archive that cannot be had, or that fails its check, is
reported in one line (what to download, from where, where to put it;
or what did not match) and the others go on.
"""

import dataclasses
import os
import shutil
import tarfile
import tempfile
import zipfile
from concurrent import futures
from typing import Optional

from wsol_tf import downloads
from wsol_tf.errors import WSOLError
from wsol_tf.io_utils import write_json

STATE_FILE = ".prepared.json"


@dataclasses.dataclass(frozen=True)
class Extraction:
    """One archive and where its files go.

    Attributes:
        archive: its name in `downloads.REMOTE_FILES`.
        into: destination folder, relative to the root.
        member_prefix: only members under this prefix, stripped of it.
        strip_components: leading path components dropped (after the
            prefix), as `tar --strip-components`.
        per_member_tars: the archive holds one tar per class
            (`<wnid>.tar`), each extracted into `<into>/<wnid>/`.
    """

    archive: str
    into: str
    member_prefix: str = ""
    strip_components: int = 0
    per_member_tars: bool = False


@dataclasses.dataclass(frozen=True)
class DatasetRecipe:
    """A dataset's archives; `train_metadata` is written for ILSVRC."""

    folder: str
    extractions: tuple
    train_metadata: bool = False


RECIPES = {
    "cub": DatasetRecipe(
        folder="CUB",
        extractions=(
            Extraction(
                "CUB_200_2011.tgz", "CUB", member_prefix="CUB_200_2011/images/"
            ),
            Extraction("CUBV2.tar", "CUB"),
        ),
    ),
    "openimages": DatasetRecipe(
        folder="OpenImages",
        extractions=(
            Extraction("OpenImages_annotations.zip", "OpenImages"),
            Extraction("OpenImages_images.zip", "OpenImages"),
        ),
    ),
    "ilsvrc": DatasetRecipe(
        folder="ILSVRC",
        extractions=(
            Extraction("ILSVRC2012_img_val.tar", "ILSVRC/val"),
            # The tarball's one top folder (imagenetv2-threshold0.7-format-val)
            # becomes val2, as wsolevaluation's script moves it.
            Extraction(
                "imagenetv2-threshold0.7.tar.gz",
                "ILSVRC/val2",
                strip_components=1,
            ),
            Extraction(
                "ILSVRC2012_img_train.tar", "ILSVRC/train", per_member_tars=True
            ),
        ),
        train_metadata=True,
    ),
}


@dataclasses.dataclass
class PrepareResult:
    """What a run did: archives extracted, skipped (done before), missing
    (one line each saying what to do), and the metadata written."""

    extracted: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    missing: list = dataclasses.field(default_factory=list)
    metadata: Optional[str] = None

    @property
    def complete(self):
        return not self.missing


def _read_state(root):
    import json

    path = os.path.join(root, STATE_FILE)
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as error:
        raise WSOLError(
            f"{path}: not readable as JSON ({error}); delete it to prepare "
            "again."
        ) from None


def _member_name(name, extraction):
    """The member's path under the destination, or None to skip it."""
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    if extraction.member_prefix:
        if not name.startswith(extraction.member_prefix):
            return None
        name = name[len(extraction.member_prefix) :]
    parts = [p for p in name.split("/") if p]
    parts = parts[extraction.strip_components :]
    return "/".join(parts) or None


def _move_tree(source, destination):
    """Moves every file under `source` to the same place under
    `destination` (each an atomic rename; existing files are replaced)."""
    for folder, _, files in os.walk(source):
        target = os.path.join(destination, os.path.relpath(folder, source))
        os.makedirs(target, exist_ok=True)
        for name in files:
            os.replace(os.path.join(folder, name), os.path.join(target, name))


def _extract_tar(path, extraction, tmp):
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            name = _member_name(member.name, extraction)
            if name is None or not (member.isfile() or member.isdir()):
                continue
            member.name = name
            tar.extract(member, tmp, filter="data")


def _extract_zip(path, extraction, tmp):
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = _member_name(info.filename, extraction)
            if name is None:
                continue
            info.filename = name + ("/" if info.is_dir() else "")
            archive.extract(info, tmp)  # zipfile drops "..", absolute parts


def _extract_class_tar(path, member, destination, root):
    """One `<wnid>.tar` of the train tar into `destination/<wnid>/`."""
    wnid = os.path.basename(member.name).rsplit(".", 1)[0]
    final = os.path.join(destination, wnid)
    if os.path.isdir(final):  # moved whole by an earlier run
        return
    tmp = tempfile.mkdtemp(prefix=f".extract-{wnid}-", dir=root)
    try:
        with tarfile.open(path, "r:") as outer:
            with tarfile.open(
                fileobj=outer.extractfile(member), mode="r|"
            ) as inner:
                inner.extractall(os.path.join(tmp, wnid), filter="data")
        os.makedirs(destination, exist_ok=True)
        os.rename(os.path.join(tmp, wnid), final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract_per_member_tars(path, destination, root, workers):
    with tarfile.open(path, "r:") as outer:
        members = [m for m in outer.getmembers() if m.isfile()]
    bad = [m.name for m in members if not m.name.endswith(".tar")]
    if bad:
        raise WSOLError(
            f"{path}: member {bad[0]} is not a per-class .tar ({len(bad)} such "
            "members); expected ImageNet's train archive."
        )
    with futures.ThreadPoolExecutor(workers) as pool:
        jobs = [
            pool.submit(_extract_class_tar, path, m, destination, root)
            for m in members
        ]
        for job in jobs:
            job.result()
    return sorted(os.path.basename(m.name)[: -len(".tar")] for m in members)


def extract(path, extraction, root, workers=4):
    """Extracts `path` as `extraction` says into `root/extraction.into`.

    Returns:
        For per-class tars, the class folder names (label order: sorted
        WordNet ids, as ILSVRC's labels); else None.
    """
    destination = os.path.join(root, extraction.into)
    try:
        if extraction.per_member_tars:
            return _extract_per_member_tars(path, destination, root, workers)
        tmp = tempfile.mkdtemp(prefix=".extract-", dir=root)
        try:
            if zipfile.is_zipfile(path):
                _extract_zip(path, extraction, tmp)
            else:
                _extract_tar(path, extraction, tmp)
            _move_tree(tmp, destination)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise WSOLError(
            f"{path}: cannot extract ({type(error).__name__}: {error}); "
            "delete it to download it again."
        ) from None
    return None


def _locate(remote, root, archives_dir, mirror, verbose):
    """The archive's path (downloaded if needed), or raises DownloadError."""
    if remote.url is None:  # provided by the user: archives_dir, then root
        for folder in dict.fromkeys((archives_dir, root)):
            path = os.path.join(folder, remote.name)
            if os.path.exists(path):
                downloads.verify(path, remote, check_digest=False)
                return path
        raise downloads.DownloadError(
            downloads.hand_instruction(
                remote, os.path.join(archives_dir, remote.name), "not found"
            )
        )
    return downloads.download(
        remote, archives_dir, mirror=mirror, verbose=verbose
    )


def _check_imagenetv2_names(root, log):
    """wsolevaluation's val metadata names ImageNetV2 files 0.jpeg..9.jpeg;
    later uploads of the tarball use hashes (wsolevaluation issue #42)."""
    folder = os.path.join(root, "ILSVRC", "val2", "0")
    if os.path.isdir(folder) and not os.path.exists(
        os.path.join(folder, "0.jpeg")
    ):
        log(
            f"{folder}: no 0.jpeg: this ImageNetV2 tarball names its files "
            "by hash, not as wsolevaluation's metadata/ILSVRC/val "
            "(0.jpeg .. 9.jpeg per class; wsolevaluation issue #42)."
        )


def prepare_dataset(
    dataset,
    root,
    archives_dir=None,
    metadata_root=None,
    mirror=None,
    workers=4,
    log=print,
    verbose=True,
):
    """Prepares `dataset` under `root`; returns a `PrepareResult`.

    Args:
        dataset: "cub", "openimages" or "ilsvrc".
        root: the datasets folder (`<root>/CUB` etc. is the presets'
            `--data_root`).
        archives_dir: where archives are downloaded and looked for
            (default `root`).
        metadata_root: ILSVRC: where `train/` metadata is written (the
            ilsvrc presets' `--metadata_root`); required for "ilsvrc".
        mirror: base URL replacing the download URLs (see `downloads`).
        workers: threads extracting ImageNet's per-class tars.
        log: called with each one-line message.
        verbose: show download progress bars.
    """
    if dataset not in RECIPES:
        raise WSOLError(
            f"dataset {dataset!r}: expected one of "
            f"{', '.join(sorted(RECIPES))}."
        )
    recipe = RECIPES[dataset]
    if recipe.train_metadata and not metadata_root:
        raise WSOLError(f"dataset {dataset}: metadata_root is needed.")
    root = os.path.abspath(root)
    archives_dir = os.path.abspath(archives_dir or root)
    os.makedirs(root, exist_ok=True)
    state = _read_state(root)
    result = PrepareResult()
    classes = None
    for extraction in recipe.extractions:
        name = extraction.archive
        done = state.get(name)
        if done is not None and os.path.isdir(
            os.path.join(root, extraction.into)
        ):
            result.skipped.append(name)
            classes = done.get("classes", classes)
            continue
        remote = downloads.REMOTE_FILES[name]
        try:
            path = _locate(remote, root, archives_dir, mirror, verbose)
        except (downloads.DownloadError, downloads.ChecksumError) as error:
            log(str(error))
            result.missing.append(str(error))
            continue
        log(f"Extracting {path} into {os.path.join(root, extraction.into)}")
        found = extract(path, extraction, root, workers=workers)
        record = {"size": os.path.getsize(path), "into": extraction.into}
        if found is not None:
            classes = record["classes"] = found
        state[name] = record
        write_json(os.path.join(root, STATE_FILE), state)
        result.extracted.append(name)
    if dataset == "ilsvrc":
        _check_imagenetv2_names(root, log)
    if recipe.train_metadata and classes is not None:
        output = os.path.join(metadata_root, "train")
        train = [e.archive for e in recipe.extractions if e.per_member_tars]
        if set(train) & set(result.extracted) or not os.path.exists(
            os.path.join(output, "image_ids.txt")
        ):
            from wsol_tf.data import folder_metadata

            data_root = os.path.join(root, recipe.folder)
            log(f"Writing the train metadata into {output}")
            folder_metadata.write_metadata(
                os.path.join(data_root, "train"),
                output,
                data_root,
                classes=classes,
            )
            # wsolevaluation's val (ImageNetV2) and test beside it.
            copied = folder_metadata.copy_shipped_splits(dataset, output)
            log(f"Copied the shipped {dataset} {copied} beside it")
            result.metadata = output
    return result
