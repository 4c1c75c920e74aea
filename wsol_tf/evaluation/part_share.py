"""How much of a CAM lies on the part (head) vs the whole synthetic object.

A metric of the synthetic dataset (`wsol_tf.data.synthetic`), used by
`bench/quality_bench.py`. Not imported by `wsol_tf.evaluation` itself: it
needs the TensorFlow input pipeline.

Example:

```python
from wsol_tf.evaluation.part_share import part_share

shares = part_share(model, resolve_dataset(data_config))
shares["head_of_object"], shares["head_area"]
```
"""

import os

import cv2
import numpy as np

from wsol_tf.data import build_dataset
from wsol_tf.data.synthetic import render_image
from wsol_tf.evaluation.cam_ops import scoremaps_from_cams


def _union_at(masks, size):
    """Union of bool masks [N, H, W], nearest-resized to size x size."""
    return cv2.resize(
        masks.any(0).astype(np.uint8),
        (size, size),
        interpolation=cv2.INTER_NEAREST,
    ).astype(bool)


def part_share(model, data):
    """Where the CAM mass lies: the head (part), the object, the background.

    Every test image is re-rendered by the generator (same seed, split,
    index and settings), which gives its head and object masks; they are
    nearest-resized to the evaluation size, as the protocol's masks. The
    map is the protocol's score map (cubic resize of the GT-class CAM,
    min-max normalised). Per image: `cam_on_object` = map mass on the
    object / all map mass; `head_of_object` = map mass on the head / map
    mass on the object; `head_area` = head pixels / object pixels (the
    `head_of_object` of a map uniform on the object). A CAM that finds only
    the part has head_of_object >> head_area; one that "recovers the whole
    object" (the paper's claim for ICL) brings it down towards head_area.

    Args:
        model: anything with `compute_cams(images, class_ids)`.
        data: a resolved synthetic `DataConfig` (see `resolve_dataset`).

    Returns:
        dict of the three means over the test images, in %.
    """
    size = data.eval_image_size
    sums = {"cam_on_object": [], "head_of_object": [], "head_area": []}
    for batch in build_dataset(data, data.test_split, training=False):
        labels = np.asarray(batch["labels"])
        _, cams = model.compute_cams(batch["images"], labels)
        maps = scoremaps_from_cams(np.asarray(cams), size)
        for image_id, label, cam in zip(
            np.asarray(batch["image_ids"]), labels, maps
        ):
            stem = os.path.splitext(image_id.decode())[0]
            ex = render_image(
                data.synthetic_seed,
                data.test_split,
                int(stem.rsplit("_", 1)[1]),
                int(label),
                num_classes=data.synthetic_num_classes,
                image_size=data.synthetic_image_size,
                head_scale=data.synthetic_head_scale,
                distractor_heads=data.synthetic_distractor_heads,
            )
            obj = _union_at(ex.instance_masks, size)
            head = _union_at(ex.part_masks, size)
            total, on_obj = cam.sum(), cam[obj].sum()
            sums["cam_on_object"].append(on_obj / max(total, 1e-12))
            sums["head_of_object"].append(cam[head].sum() / max(on_obj, 1e-12))
            sums["head_area"].append(head.sum() / max(obj.sum(), 1))
    return {k: 100.0 * float(np.mean(v)) for k, v in sums.items()}
