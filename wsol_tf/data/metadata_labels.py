"""The class-label rule, shared by training and tools/check_dataset.py.

The class count K comes from the train split: `max train label + 1`, and
the train labels must cover every class `0..K-1` (a gap is almost always a
typo: a train label 9 among classes 0-3 would silently train a 10-class
model). Every split's labels must lie in `[0, K)`. An explicit
`num_classes` replaces the inferred K: labels must then be below it, and
gaps are allowed (a class without train images is the user's choice).
"""

import os

from wsol_tf.data.metadata_parser import CLASS_LABELS
from wsol_tf.data.metadata_parser import FORMATS
from wsol_tf.data.metadata_parser import MISSING_SPLIT
from wsol_tf.data.metadata_parser import MetadataError
from wsol_tf.data.metadata_parser import Problems
from wsol_tf.data.metadata_parser import label_range_message
from wsol_tf.data.metadata_parser import read_rows
from wsol_tf.data.metadata_parser import to_ints


def _read_labels(metadata_root, split, problems):
    """[(line number, label)] of one split's class_labels.txt (only its
    well-formed lines; the others are recorded in `problems`)."""
    path = os.path.join(metadata_root, split, CLASS_LABELS)
    fmt = FORMATS[CLASS_LABELS]
    labels = []
    for number, fields in read_rows(path, problems, f"{fmt} lines") or ():
        if len(fields) != 2:
            problems.add(
                path, number, f"expected 2 fields {fmt}, got {len(fields)}"
            )
            continue
        values = to_ints(fields[1:], path, number, problems, fmt)
        if values is not None:
            labels.append((number, values[0]))
    return path, labels


def _spans(numbers):
    """[4, 5, 6, 8] -> "4-6, 8"."""
    spans, start = [], None
    for k, n in enumerate(numbers):
        if start is None:
            start = n
        if k + 1 == len(numbers) or numbers[k + 1] != n + 1:
            spans.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(spans)


def _gap_problems(path, labels, split, problems):
    """Inferred K = max + 1: names the first line of each label above the
    first class that has no train image."""
    present = {label for _, label in labels if label >= 0}
    num_classes = max(present) + 1
    missing = sorted(set(range(num_classes)) - present)
    if not missing:
        return num_classes
    seen = set()
    for number, label in labels:
        if label > missing[0] and label not in seen:
            seen.add(label)
            problems.add(
                path,
                number,
                f"class label {label}: the {split!r} labels skip class(es) "
                f"{_spans(missing)} of 0..{num_classes - 1} (a typo?). "
                f"Expected the {split} labels to cover 0..K-1 (K = the "
                "number of classes), or pass --num_classes",
            )
    return num_classes


def check_class_labels(
    metadata_root, splits, train_split="train", num_classes=None
):
    """Applies the class-label rule to every split; collects all problems.

    Reads only the class_labels.txt files, so it is fast even for ILSVRC.

    Args:
        metadata_root: directory holding one sub-directory per split.
        splits: split names whose labels must lie in `[0, K)`.
        train_split: the split K is inferred from (read even when not in
            `splits`).
        num_classes: None infers K from `train_split` (whose labels must
            then cover `0..K-1`); an int K is used as given.

    Returns:
        `(num_classes, problems)`: K (None when the train labels cannot be
        read) and a dict `{split: ["file:line: message", ...]}` (empty
        lists when all is well), the train split first.

    Example:

    >>> num_classes, problems = check_class_labels("metadata/CUB",
    ...                                            ["train", "val", "test"])
    >>> num_classes, sum(map(len, problems.values()))
    (200, 0)
    """
    root = os.fspath(metadata_root)
    found = {}
    for split in dict.fromkeys([train_split, *splits]):
        problems = Problems()
        split_dir = os.path.join(root, split)
        if not os.path.isdir(split_dir):
            if split == train_split and num_classes is None:
                problems.add(split_dir, 0, MISSING_SPLIT)
            found[split] = (problems, None, [])
            continue
        path, labels = _read_labels(root, split, problems)
        found[split] = (problems, path, labels)
    if num_classes is None:
        problems, path, labels = found[train_split]
        if any(label >= 0 for _, label in labels):
            num_classes = _gap_problems(path, labels, train_split, problems)
        elif path is not None and not problems:
            problems.add(path, 0, "no labels: cannot infer num_classes")
    for problems, path, labels in found.values():
        for number, label in labels:
            if label < 0 or (num_classes is not None and label >= num_classes):
                problems.add(
                    path, number, label_range_message(label, num_classes)
                )
    return num_classes, {split: list(p) for split, (p, _, _) in found.items()}


def resolve_num_classes(
    metadata_root, splits, train_split="train", num_classes=None
):
    """`check_class_labels`, raising one `MetadataError` with every problem.

    Returns:
        The number of classes (the given one, or inferred from the train
        split).

    Raises:
        MetadataError: a label out of range in any split, or a gap in the
            train labels (each as `file:line: message`).
    """
    num_classes, problems = check_class_labels(
        metadata_root, splits, train_split, num_classes
    )
    listed = [p for split_problems in problems.values() for p in split_problems]
    if listed:
        raise MetadataError(
            listed,
            f"metadata_root={os.fspath(metadata_root)!r}, "
            f"splits={list(problems)}",
        )
    return num_classes
