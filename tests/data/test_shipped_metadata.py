"""The wsolevaluation metadata shipped in wsol_tf/metadata/.

Every shipped split is parsed with the package's own reader, and every file
is compared with wsolevaluation's (commit 96f4b88): its git blob hash and its
first and last lines, recorded below from that repository.
"""
# ruff: noqa: E501

import copy
import hashlib
import os

import pytest
from absl import flags

from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles
from wsol_tf.config import DataConfig
from wsol_tf.data import read_metadata
from wsol_tf.data.resolve import SHIPPED_METADATA
from wsol_tf.data.resolve import resolve_dataset
from wsol_tf.data.resolve import shipped_metadata_root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# metadata path -> (git blob sha1, first line, last line) in wsolevaluation.
UPSTREAM = {
    "CUB/test/class_labels.txt": (
        "2f689e4815259a7da79456caf8b56b658e5a1b73",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg,0",
        "200.Common_Yellowthroat/Common_Yellowthroat_0055_190967.jpg,199",
    ),
    "CUB/test/image_ids.txt": (
        "dcbd21fc901829ed1f8dbfff392d85adba1ba762",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
        "200.Common_Yellowthroat/Common_Yellowthroat_0055_190967.jpg",
    ),
    "CUB/test/image_sizes.txt": (
        "cfb3d69570d1a341711136e40543c24627a1c002",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg,500,335",
        "200.Common_Yellowthroat/Common_Yellowthroat_0055_190967.jpg,357,500",
    ),
    "CUB/test/localization.txt": (
        "04318c8f577dbc31d1f1f0bbfe0837dff6622903",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg,60,27,385,331",
        "200.Common_Yellowthroat/Common_Yellowthroat_0055_190967.jpg,20,113,197,376",
    ),
    "CUB/train/class_labels.txt": (
        "fd2808ebea4306938cd68bb669f2c7099bcebde9",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg,0",
        "200.Common_Yellowthroat/Common_Yellowthroat_0049_190708.jpg,199",
    ),
    "CUB/train/image_ids.txt": (
        "6b0a7025eb9fd8aeb3263022ba5ce9e212484cf0",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
        "200.Common_Yellowthroat/Common_Yellowthroat_0049_190708.jpg",
    ),
    "CUB/train/image_sizes.txt": (
        "61599b7f0a36110b6f65ad30a4cb2d3c220fdd8f",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg,500,336",
        "200.Common_Yellowthroat/Common_Yellowthroat_0049_190708.jpg,500,333",
    ),
    "CUB/train/localization.txt": (
        "ee7e5a47075067e8baa962306bfd58dcca9703f1",
        "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg,139,30,292,294",
        "200.Common_Yellowthroat/Common_Yellowthroat_0049_190708.jpg,3,20,411,327",
    ),
    "CUB/val/class_labels.txt": (
        "0f93c497fcd593b42d18c4a78f65943993b9af8e",
        "001.Black_footed_Albatross/30107316117.jpg,0",
        "200.Common_Yellowthroat/47733619781.jpg,199",
    ),
    "CUB/val/image_ids.txt": (
        "0561538f7cb78132e9a349fbe008c9661e276c92",
        "001.Black_footed_Albatross/30107316117.jpg",
        "200.Common_Yellowthroat/47733619781.jpg",
    ),
    "CUB/val/image_sizes.txt": (
        "e6300a969c023d31dba20ee302e828031823ebeb",
        "001.Black_footed_Albatross/30107316117.jpg,560,419",
        "200.Common_Yellowthroat/47733619781.jpg,931,621",
    ),
    "CUB/val/localization.txt": (
        "a69c180f6c5feca83870b11bf8ab85b9995722ce",
        "001.Black_footed_Albatross/30107316117.jpg,176,136,459,291",
        "200.Common_Yellowthroat/47733619781.jpg,376,214,696,494",
    ),
    "ILSVRC/test/class_labels.txt": (
        "7d4417586fd4f083e19a5865b64ae18b258ed342",
        "val/ILSVRC2012_val_00000001.JPEG,65",
        "val/ILSVRC2012_val_00050000.JPEG,355",
    ),
    "ILSVRC/test/image_ids.txt": (
        "f26c533559f149856519ff2bbdff34a119f92c32",
        "val/ILSVRC2012_val_00000001.JPEG",
        "val/ILSVRC2012_val_00050000.JPEG",
    ),
    "ILSVRC/test/image_sizes.txt": (
        "e6e36cb390cc4a987786c3abffb04b2c26ccdc46",
        "val/ILSVRC2012_val_00000001.JPEG,500,375",
        "val/ILSVRC2012_val_00050000.JPEG,500,375",
    ),
    "ILSVRC/test/localization.txt": (
        "c8665bd7e80e8b38135b0e52061cbeeb13db30d3",
        "val/ILSVRC2012_val_00000001.JPEG,111,108,441,193",
        "val/ILSVRC2012_val_00050000.JPEG,175,89,474,342",
    ),
    "ILSVRC/val/class_labels.txt": (
        "db076ff8fc52146a8abe237293213732c6a6ee4a",
        "val2/0/0.jpeg,0",
        "val2/999/9.jpeg,999",
    ),
    "ILSVRC/val/image_ids.txt": (
        "dbbc418fa3dcd958729de1cb2840fd95efc0ea5d",
        "val2/0/0.jpeg",
        "val2/999/9.jpeg",
    ),
    "ILSVRC/val/image_sizes.txt": (
        "71ebc843e529445d812fffc97a59f222f088e481",
        "val2/0/0.jpeg,500,375",
        "val2/999/9.jpeg,333,500",
    ),
    "ILSVRC/val/localization.txt": (
        "55d1595df23aa3f2b9090a6fdbf777ab7bc25355",
        "val2/0/0.jpeg,156,163,318,230",
        "val2/999/9.jpeg,14,162,314,463",
    ),
    "OpenImages/test/class_labels.txt": (
        "201ff7469fd2d26b7692d5bcd893b1033b88bb35",
        "test/01226z/7af766bd43da900b.jpg,0",
        "test/0ph39/61ea5d35a14e4f04.jpg,99",
    ),
    "OpenImages/test/image_ids.txt": (
        "92b113065400d2c012f0cc14c8e5adca6ea5d401",
        "test/01226z/7af766bd43da900b.jpg",
        "test/0ph39/61ea5d35a14e4f04.jpg",
    ),
    "OpenImages/test/image_sizes.txt": (
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        None,
        None,
    ),
    "OpenImages/test/localization.txt": (
        "0d0946f117c1dd1d37bbeb66d56990806e263584",
        "test/01226z/7af766bd43da900b.jpg,test/01226z/7af766bd43da900b_m01226z_6554d965.png,test/01226z/7af766bd43da900b_ignore.png",
        "test/0ph39/61ea5d35a14e4f04.jpg,test/0ph39/61ea5d35a14e4f04_m0ph39_278a1f42.png,test/0ph39/61ea5d35a14e4f04_ignore.png",
    ),
    "OpenImages/train/class_labels.txt": (
        "8bbc2d4002b85eb405716de8d10d5c760735817c",
        "train/01226z/ed9d2feb6d44cff3.jpg,0",
        "train/0ph39/cbc0248166c1bfb9.jpg,99",
    ),
    "OpenImages/train/image_ids.txt": (
        "86dd9f1f45ef135001b2f016a9349066414c3751",
        "train/01226z/ed9d2feb6d44cff3.jpg",
        "train/0ph39/cbc0248166c1bfb9.jpg",
    ),
    "OpenImages/train/image_sizes.txt": (
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        None,
        None,
    ),
    "OpenImages/train/localization.txt": (
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        None,
        None,
    ),
    "OpenImages/val/class_labels.txt": (
        "9fed0a9fc68c649bb82a1f6cd994a67e16193892",
        "val/01226z/32fdab44f6e415f1.jpg,0",
        "val/0ph39/75f4b4cb78f56ce1.jpg,99",
    ),
    "OpenImages/val/image_ids.txt": (
        "8070b01ceed6dfbf69b69a5a1dbc79f97c332d54",
        "val/01226z/32fdab44f6e415f1.jpg",
        "val/0ph39/75f4b4cb78f56ce1.jpg",
    ),
    "OpenImages/val/image_sizes.txt": (
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        None,
        None,
    ),
    "OpenImages/val/localization.txt": (
        "7397afc849543a04ce3aabbb5230d50d049364e3",
        "val/01226z/32fdab44f6e415f1.jpg,val/01226z/32fdab44f6e415f1_m01226z_7dab3053.png,val/01226z/32fdab44f6e415f1_ignore.png",
        "val/0ph39/75f4b4cb78f56ce1.jpg,val/0ph39/75f4b4cb78f56ce1_m0ph39_e0f0bef6.png,val/0ph39/75f4b4cb78f56ce1_ignore.png",
    ),
}

# dataset -> split -> (images, classes, annotation).
SPLITS = {
    "cub": {
        "train": (5994, 200, "boxes"),
        "val": (1000, 200, "boxes"),
        "test": (5794, 200, "boxes"),
    },
    "ilsvrc": {
        "val": (10000, 1000, "boxes"),
        "test": (50000, 1000, "boxes"),
    },
    "openimages": {
        "train": (29819, 100, None),
        "val": (2500, 100, "masks"),
        "test": (5000, 100, "masks"),
    },
}


def _git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_shipped_files_are_wsolevaluations():
    root = os.path.dirname(shipped_metadata_root("cub"))
    shipped = sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
        for d, _, files in os.walk(root)
        for f in files
        if f.endswith(".txt")
    )
    assert shipped == sorted(UPSTREAM)
    for path, (sha, first, last) in UPSTREAM.items():
        with open(os.path.join(root, path), "rb") as f:
            data = f.read()
        lines = data.decode("utf-8").splitlines()
        assert (lines[:1], lines[-1:]) == (
            [first] if first else [],
            [last] if last else [],
        ), path
        assert _git_blob_sha1(data) == sha, path
    with open(os.path.join(root, "LICENSE")) as f:
        notice = f.read()
    assert "Copyright (c) 2020-present NAVER Corp." in notice
    assert "Permission is hereby granted, free of charge" in notice


@pytest.mark.parametrize(
    "dataset,split",
    [(d, s) for d, splits in SPLITS.items() for s in splits],
)
def test_every_shipped_split_parses(dataset, split):
    count, classes, annotation = SPLITS[dataset][split]
    root = shipped_metadata_root(dataset)
    meta = read_metadata(root, split, num_classes=classes)
    assert len(meta.image_ids) == len(set(meta.image_ids)) == count
    assert len(meta.labels) == count
    assert sorted(set(meta.labels.values())) == list(range(classes))
    assert meta.annotation == annotation
    folder = SHIPPED_METADATA[dataset]
    first, last = UPSTREAM[f"{folder}/{split}/image_ids.txt"][1:]
    assert (meta.image_ids[0], meta.image_ids[-1]) == (first, last)
    if annotation == "boxes":
        assert len(meta.sizes) == len(meta.boxes) == count
    if annotation == "masks":
        assert set(meta.masks) == set(meta.image_ids)


def test_empty_metadata_root_resolves_to_the_shipped_folder(tmp_path):
    for dataset in ("cub", "openimages"):
        cfg = resolve_dataset(
            DataConfig(dataset_name=dataset, data_root=str(tmp_path))
        )
        assert cfg.metadata_root == shipped_metadata_root(dataset)
        assert cfg.num_classes == SPLITS[dataset]["train"][1]
    # A metadata_root given is kept (a dataset of one's own).
    own = resolve_dataset(
        DataConfig(
            dataset_name="cub",
            data_root=str(tmp_path),
            metadata_root=shipped_metadata_root("openimages"),
        )
    )
    assert own.num_classes == 100


def test_ilsvrc_train_is_not_shipped_and_the_error_names_the_tool(tmp_path):
    assert not os.path.exists(
        os.path.join(shipped_metadata_root("ilsvrc"), "train")
    )
    cfg = DataConfig(dataset_name="ilsvrc", data_root=str(tmp_path))
    with pytest.raises(ValueError) as error:
        resolve_dataset(cfg)
    message = str(error.value)
    assert "\n" not in message
    assert "split 'train'" in message
    assert "tools/make_metadata.py" in message
    train = os.path.join(str(tmp_path), "train")
    assert f"--image_dir={train}" in message


def test_dataset_presets_use_the_shipped_metadata():
    for dataset in SHIPPED_METADATA:
        fv = copy.deepcopy(flags.FLAGS)
        preset = os.path.join(REPO, "flags", "datasets", f"{dataset}.flags")
        flagfiles.parse_flags(["prog", f"--flagfile={preset}"], fv)
        data = config_flags.config_from_flags(fv).data
        assert data.dataset_name == dataset
        assert data.metadata_root == ""
