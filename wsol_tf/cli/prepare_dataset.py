r"""Download, check, extract and lay out a dataset of the protocol.

    python tools/prepare_dataset.py --dataset=cub --root=dataset
    python tools/train.py --flagfile=flags/cub_resnet50_icl.flags \
        --data_root=dataset/CUB

does what wsolevaluation's `dataset/prepare_*.sh` do (see
`wsol_tf.data.prepare`): `--dataset=cub|openimages|ilsvrc` under
`--root` (`<root>/CUB`, `<root>/OpenImages`, `<root>/ILSVRC`: the
presets' `--data_root`). Downloads resume, are checked against the sizes
and digests recorded in `wsol_tf.downloads.REMOTE_FILES`, and are renamed
into place only when they pass. ImageNet's `ILSVRC2012_img_train.tar` and
`ILSVRC2012_img_val.tar` are the user's (in `--archives_dir` or
`--root`); the ILSVRC train metadata is written into
`<--metadata_root>/train`. An archive that cannot be had is named in one
line (what, from where, where to put it), the others are prepared, and
the tool ends with status 1; a re-run does only what is left.

`--mirror=URL` (or the environment variable WSOL_TF_MIRROR) fetches
every file as `URL/<file name>` instead, e.g. from a local copy.
"""

import os

from absl import app
from absl import flags

from wsol_tf.cli import flagfiles
from wsol_tf.data import prepare
from wsol_tf.errors import WSOLError

DATASET = flagfiles.define_once(
    flags.DEFINE_enum,
    "dataset",
    None,
    sorted(prepare.RECIPES),
    "Dataset to prepare.",
    required=True,
)
ROOT = flagfiles.define_once(
    flags.DEFINE_string,
    "root",
    None,
    "Datasets folder: <root>/CUB, <root>/OpenImages or <root>/ILSVRC is "
    "the --data_root to train with.",
    required=True,
)
ARCHIVES_DIR = flagfiles.define_once(
    flags.DEFINE_string,
    "archives_dir",
    "",
    "Where archives are downloaded, and where ImageNet's tars are looked "
    "for before --root ('' -> --root).",
)
METADATA_ROOT = flagfiles.define_once(
    flags.DEFINE_string,
    "metadata_root",
    "",
    "--dataset=ilsvrc: where the train metadata is written (<this>/train); "
    "the --metadata_root to train with.",
)
MIRROR = flagfiles.define_once(
    flags.DEFINE_string,
    "mirror",
    "",
    "Base URL to fetch every file from as <mirror>/<file name> ('' -> "
    "$WSOL_TF_MIRROR, else each file's own URL).",
)
WORKERS = flagfiles.define_once(
    flags.DEFINE_integer,
    "workers",
    4,
    "Threads extracting ImageNet's per-class tars.",
    lower_bound=1,
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    recipe = prepare.RECIPES[DATASET.value]
    if recipe.train_metadata and not METADATA_ROOT.value:
        raise app.UsageError(
            f"--metadata_root: needed with --dataset={DATASET.value} (the "
            "train metadata goes into <metadata_root>/train), e.g. "
            "--metadata_root=metadata/ILSVRC."
        )
    result = prepare.prepare_dataset(
        DATASET.value,
        ROOT.value,
        archives_dir=ARCHIVES_DIR.value or None,
        metadata_root=METADATA_ROOT.value or None,
        mirror=MIRROR.value or None,
        workers=WORKERS.value,
    )
    if result.skipped and not (result.extracted or result.missing):
        print(f"Nothing to do: {', '.join(result.skipped)} already extracted.")
    if not result.complete:
        raise WSOLError(
            f"{len(result.missing)} archive(s) missing (named above); the "
            "others are prepared. Run again once they are in place."
        )
    data_root = os.path.join(ROOT.value, recipe.folder)
    print(
        f"{data_root} is ready: python tools/train.py "
        f"--flagfile=flags/{DATASET.value}_resnet50_icl.flags "
        f"--data_root={data_root}"
        + (
            f" --metadata_root={METADATA_ROOT.value}"
            if recipe.train_metadata
            else ""
        )
    )


def run():
    """Console-script entry point."""
    from wsol_tf.cli.errors import run_tool

    run_tool(main)
