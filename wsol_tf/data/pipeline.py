"""tf.data pipelines of the wsolevaluation protocol (spec section 3).

Train: decode -> resize to `resize_size` squared (aspect not kept, as
torchvision `Resize((256, 256))`) -> random crop `image_size` -> random
horizontal flip -> normalisation. Eval: decode -> resize to
`eval_image_size` squared (no crop) -> normalisation, with the GT boxes
rescaled as wsolevaluation's `resize_bbox` and, when the split has masks,
the PxAP label map.

Without `cache`, the resample of a training image computes only the crop's
pixels (`image_ops.read_resized_crop`): the same crop as the full resize's,
at a fraction of the cost. Both resizes run the package's C kernel of
TensorFlow's antialiased resize where it is built (`image_ops.resized_crop`).
"""

import os

import numpy as np
import tensorflow as tf

from wsol_tf import box_ops
from wsol_tf.data import image_ops
from wsol_tf.data.metadata import IMAGE_IDS
from wsol_tf.data.metadata import LOCALIZATION
from wsol_tf.data.metadata import read_metadata
from wsol_tf.data.resolve import resolve_dataset

AUTOTUNE = tf.data.AUTOTUNE


def _parallel(data_config):
    calls = data_config.num_parallel_calls
    return AUTOTUNE if calls < 0 else max(1, calls)


def _threading():
    """One thread per op inside the pipeline: its maps run elements in
    parallel already, and an op that spreads one image over the cores as
    well only adds thread-pool spinning (bench/README.md, "Input
    pipeline": as fast or faster on 2 cores)."""
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return options


def _check_files_exist(meta, mask_meta=None):
    """Raises one ValueError naming every missing image / mask file."""
    missing = []
    for image_id in meta.image_ids:
        path = meta.path(image_id)
        if not os.path.isfile(path):
            missing.append(
                f"{meta.where(IMAGE_IDS, image_id)}: image file not found: "
                f"{path}"
            )
        if mask_meta is not None:
            paths, ignore = mask_meta.masks.get(image_id, ([], None))
            for k, mask in list(enumerate(paths)) + [(0, ignore)]:
                if mask and not os.path.isfile(mask_meta.path(mask)):
                    line = mask_meta.lines[(LOCALIZATION, image_id, k)]
                    where = os.path.join(mask_meta.split_dir, LOCALIZATION)
                    missing.append(
                        f"{where}:{line}: mask file not found: "
                        f"{mask_meta.path(mask)}"
                    )
    if missing:
        shown = "\n  ".join(missing[:20])
        more = (
            f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        )
        raise ValueError(
            f"{len(missing)} file(s) listed in the metadata are missing:"
            f"\n  {shown}{more}\nReceived: data_root={meta.data_root!r}"
        )


def _mask_metadata(data_config, split, meta):
    """The metadata carrying this split's masks, or None."""
    if meta.annotation == "masks":
        return meta
    root = data_config.mask_metadata_root
    if not root or not os.path.isdir(os.path.join(root, split)):
        return None
    mask_meta = read_metadata(
        root, split, data_config.data_root, data_config.num_classes
    )
    where = os.path.join(mask_meta.split_dir, LOCALIZATION)
    if mask_meta.annotation is None:  # e.g. a train split: no masks
        return None
    if mask_meta.annotation != "masks":
        raise ValueError(
            f"{where}: expected OpenImages-style mask lines "
            f"`<image_id>,<mask_png>,<ignore_png>`. Received: "
            f"mask_metadata_root={root!r}"
        )
    lacking = [i for i in meta.image_ids if i not in mask_meta.masks]
    if lacking:
        raise ValueError(
            f"{where}: {len(lacking)} image(s) of "
            f"{os.path.join(meta.split_dir, IMAGE_IDS)} have no mask, e.g. "
            f"{lacking[0]!r}. Received: mask_metadata_root={root!r}"
        )
    return mask_meta


def _labels(meta):
    return np.array([meta.labels[i] for i in meta.image_ids], np.int32)


def _split_metadata(data_config, split):
    """`(resolved DataConfig, WSOLMetadata of split)`: the config is
    resolved (`resolve_dataset`) when it lacks its data or metadata root."""
    cfg = data_config
    if not cfg.data_root or not cfg.metadata_root:
        cfg = resolve_dataset(cfg)
    meta = read_metadata(
        cfg.metadata_root, split, cfg.data_root, cfg.num_classes
    )
    return cfg, meta


def split_labels(data_config, split):
    """int32 labels of `split` in the order of its eval dataset
    (`build_dataset(..., training=False)`), from the metadata alone: no
    image is read."""
    return _labels(_split_metadata(data_config, split)[1])


def _padded_boxes(meta, new_size, max_boxes):
    """Boxes of every image rescaled to `new_size` (None: original), padded."""
    count = max((len(meta.boxes.get(i, ())) for i in meta.image_ids), default=0)
    k = max_boxes or max(1, count)
    rows = []
    for image_id in meta.image_ids:
        boxes = meta.boxes.get(image_id, [])
        if boxes and new_size is not None:
            boxes = box_ops.rescale_boxes(boxes, meta.sizes[image_id], new_size)
        rows.append(box_ops.pad_boxes(boxes, k))
    return np.stack(rows)


def _crop_draws(seed, size, crop):
    """The random crop corner `(oy, ox)` in the `size` resize and flip."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    ox = tf.random.stateless_uniform(
        [], seeds[0], 0, size[1] - crop + 1, dtype=tf.int32
    )
    oy = tf.random.stateless_uniform(
        [], seeds[1], 0, size[0] - crop + 1, dtype=tf.int32
    )
    flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
    return oy, ox, flip


def _flip_and_boxes(element, image, oy, ox, flip, crop):
    """The cropped `image` flipped when `flip`; boxes follow."""
    out = dict(element)
    # tf.reverse: a negative-stride slice of an image costs ~40x more.
    out["image"] = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    if "boxes" in element:
        boxes = box_ops.crop_boxes_tf(element["boxes"], ox, oy, crop, crop)
        out["boxes"] = tf.cond(
            flip,
            lambda: box_ops.flip_boxes_left_right_tf(boxes, crop),
            lambda: boxes,
        )
    return out


def _random_crop_flip(element, seed, crop):
    """Random `crop x crop` window and horizontal flip; boxes follow."""
    image = element["image"]
    oy, ox, flip = _crop_draws(seed, tf.shape(image), crop)
    # Static crop shape: InceptionV3 and the attention blocks need it.
    image = tf.ensure_shape(
        image[oy : oy + crop, ox : ox + crop], [crop, crop, 3]
    )
    return _flip_and_boxes(element, image, oy, ox, flip, crop)


def _train_parts(cfg, meta, with_boxes, drop_remainder):
    """Source tensors, decode, augmentation and batch finish of training."""
    n = len(meta.image_ids)
    if drop_remainder and n < cfg.batch_size:
        raise ValueError(
            f"Split {meta.split!r} has {n} images, fewer than one training "
            f"batch (drop_remainder=True). Received: "
            f"batch_size={cfg.batch_size}"
        )
    tensors = {
        "path": [meta.path(i) for i in meta.image_ids],
        "label": _labels(meta),
    }
    if with_boxes:
        tensors["image_id"] = list(meta.image_ids)
        tensors["boxes"] = _padded_boxes(meta, None, cfg.max_boxes)
        tensors["size"] = np.array(
            [meta.sizes.get(i, (1, 1)) for i in meta.image_ids], np.int32
        )
    size, crop = cfg.resize_size, cfg.image_size

    def load(element):
        element = dict(element)
        image = image_ops.read_image(element.pop("path"))
        element["image"] = image_ops.resized_crop(image, size, 0, 0, size)
        if with_boxes:
            element["boxes"] = box_ops.rescale_boxes_tf(
                element["boxes"], element.pop("size"), (size, size)
            )
        return element

    def augment(element, seed):
        if cfg.cache:  # decoded, resized images
            return _random_crop_flip(element, seed, crop)
        # The same crop, resampling only its pixels.
        element = dict(element)
        oy, ox, flip = _crop_draws(seed, (size, size), crop)
        image = image_ops.read_resized_crop(
            element.pop("path"), size, oy, ox, crop
        )
        if with_boxes:
            element["boxes"] = box_ops.rescale_boxes_tf(
                element["boxes"], element.pop("size"), (size, size)
            )
        return _flip_and_boxes(element, image, oy, ox, flip, crop)

    def finish(batch):
        images = image_ops.normalize_images(
            batch["image"], cfg.resolved_normalization()
        )
        if not with_boxes:
            return images, batch["label"]
        return {
            "images": images,
            "labels": batch["label"],
            "boxes": batch["boxes"],
            "image_ids": batch["image_id"],
        }

    return tensors, load, augment, finish


def _train_dataset(cfg, meta, with_boxes, drop_remainder):
    n = len(meta.image_ids)
    tensors, load, augment, finish = _train_parts(
        cfg, meta, with_boxes, drop_remainder
    )
    calls = _parallel(cfg)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if cfg.cache:
        # Cache decoded, resized images in a fixed random order; reshuffle
        # the cached elements every epoch.
        ds = ds.shuffle(n, seed=cfg.seed, reshuffle_each_iteration=False)
        ds = ds.map(load, num_parallel_calls=calls).cache()
        buffer = min(n, max(1, cfg.shuffle_buffer))
        ds = ds.shuffle(buffer, seed=cfg.seed + 1)
    else:
        # Shuffling file names is cheap, so shuffle the whole split.
        ds = ds.shuffle(n, seed=cfg.seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(
        seed=cfg.seed, rerandomize_each_iteration=True
    ).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds).map(augment, num_parallel_calls=calls)
    ds = ds.batch(cfg.batch_size, drop_remainder=drop_remainder)
    return ds.map(finish, num_parallel_calls=calls).prefetch(AUTOTUNE)


def _train_stream(cfg, meta, drop_remainder, start_epoch, steps_per_epoch):
    """The endless batch stream of `training_stream`; see there."""
    n = len(meta.image_ids)
    tensors, load, augment, finish = _train_parts(
        cfg, meta, False, drop_remainder
    )
    calls, batch = _parallel(cfg), cfg.batch_size
    per_epoch = n // batch if drop_remainder else -(-n // batch)
    start_batch = start_epoch * (steps_per_epoch or per_epoch)
    first_epoch, offset = divmod(start_batch, per_epoch)
    seed = tf.constant(cfg.seed, tf.int64)
    if cfg.cache:
        # Decoded, resized images cached in a fixed random order; each pass
        # permutes windows of `shuffle_buffer` of them (as a shuffle buffer).
        window = min(n, max(1, cfg.shuffle_buffer))
        cached = tf.data.Dataset.from_tensor_slices(tensors)
        cached = cached.shuffle(
            n, seed=cfg.seed, reshuffle_each_iteration=False
        )
        cached = cached.map(load, num_parallel_calls=calls).cache()

        def one_pass(pass_seed):
            def permute(index, elements):
                k = tf.shape(elements["label"], out_type=tf.int64)[0]
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(k), tf.stack([pass_seed, index])
                )
                return {key: tf.gather(v, order) for key, v in elements.items()}

            ds = cached.batch(window).enumerate().map(permute)
            return ds.unbatch()

    else:
        # Shuffling file names is cheap, so each pass permutes the split.
        paths = tf.constant(tensors["path"])
        labels = tf.constant(tensors["label"])

        def one_pass(pass_seed):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(n, dtype=tf.int64), tf.stack([pass_seed, seed])
            )
            return tf.data.Dataset.from_tensor_slices(
                {
                    "path": tf.gather(paths, order),
                    "label": tf.gather(labels, order),
                }
            )

    def epoch_batches(epoch):
        # Pass `epoch`: order and augmentation from (seed, epoch) only.
        skip = tf.where(
            epoch == first_epoch, tf.constant(offset * batch, tf.int64), 0
        )

        def with_seed(position, element):
            return augment(element, tf.stack([seed + 1, epoch * n + position]))

        ds = one_pass(seed * 1_000_003 + epoch).enumerate().skip(skip)
        ds = ds.map(with_seed, num_parallel_calls=calls)
        return ds.batch(batch, drop_remainder=drop_remainder)

    ds = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
    ds = ds.flat_map(epoch_batches)
    ds = ds.map(finish, num_parallel_calls=calls).prefetch(AUTOTUNE)
    return ds.with_options(_threading()), steps_per_epoch or per_epoch


def training_stream(
    data_config,
    split,
    *,
    start_epoch=0,
    steps_per_epoch=None,
    drop_remainder=False,
):
    """The endless training batches, a function of (seed, position) only.

    Pass `p` over the split is in an order drawn from
    `(data_config.seed, p)`, each image's crop and flip from its position
    in the stream, so the stream started at Keras epoch `start_epoch`
    yields exactly the batches an uninterrupted one yields from there: a
    resumed run trains on the same data as one never stopped. Passes keep
    their partial last batch (unless `drop_remainder`), as `build_dataset`.

    Args:
        data_config: a `DataConfig` (resolved as in `build_dataset`).
        split: the training split's directory name.
        start_epoch: int >= 0, Keras epochs already trained (a resume).
        steps_per_epoch: batches per Keras epoch; None: one pass over the
            split (a Keras epoch may also span or split passes).
        drop_remainder: drop each pass's last, smaller batch.

    Returns:
        `(dataset, steps_per_epoch)`: the endless `(images, labels)`
        batches and the `steps_per_epoch` to give `model.fit`.

    Example:

    >>> ds, steps = training_stream(cfg, "train", start_epoch=2)
    >>> model.fit(ds, epochs=6, initial_epoch=2, steps_per_epoch=steps)
    """
    if int(start_epoch) < 0:
        raise ValueError(
            f"Expected start_epoch >= 0. Received: start_epoch={start_epoch}"
        )
    cfg, meta = _split_metadata(data_config, split)
    _check_files_exist(meta)
    return _train_stream(
        cfg, meta, drop_remainder, int(start_epoch), steps_per_epoch
    )


def _eval_dataset(cfg, meta, mask_meta):
    size, calls = cfg.eval_image_size, _parallel(cfg)
    tensors = {
        "path": [meta.path(i) for i in meta.image_ids],
        "labels": _labels(meta),
        "boxes": _padded_boxes(meta, (size, size), cfg.max_boxes),
        "image_ids": list(meta.image_ids),
    }
    if mask_meta is not None:
        masks = [mask_meta.masks[i] for i in meta.image_ids]
        tensors["mask_paths"] = tf.ragged.constant(
            [[mask_meta.path(p) for p in paths] for paths, _ in masks],
            dtype=tf.string,
        )
        tensors["ignore_path"] = [
            mask_meta.path(ignore) if ignore else "" for _, ignore in masks
        ]

    def load(element):
        element = dict(element)
        image = image_ops.read_image(element.pop("path"))
        element["images"] = image_ops.resized_crop(image, size, 0, 0, size)
        if mask_meta is not None:
            element["masks"] = image_ops.read_mask_label_map(
                element.pop("mask_paths"), element.pop("ignore_path"), size
            )
        return element

    ds = tf.data.Dataset.from_tensor_slices(tensors)
    ds = ds.map(load, num_parallel_calls=calls)
    if cfg.cache:
        ds = ds.cache()
    ds = ds.batch(cfg.eval_batch_size)

    def finish(batch):
        batch = dict(batch)
        batch["images"] = image_ops.normalize_images(
            batch["images"], cfg.resolved_normalization()
        )
        return batch

    return ds.map(finish, num_parallel_calls=calls).prefetch(AUTOTUNE)


def build_dataset(
    data_config, split, training, *, with_boxes=False, drop_remainder=False
):
    """Builds the train or eval `tf.data.Dataset` of one split.

    Args:
        data_config: a `DataConfig`; resolved with `resolve_dataset` first
            when `data_root` or `metadata_root` is empty.
        split: split directory name under `metadata_root` (e.g. "train").
        training: True for the augmented, shuffled training stream.
        with_boxes: training only; yield dicts with the augmented boxes
            too (for visualising augmentation).
        drop_remainder: training only; drop the last, smaller batch. False
            keeps it, as PyTorch's `DataLoader` (wsolevaluation). A
            multi-replica strategy splits each batch across its replicas,
            so a short last batch leaves some replicas empty, which Keras'
            BatchNormalization rejects: `run_training` sets it there.

    Returns:
        training=True: `(images float32 [B, S, S, 3], labels int32 [B])`,
        S = `image_size`, a seeded reshuffle every iteration, one epoch per
        iteration: `ceil(N / batch_size)` batches, the last one smaller when
        `batch_size` does not divide the split's N images (unless
        `drop_remainder`). With `with_boxes`: a dict with
        "images", "labels", "boxes" (int32 [B, K, 4] in the S x S crop,
        -1 padded) and "image_ids".
        training=False: dicts with "images" float32 [B, E, E, 3], "labels"
        int32 [B], "boxes" int32 [B, K, 4] (x0, y0, x1, y1 inclusive in the
        E x E frame, rescaled with int truncation, padded with -1 rows; all
        -1 when the split has no boxes), "image_ids" string [B] and, when
        the split has masks (its own localization.txt or
        `mask_metadata_root`), "masks" uint8 [B, E, E] (1 foreground, 0
        background, 255 ignore). E = `eval_image_size`; fixed order, last
        batch may be smaller.

    Raises:
        ValueError: bad metadata (`MetadataError`, naming file and line),
            missing image or mask files (all listed), or, with
            `drop_remainder`, a training split smaller than one batch.

    Example:

    >>> cfg = resolve_dataset(DataConfig(batch_size=8))
    >>> images, labels = next(iter(build_dataset(cfg, "train", True)))
    """
    cfg, meta = _split_metadata(data_config, split)
    if training:
        _check_files_exist(meta)
        ds = _train_dataset(cfg, meta, with_boxes, drop_remainder)
    else:
        mask_meta = _mask_metadata(cfg, split, meta)
        _check_files_exist(meta, mask_meta)
        ds = _eval_dataset(cfg, meta, mask_meta)
    return ds.with_options(_threading())
