"""How much of a CAM lies on the part (head), the object, the background.

A metric of the embedded synthetic datasets (`wsol_tf.data.synthetic`,
both styles), used by `bench/quality_bench.py`: the generator's part labels
of every image (re-rendered by `synthetic.part_label_map`) say where the
head and the object are. Not imported by `wsol_tf.evaluation` itself: it
needs the TensorFlow input pipeline.

Example:

```python
from wsol_tf.evaluation.part_share import part_share

shares = part_share(model, resolve_dataset(data_config))
shares["head_of_object"], shares["head_area"]
```
"""

import cv2
import numpy as np

from wsol_tf.data import build_dataset
from wsol_tf.data.synthetic import part_label_map
from wsol_tf.evaluation.cam_ops import scoremaps_from_cams

HEAD = 1  # part label of the head (`synthetic_birds.PART_NAMES`)


def part_share(model, data, split=None):
    """Where the CAM mass lies: the head (part), the object, the background.

    The map is the protocol's score map (cubic resize of the GT-class CAM,
    min-max normalised); the part labels are nearest-resized to the
    evaluation size, as the protocol's masks. Per image: `cam_on_object` =
    map mass on the object / all map mass; `cam_on_background` = 100 minus
    it; `head_of_object` = map mass on the head / map mass on the object;
    `head_area` = head pixels / object pixels (the `head_of_object` of a
    map uniform on the object). A CAM that finds only the part has
    head_of_object >> head_area; one that "recovers the whole object" (the
    paper's claim for ICL) brings it down towards head_area.

    Args:
        model: anything with `compute_cams(images, class_ids)`.
        data: a resolved synthetic `DataConfig` (see `resolve_dataset`).
        split: the split (default: `data.test_split`).

    Returns:
        dict of the four means over the split's images, in %.
    """
    split = split or data.test_split
    size = data.eval_image_size
    sums = {"cam_on_object": [], "head_of_object": [], "head_area": []}
    for batch in build_dataset(data, split, training=False):
        labels = np.asarray(batch["labels"])
        _, cams = model.compute_cams(batch["images"], labels)
        maps = scoremaps_from_cams(np.asarray(cams), size)
        for image_id, label, cam in zip(
            np.asarray(batch["image_ids"]), labels, maps
        ):
            parts = cv2.resize(
                part_label_map(
                    data.data_root, split, image_id.decode(), int(label)
                ),
                (size, size),
                interpolation=cv2.INTER_NEAREST,
            )
            obj, head = parts > 0, parts == HEAD
            total, on_obj = cam.sum(), cam[obj].sum()
            sums["cam_on_object"].append(on_obj / max(total, 1e-12))
            sums["head_of_object"].append(cam[head].sum() / max(on_obj, 1e-12))
            sums["head_area"].append(head.sum() / max(obj.sum(), 1))
    shares = {k: 100.0 * float(np.mean(v)) for k, v in sums.items()}
    shares["cam_on_background"] = 100.0 - shares["cam_on_object"]
    return shares
