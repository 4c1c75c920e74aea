"""Parsing of wsolevaluation metadata files into `WSOLMetadata` records.

Used by `metadata.py` (the public readers). Every problem is collected as a
`file:line: message` string instead of stopping at the first one.
"""

import dataclasses
import os
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from wsol_tf.errors import WSOLError

IMAGE_IDS = "image_ids.txt"
CLASS_LABELS = "class_labels.txt"
IMAGE_SIZES = "image_sizes.txt"
LOCALIZATION = "localization.txt"
_MAX_SHOWN = 20
MISSING_SPLIT = (
    f"split directory not found (expected {IMAGE_IDS}, {CLASS_LABELS}, "
    f"{IMAGE_SIZES}, {LOCALIZATION} in it)"
)


class MetadataError(WSOLError):
    """Raised by `read_metadata`; `.problems` lists every problem found.

    The message's first line is the first problem (`file:line: message`);
    the others follow, one per line.
    """

    def __init__(self, problems, received=""):
        self.problems = list(problems)
        count = len(self.problems)
        first = self.problems[0] if self.problems else "no problem listed"
        shown = "".join(f"\n  {p}" for p in self.problems[1:_MAX_SHOWN])
        more = count - _MAX_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        others = (
            f" (and {count - 1} more problem(s) below; "
            "tools/check_dataset.py lists them all)"
            if count > 1
            else ""
        )
        super().__init__(
            f"Invalid WSOL metadata: {first}{others}{shown}{tail}"
            + (f"\nReceived: {received}" if received else "")
        )


def label_range_message(label, num_classes):
    """The message of a class label outside `[0, num_classes)`."""
    bound = "num_classes" if num_classes is None else num_classes
    return (
        f"class label {label} out of range: expected 0 <= label < {bound} "
        f"(num_classes={num_classes})"
    )


@dataclasses.dataclass
class WSOLMetadata:
    """The parsed metadata of one split.

    Attributes:
        metadata_root, split, data_root: where it was read from.
        image_ids: list of image ids in file order.
        labels: dict id -> int label.
        sizes: dict id -> `(W, H)` of the original image.
        boxes: dict id -> list of `(x0, y0, x1, y1)` ints (original pixels,
            inclusive); empty for mask datasets.
        masks: dict id -> `(list of mask paths, ignore path or None)`,
            paths relative to the data root; empty for box datasets.
        num_classes: the given number of classes, or max label + 1.
        lines: dict `(file name, id) -> line number` for messages.
    """

    metadata_root: str
    split: str
    data_root: Optional[str]
    image_ids: List[str]
    labels: Dict[str, int]
    sizes: Dict[str, Tuple[int, int]]
    boxes: Dict[str, list]
    masks: Dict[str, tuple]
    num_classes: int
    lines: Dict[tuple, int] = dataclasses.field(default_factory=dict)

    @property
    def split_dir(self):
        return os.path.join(self.metadata_root, self.split)

    @property
    def annotation(self):
        """ "boxes", "masks" or None (no localization.txt)."""
        if self.masks:
            return "masks"
        return "boxes" if self.boxes else None

    def path(self, relative_path):
        """Joins a metadata path (image id or mask) with the data root."""
        return os.path.join(self.data_root or "", relative_path)

    def where(self, file_name, image_id):
        """`"<split_dir>/<file>:<line>"` of the image's first line there."""
        line = self.lines.get((file_name, image_id), 0)
        return f"{os.path.join(self.split_dir, file_name)}:{line}"


class Problems(list):
    def add(self, path, line, message):
        self.append(
            f"{path}:{line}: {message}" if line else f"{path}: {message}"
        )


def read_rows(path, problems, expected):
    """Returns [(line number, fields)] or None when the file is missing."""
    if not os.path.isfile(path):
        if expected:
            problems.add(
                path, 0, f"missing metadata file (expected {expected})"
            )
        return None
    try:
        with open(path, encoding="utf-8-sig", newline=None) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        problems.add(path, 0, f"cannot read metadata file: {e}")
        return None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append((number, [field.strip() for field in line.split(",")]))
    return rows


def to_ints(fields, path, number, problems, expected):
    try:
        return [int(field) for field in fields]
    except ValueError:
        problems.add(
            path, number, f"expected integers in {expected}, got {fields!r}"
        )
        return None


def _check_id(image_id, known, path, number, problems):
    if image_id in known:
        return True
    problems.add(
        path, number, f"image id {image_id!r} is not listed in {IMAGE_IDS}"
    )
    return False


FORMATS = {
    CLASS_LABELS: "`<image_id>,<label>`",
    IMAGE_SIZES: "`<image_id>,<W>,<H>`",
}


def _rows(meta, name, problems, mentioned):
    """Rows of one split file; records the ids it mentions (if not empty).

    class_labels.txt is required; image_sizes.txt may be absent or empty.
    """
    path = os.path.join(meta.split_dir, name)
    expected = f"{FORMATS[name]} lines" if name == CLASS_LABELS else None
    rows = read_rows(path, problems, expected) or []
    if rows or (name == CLASS_LABELS and os.path.isfile(path)):
        mentioned[name] = {fields[0] for _, fields in rows}
    return path, rows


def _fields(fields, count, path, number, problems, known):
    """The integer fields after the id, or None (problem recorded)."""
    name = os.path.basename(path)
    if len(fields) != count:
        problems.add(
            path,
            number,
            f"expected {count} fields {FORMATS[name]}, got {len(fields)}",
        )
        return None
    values = to_ints(fields[1:], path, number, problems, FORMATS[name])
    if values is None or not _check_id(
        fields[0], known, path, number, problems
    ):
        return None
    return values


def parse(metadata_root, split, num_classes, problems):
    """Parses one split; returns WSOLMetadata (None if no split dir)."""
    split_dir = os.path.join(metadata_root, split)
    if not os.path.isdir(split_dir):
        problems.add(split_dir, 0, MISSING_SPLIT)
        return None
    meta = WSOLMetadata(metadata_root, split, None, [], {}, {}, {}, {}, 0)
    lines = meta.lines

    path = os.path.join(split_dir, IMAGE_IDS)
    for number, fields in read_rows(path, problems, "`<image_id>` lines") or ():
        if len(fields) != 1 or not fields[0]:
            problems.add(
                path, number, f"expected 1 field `<image_id>`, got {fields!r}"
            )
            continue
        image_id = fields[0]
        if (IMAGE_IDS, image_id) in lines:
            first = lines[(IMAGE_IDS, image_id)]
            problems.add(
                path,
                number,
                f"duplicate image id {image_id!r} (first on line {first})",
            )
            continue
        lines[(IMAGE_IDS, image_id)] = number
        meta.image_ids.append(image_id)
    if os.path.isfile(path) and not meta.image_ids:
        problems.add(path, 0, f"empty split {split!r}: no image ids")
    known = set(meta.image_ids)

    mentioned = {}  # file name -> ids on any of its lines, valid or not
    path, rows = _rows(meta, CLASS_LABELS, problems, mentioned)
    for number, fields in rows:
        label = _fields(fields, 2, path, number, problems, known)
        if label is None:
            continue
        image_id, (label,) = fields[0], label
        if (CLASS_LABELS, image_id) in lines:
            first = lines[(CLASS_LABELS, image_id)]
            problems.add(
                path,
                number,
                f"duplicate label for {image_id!r} (first on line {first})",
            )
        elif label < 0 or (num_classes is not None and label >= num_classes):
            problems.add(path, number, label_range_message(label, num_classes))
        else:
            lines[(CLASS_LABELS, image_id)] = number
            meta.labels[image_id] = label

    path, rows = _rows(meta, IMAGE_SIZES, problems, mentioned)
    for number, fields in rows:
        size = _fields(fields, 3, path, number, problems, known)
        if size is not None and min(size) <= 0:
            problems.add(path, number, f"expected a positive size, got {size}")
        elif size is not None:
            lines[(IMAGE_SIZES, fields[0])] = number
            meta.sizes[fields[0]] = tuple(size)

    _parse_localization(meta, known, problems, mentioned)

    what = {CLASS_LABELS: "label", IMAGE_SIZES: "size", LOCALIZATION: "entry"}
    for image_id in meta.image_ids:
        for name, ids in mentioned.items():
            if image_id not in ids:
                problems.add(
                    os.path.join(split_dir, IMAGE_IDS),
                    lines[(IMAGE_IDS, image_id)],
                    f"image id {image_id!r} has no {what[name]} in {name}",
                )
    if num_classes is None:
        num_classes = max(meta.labels.values(), default=-1) + 1
    meta.num_classes = num_classes
    return meta


def _parse_localization(meta, known, problems, mentioned):
    path = os.path.join(meta.split_dir, LOCALIZATION)
    rows = read_rows(path, problems, None) or []
    if not rows:
        return
    mentioned[LOCALIZATION] = {fields[0] for _, fields in rows}
    boxes_fmt = "`<image_id>,<x0>,<y0>,<x1>,<y1>` (boxes)"
    masks_fmt = "`<image_id>,<mask_png>,<ignore_png>` (masks)"
    kind = {5: "boxes", 2: "masks", 3: "masks"}.get(len(rows[0][1]))
    if kind is None:
        problems.add(
            path,
            rows[0][0],
            f"expected {boxes_fmt} or {masks_fmt}, "
            f"got {len(rows[0][1])} fields",
        )
        return
    lines = meta.lines
    for number, fields in rows:
        image_id = fields[0]
        if kind == "boxes":
            if len(fields) != 5:
                problems.add(
                    path,
                    number,
                    f"expected 5 fields {boxes_fmt} like the first line, "
                    f"got {len(fields)}",
                )
                continue
            box = to_ints(fields[1:], path, number, problems, boxes_fmt)
            if box is None or not _check_id(
                image_id, known, path, number, problems
            ):
                continue
            x0, y0, x1, y1 = box
            if x0 < 0 or y0 < 0 or x1 < x0 or y1 < y0:
                problems.add(
                    path,
                    number,
                    f"invalid box {tuple(box)}: expected 0 <= x0 <= x1 and "
                    f"0 <= y0 <= y1",
                )
                continue
            k = len(meta.boxes.setdefault(image_id, []))
            meta.boxes[image_id].append(tuple(box))
        else:
            if len(fields) not in (2, 3) or not fields[1]:
                problems.add(
                    path,
                    number,
                    f"expected {masks_fmt} like the first line, got {fields!r}",
                )
                continue
            if not _check_id(image_id, known, path, number, problems):
                continue
            ignore = fields[2] if len(fields) == 3 and fields[2] else None
            if image_id in meta.masks:
                mask_paths, first_ignore = meta.masks[image_id]
                if ignore is not None:
                    problems.add(
                        path,
                        number,
                        f"ignore mask {ignore!r} on a later line of "
                        f"{image_id!r}: only its first line may name one",
                    )
                    continue
                k = len(mask_paths)
                mask_paths.append(fields[1])
            else:
                k = 0
                meta.masks[image_id] = ([fields[1]], ignore)
        lines.setdefault((LOCALIZATION, image_id), number)
        lines[(LOCALIZATION, image_id, k)] = number
