"""Rendering of one synthetic WSOL image (see `synthetic.py` for the design).

All randomness comes from the numpy Generator passed in, and the number and
order of draws never depend on the class: two renders from the same seed
with different classes differ only inside the head (part) pixels and the
distractor-head pixels.
"""

import collections

import cv2
import numpy as np

# Head (part) appearance: 6 colours x 4 shapes x 4 patterns.
PALETTE = (
    (220, 30, 30),
    (30, 70, 230),
    (240, 200, 20),
    (200, 30, 200),
    (20, 190, 200),
    (250, 120, 10),
)
SHAPES = ("circle", "square", "triangle", "diamond")
PATTERNS = ("solid", "dot", "band", "ring")
MAX_CLASSES = len(PALETTE) * len(SHAPES) * len(PATTERNS)
# Shared body texture: two tones, the same for every class.
_BODY_DARK = np.array([95.0, 80.0, 55.0])
_BODY_LIGHT = np.array([175.0, 155.0, 105.0])
# Part size: head disc area = HEAD_FRACTION * body ellipse area (a * b).
HEAD_FRACTION = (0.045, 0.08)
TWO_OBJECT_PROBABILITY = 0.2
DISTRACTOR_HEAD_PROBABILITY = 0.4

Example = collections.namedtuple(
    "Example",
    [
        "image",  # uint8 [H, W, 3] RGB
        "label",  # int
        "boxes",  # int [N, 4] (x0, y0, x1, y1) inclusive, one per object
        "instance_masks",  # bool [N, H, W], body + head of each object
        "part_masks",  # bool [N, H, W], head of each object
        "distractor_head_mask",  # bool [H, W], heads of other classes
        "ignore_mask",  # bool [H, W], 1-px band around the objects
    ],
)


def head_style(class_id):
    """(RGB colour, shape, pattern) of a class's head; injective below 96.

    Classes 0-3 differ in all three attributes.
    """
    if not 0 <= class_id < MAX_CLASSES:
        raise ValueError(
            f"Expected 0 <= class_id < {MAX_CLASSES}. "
            f"Received: class_id={class_id}"
        )
    c, q = class_id % len(PALETTE), class_id // len(PALETTE)
    shape = (q + c) % len(SHAPES)
    pattern = (q // len(SHAPES) + c) % len(PATTERNS)
    return PALETTE[c], SHAPES[shape], PATTERNS[pattern]


def head_masks(dx, dy, r, shape, pattern):
    """(head mask, pattern mask) on offset grids from the head centre."""
    ax, ay = np.abs(dx), np.abs(dy)
    if shape == "circle":
        head = dx**2 + dy**2 <= r**2
    elif shape == "square":
        head = (ax <= 0.85 * r) & (ay <= 0.85 * r)
    elif shape == "triangle":
        head = (dy <= 0.75 * r) & (ax <= (dy + r) / 1.75)
    else:
        head = ax + ay <= 1.15 * r
    dist = np.sqrt(dx**2 + dy**2)
    if pattern == "dot":
        mark = dist <= 0.4 * r
    elif pattern == "band":
        mark = ay <= 0.25 * r
    elif pattern == "ring":
        mark = (dist >= 0.45 * r) & (dist <= 0.7 * r)
    else:
        mark = np.zeros_like(head)
    return head, head & mark


def paint_head(image, xx, yy, cx, cy, r, class_id):
    colour, shape, pattern = head_style(class_id)
    head, mark = head_masks(xx - cx, yy - cy, r, shape, pattern)
    image[head] = colour
    image[mark] = (240, 240, 240) if pattern == "band" else (25, 25, 25)
    return head


def _body_texture(rng, xx, yy, cx, cy, theta):
    """The shared two-tone scale texture, aligned with the body axis."""
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
    period_u, period_v = rng.uniform(6.0, 9.0), rng.uniform(5.0, 8.0)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    p = 0.5 + 0.5 * np.sin(2 * np.pi * u / period_u + phase[0]) * np.sin(
        2 * np.pi * v / period_v + phase[1]
    )
    gain = rng.uniform(0.85, 1.15)
    tex = _BODY_DARK * (1 - p[..., None]) + _BODY_LIGHT * p[..., None]
    return tex * gain


def _object_geometry(rng, scale, side, head_scale=1.0):
    """Body / head parameters of one object relative to its centre."""
    a = side * scale * rng.uniform(0.2, 0.34)
    b = a * rng.uniform(0.4, 0.75)
    theta = rng.uniform(0, np.pi)
    direction = rng.choice([-1.0, 1.0])
    low, high = (head_scale * f for f in HEAD_FRACTION)
    r = max(3.0, np.sqrt(rng.uniform(low, high) * a * b))
    return dict(a=a, b=b, theta=theta, direction=direction, r=r)


def _object_masks(g, xx, yy, cx, cy):
    """(body mask, head centre) of an object centred at (cx, cy)."""
    c, s = np.cos(g["theta"]), np.sin(g["theta"])
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    body = (u / g["a"]) ** 2 + (v / g["b"]) ** 2 <= 1.0
    # A tail at the other end makes the silhouette less of an ellipse.
    tail_u = u + g["direction"] * 0.95 * g["a"]
    body |= (tail_u / (0.35 * g["a"])) ** 2 + (v / (0.5 * g["b"])) ** 2 <= 1
    reach = g["direction"] * (g["a"] + 0.55 * g["r"])
    return body, (cx + reach * c, cy + reach * s)


def _extent(g):
    """Integer bounds (dx0, dy0, dx1, dy1) of the object around its centre."""
    half = int(np.ceil(g["a"] * 1.4 + 2.5 * g["r"])) + 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    body, (hx, hy) = _object_masks(g, xx, yy, 0.0, 0.0)
    head, _ = head_masks(xx - hx, yy - hy, g["r"], "circle", "solid")
    for shape in SHAPES[1:]:
        head |= head_masks(xx - hx, yy - hy, g["r"], shape, "solid")[0]
    ys, xs = np.nonzero(body | head)
    return xs.min() - half, ys.min() - half, xs.max() - half, ys.max() - half


def place(rng, ext, width, height, taken, margin=2):
    """Integer centre for extent `ext` avoiding boxes in `taken`, or None."""
    dx0, dy0, dx1, dy1 = ext
    lo_x, hi_x = -dx0 + 1, width - 2 - dx1
    lo_y, hi_y = -dy0 + 1, height - 2 - dy1
    if hi_x < lo_x or hi_y < lo_y:
        return None
    for _ in range(50):
        cx = int(rng.integers(lo_x, hi_x + 1))
        cy = int(rng.integers(lo_y, hi_y + 1))
        box = (cx + dx0, cy + dy0, cx + dx1, cy + dy1)
        if all(
            box[0] > t[2] + margin
            or box[2] < t[0] - margin
            or box[1] > t[3] + margin
            or box[3] < t[1] - margin
            for t in taken
        ):
            return cx, cy, box
    return None


def place_objects(rng, count, scale, geometry, extent, width, height):
    """Up to `count` non-overlapping objects; the first always fits.

    Args:
        geometry: scale -> object parameters (draws from `rng`).
        extent: object parameters -> (dx0, dy0, dx1, dy1) around the centre.

    Returns:
        A list of (parameters, (cx, cy, box)); an object after the first
        that finds no free spot is left out.
    """
    objects, taken = [], []
    for index in range(count):
        g = geometry(scale)
        spot = place(rng, extent(g), width, height, taken)
        shrink = scale
        while spot is None and index == 0 and shrink > 0.05:
            shrink *= 0.8  # the first object must fit
            g = geometry(shrink)
            spot = place(rng, extent(g), width, height, taken)
        if spot is not None:
            objects.append((g, spot))
            taken.append(spot[2])
    return objects


def background(rng, width, height):
    grid = rng.uniform(40, 200, size=(4, 4, 3)).astype(np.float32)
    image = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return image.astype(np.float64) + rng.normal(0, 6, (height, width, 3))


CLUTTER_KINDS = ("stripes", "checkers", "dots")


def clutter(rng, image, full_xx, full_yy, side, mask=None):
    """Random patches of stripes / checkers / dots in random colours.

    Args:
        mask: optional bool [H, W]; every patch's pixels are set in it.

    Returns:
        The `CLUTTER_KINDS` name of every patch painted, in order.
    """
    kinds = []
    for _ in range(int(rng.integers(8, 15))):
        cx = rng.uniform(0, full_xx.shape[1])
        cy = rng.uniform(0, full_xx.shape[0])
        rx, ry = rng.uniform(0.05, 0.16, size=2) * side
        kind = int(rng.integers(0, 3))
        kinds.append(CLUTTER_KINDS[kind])
        angle, period = rng.uniform(0, np.pi), rng.uniform(3.0, 8.0)
        colours = rng.uniform(0, 255, size=(2, 3))
        ellipse = rng.uniform() < 0.5
        # Per-pixel formulas on the patch's window only (same values).
        window = (
            slice(max(0, int(cy - ry) - 1), max(0, int(cy + ry) + 2)),
            slice(max(0, int(cx - rx) - 1), max(0, int(cx + rx) + 2)),
        )
        xx, yy, out = full_xx[window], full_yy[window], image[window]
        if ellipse:
            region = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        else:
            region = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
        t = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        if kind == 0:
            on = np.sin(2 * np.pi * t) > 0
        elif kind == 1:
            on = ((xx // (period / 2)) + (yy // (period / 2))) % 2 == 0
        else:
            on = (
                np.sin(np.pi * xx / period) * np.sin(np.pi * yy / period)
            ) > 0.6
        out[region & on] = colours[0]
        out[region & ~on] = colours[1]
        if mask is not None:
            mask[window] |= region
    return kinds


def render_example(
    rng,
    class_id,
    num_classes,
    width,
    height,
    *,
    head_scale=1.0,
    distractor_head_probability=DISTRACTOR_HEAD_PROBABILITY,
):
    """Renders one image of class `class_id`; returns an `Example`.

    `head_scale` multiplies the head (part) area bounds `HEAD_FRACTION`;
    `distractor_head_probability` is the chance of a head of another
    class in the background (the draw is made either way, so changing it
    keeps every other draw).
    """
    side = min(width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    two = rng.uniform() < TWO_OBJECT_PROBABILITY
    scale = 0.7 if two else 1.0
    objects = place_objects(
        rng,
        2 if two else 1,
        scale,
        lambda s: _object_geometry(rng, s, side, head_scale),
        _extent,
        width,
        height,
    )
    taken = [box for _, (_, _, box) in objects]
    image = background(rng, width, height)
    clutter(rng, image, xx, yy, side)
    # Body-texture blobs and other-class heads, away from the objects.
    for _ in range(int(rng.integers(1, 4))):
        g = _object_geometry(rng, 0.45, side)
        spot = place(rng, _extent(g), width, height, taken, margin=4)
        if spot is not None:
            cx, cy, _ = spot
            blob, _ = _object_masks(g, xx, yy, cx, cy)
            tex = _body_texture(rng, xx, yy, cx, cy, g["theta"])
            image[blob] = tex[blob]
    distractors = np.zeros((height, width), bool)
    other = class_id + 1 + int(rng.integers(0, max(1, num_classes - 1)))
    other %= num_classes
    want_head = rng.uniform() < distractor_head_probability
    g = _object_geometry(rng, scale, side, head_scale)
    r = int(np.ceil(g["r"] * 1.2))
    spot = place(rng, (-r, -r, r, r), width, height, taken, margin=4)
    if want_head and spot is not None and num_classes > 1:
        distractors = paint_head(image, xx, yy, spot[0], spot[1], g["r"], other)
    instance_masks, part_masks, boxes = [], [], []
    for g, (cx, cy, _) in objects:
        body, (hx, hy) = _object_masks(g, xx, yy, cx, cy)
        tex = _body_texture(rng, xx, yy, cx, cy, g["theta"])
        image[body] = tex[body]
        head = paint_head(image, xx, yy, hx, hy, g["r"], class_id)
        mask = body | head
        ys, xs = np.nonzero(mask)
        instance_masks.append(mask)
        part_masks.append(head)
        boxes.append((xs.min(), ys.min(), xs.max(), ys.max()))
    union = np.any(instance_masks, axis=0)
    band = cv2.dilate(union.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return Example(
        image=image,
        label=int(class_id),
        boxes=np.asarray(boxes, np.int64).reshape(-1, 4),
        instance_masks=np.stack(instance_masks),
        part_masks=np.stack(part_masks),
        distractor_head_mask=distractors,
        ignore_mask=band & ~union,
    )
