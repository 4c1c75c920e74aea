"""Rendering of one "birds" image, the default synthetic set's style.

See `synthetic.py` for the layout on disk. Class evidence is graded over the
object, as on CUB:

- the **head** (a few % of the object's pixels) alone decides the class:
  its colour, shape and pattern are `synthetic_render.head_style(class)`;
- the **body** (texture family and hue), the **wings** (colour) and the
  **tail** (colour) each show the plumage of a "style class" that is the
  true class with probability `body_rate` and else one of the other
  classes, drawn independently per part. They correlate with the class but
  do not decide it (with 4 classes and body_rate 0.9 the Bayes accuracy of
  the three larger parts together is 97.8 %, at 0.6 71.2 %; of the head
  100 %);
- the **background** is a smooth colour field, a "ground" band of one of
  `CONTEXT_KINDS` and clutter patches (stripes, checkers, dot grids). None
  of these is a body texture family or a head: the background holds no
  object evidence except the ground band, which is the class's own context
  kind with probability `context_rate + (1 - context_rate) / 4` (like water
  for seabirds) and a uniformly random kind otherwise.

Objects are large (the object covers ~14-26 % of the image, median 19 %,
10th-90th percentile; its box ~25 %) and face left or right, tilted by at
most 26 degrees; 15 % of the images hold two smaller objects of the same
class. Larger objects make a fixed centred map a strong baseline (with
`BODY_HALF_LENGTH` (0.32, 0.4): median object 25 %, best centred square
box MaxBoxAccV2 ~44 on the test split, against ~34 here).
"""

import collections

import cv2
import numpy as np

from wsol_tf.data import synthetic_render

BODY_FAMILIES = ("scales", "chevrons", "speckle", "rosettes")
CONTEXT_KINDS = ("water", "grass", "sand", "rock")
CLUTTER_KINDS = synthetic_render.CLUTTER_KINDS
PART_NAMES = ("background", "head", "body", "wings", "tail")  # label values
# Values of BirdExample.background_labels: what the background was painted
# with, before the objects went over it (clutter over the ground band).
BACKGROUND_LABELS = ("colour_field", "ground", "clutter")
# Muted plumage hues, far from the saturated head palette.
BODY_HUES = (
    (150, 110, 70),
    (120, 125, 130),
    (130, 140, 80),
    (90, 105, 140),
    (170, 90, 60),
    (190, 170, 120),
)
WING_COLOURS = (
    (55, 55, 60),
    (230, 228, 215),
    (105, 70, 45),
    (70, 90, 60),
    (150, 150, 165),
    (180, 140, 95),
)
TAIL_COLOURS = (
    (40, 38, 36),
    (205, 200, 185),
    (125, 65, 45),
    (85, 105, 125),
    (150, 140, 75),
    (105, 85, 115),
)
_CONTEXT_COLOURS = {
    "water": ((40, 90, 150), (120, 170, 210)),
    "grass": ((50, 110, 40), (120, 170, 70)),
    "sand": ((200, 180, 140), (225, 210, 175)),
    "rock": ((95, 95, 100), (150, 150, 155)),
}
MAX_CLASSES = len(BODY_FAMILIES) * len(BODY_HUES)
# Head disc radius**2 = HEAD_FRACTION * body ellipse a * b (x head_scale).
HEAD_FRACTION = (0.05, 0.08)
MAX_HEAD_SCALE = 2.0  # keeps the head under ~12 % of the object
# Body ellipse semi-axis along the bird / image side (single object).
BODY_HALF_LENGTH = (0.26, 0.36)
TWO_OBJECT_PROBABILITY = 0.15
# 0.9 since version 2 of the set, chosen by a CAM-only calibration on val
# (bench/README.md, "The default set's calibration"); 0.6 gives version
# 1's images exactly (`--synthetic_body_rate=0.6`).
BODY_RATE = 0.9
CONTEXT_RATE = 0.2
# Kinds of class evidence (`evidence_kinds`): with 1 every class is decided
# by its head (the default set); with 3 generator class `look` is decided
# by one of EVIDENCE_KINDS: "part" (its own head, plumage drawn as
# `body_rate` says), "plumage" (its own plumage on body, wings and tail,
# and a neutral head that no class owns) or "both" (own head and plumage).
# Which one, `EVIDENCE_LAYOUTS`: "cyclic" (0) takes EVIDENCE_KINDS[look % 3];
# as the head palette has 6 colours, the "part" classes then all have head
# colours 0 and 3 (`synthetic_render.head_style`), and the "both" classes
# colours 2 and 5. "balanced" (1) takes EVIDENCE_KINDS[(look + look // 6)
# % 3]: over any 18 consecutive classes, every head colour is decided in
# each of the three ways.
EVIDENCE_KINDS = ("part", "plumage", "both")
EVIDENCE_LAYOUTS = ("cyclic", "balanced")
# Head styles >= MAX_CLASSES belong to no class: the "plumage" kind's heads.
NEUTRAL_HEADS = (MAX_CLASSES, synthetic_render.MAX_CLASSES)

# synthetic_render.Example's fields without distractor heads, plus:
# part_labels uint8 [N, H, W] (index into PART_NAMES), styles (per object:
# {"body", "wings", "tail"} -> the style class drawn), background_kinds
# (names of everything painted as background: "colour_field", the ground
# band's context kind, then each clutter patch's kind) and
# background_labels uint8 [H, W] (index into BACKGROUND_LABELS).
BirdExample = collections.namedtuple(
    "BirdExample",
    [f for f in synthetic_render.Example._fields if "distractor" not in f]
    + ["part_labels", "styles", "background_kinds", "background_labels"],
)


def plumage(style_class):
    """(body family, body RGB, wing RGB, tail RGB) of a style class.

    (family, body hue) is injective below `MAX_CLASSES`; classes 0-3 differ
    in all four attributes.
    """
    if not 0 <= style_class < MAX_CLASSES:
        raise ValueError(
            f"Expected 0 <= style_class < {MAX_CLASSES}. "
            f"Received: style_class={style_class}"
        )
    f, q = style_class % len(BODY_FAMILIES), style_class // len(BODY_FAMILIES)
    return (
        BODY_FAMILIES[f],
        BODY_HUES[(q + f) % len(BODY_HUES)],
        WING_COLOURS[style_class % len(WING_COLOURS)],
        TAIL_COLOURS[(style_class + 3) % len(TAIL_COLOURS)],
    )


def evidence_kind(look, evidence_kinds=1, evidence_layout=0):
    """What decides generator class `look`: an `EVIDENCE_KINDS` name.

    `evidence_layout` indexes `EVIDENCE_LAYOUTS` (used with 3 kinds only).
    """
    if evidence_kinds not in (1, len(EVIDENCE_KINDS)):
        raise ValueError(
            f"Expected evidence_kinds in (1, {len(EVIDENCE_KINDS)}). "
            f"Received: evidence_kinds={evidence_kinds}"
        )
    if evidence_layout not in range(len(EVIDENCE_LAYOUTS)):
        raise ValueError(
            f"Expected evidence_layout in 0..{len(EVIDENCE_LAYOUTS) - 1} "
            f"({', '.join(EVIDENCE_LAYOUTS)}). "
            f"Received: evidence_layout={evidence_layout}"
        )
    if evidence_kinds == 1:
        return "part"
    if evidence_layout == 1:
        look += look // len(synthetic_render.PALETTE)
    return EVIDENCE_KINDS[look % len(EVIDENCE_KINDS)]


def context_kind(look):
    """The `CONTEXT_KINDS` name of generator class `look`'s own ground."""
    return CONTEXT_KINDS[look % len(CONTEXT_KINDS)]


def _style_class(rng, class_id, num_classes, rate):
    """The class itself with probability `rate`, else another class."""
    keep = rng.uniform() < rate
    other = class_id + 1 + int(rng.integers(0, max(1, num_classes - 1)))
    return class_id if keep or num_classes == 1 else other % num_classes


def _frame(g, xx, yy, cx, cy):
    """Object coordinates: u towards the head, v across the body."""
    c, s = np.cos(g["theta"]), np.sin(g["theta"])
    u = ((xx - cx) * c + (yy - cy) * s) * g["direction"]
    v = -(xx - cx) * s + (yy - cy) * c
    return u, v


def _geometry(rng, scale, side, head_scale):
    a = side * scale * rng.uniform(*BODY_HALF_LENGTH)
    b = a * rng.uniform(0.55, 0.75)
    low, high = (head_scale * f for f in HEAD_FRACTION)
    return dict(
        a=a,
        b=b,
        theta=rng.uniform(-np.pi / 7, np.pi / 7),
        direction=float(rng.choice([-1.0, 1.0])),
        r=max(2.5, np.sqrt(rng.uniform(low, high) * a * b)),
        tail=rng.uniform(0.3, 0.45),  # tail length / a
        wing=rng.uniform(-0.3, 0.3),  # wing tilt (radians)
    )


def _part_labels(g, u, v, head_shapes):
    """uint8 map of PART_NAMES values for one object in its frame.

    The head is the union of `head_shapes` (one shape when rendering).
    """
    a, b, r = g["a"], g["b"], g["r"]
    body = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    length = g["tail"] * a
    behind = -u - 0.7 * a  # 0 where the tail leaves the body
    tail = (behind >= 0) & (behind <= 0.3 * a + length)
    tail &= np.abs(v) <= 0.3 * b + behind / (0.3 * a + length) * 0.35 * b
    cw, sw = np.cos(g["wing"]), np.sin(g["wing"])
    wu, wv = u + 0.15 * a, v + 0.1 * b
    wu, wv = wu * cw + wv * sw, -wu * sw + wv * cw
    wings = body & ((wu / (0.62 * a)) ** 2 + (wv / (0.5 * b)) ** 2 <= 1.0)
    head = np.zeros(u.shape, bool)
    for shape in head_shapes:
        head |= synthetic_render.head_masks(
            u - (0.9 * a + 0.5 * r), v + 0.3 * b, r, shape, "solid"
        )[0]
    labels = np.zeros(u.shape, np.uint8)
    labels[body | tail] = 2
    labels[tail & ~body] = 4
    labels[wings] = 3
    labels[head] = 1
    return labels


def _extent(g):
    """Integer bounds (dx0, dy0, dx1, dy1) of the object around its centre."""
    half = int(np.ceil(g["a"] * (1.0 + g["tail"]) + 2.5 * g["r"])) + 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    u, v = _frame(g, xx, yy, 0.0, 0.0)
    mask = _part_labels(g, u, v, synthetic_render.SHAPES) > 0
    ys, xs = np.nonzero(mask)
    return xs.min() - half, ys.min() - half, xs.max() - half, ys.max() - half


def _body_texture(rng, family, u, v, period):
    """Pattern value in [0, 1] of a body texture family, in object frame."""
    phase = rng.uniform(0, 2 * np.pi, size=2)
    if family == "scales":
        p = np.sin(2 * np.pi * u / period + phase[0]) * np.sin(
            2 * np.pi * v / (0.8 * period) + phase[1]
        )
        return 0.5 + 0.5 * p
    if family == "chevrons":
        t = (u + 1.2 * np.abs(v)) / (1.3 * period) + phase[0]
        return 0.5 + 0.5 * np.tanh(3 * np.sin(2 * np.pi * t))
    if family == "speckle":
        h, w = u.shape
        cell = max(2, int(round(period / 2.5)))
        noise = rng.uniform(size=(h // cell + 1, w // cell + 1))
        noise = np.kron(noise, np.ones((cell, cell)))[:h, :w]
        return (noise > 0.65).astype(np.float64)
    # rosettes: rings around the points of a lattice in the object frame
    pu, pv = 1.6 * period, 1.4 * period
    du = np.mod(u + phase[0], pu) - pu / 2
    dv = np.mod(v + phase[1], pv) - pv / 2
    dist = np.sqrt(du**2 + dv**2)
    return ((dist > 0.18 * pu) & (dist < 0.36 * pu)).astype(np.float64)


def _paint_object(rng, image, labels, g, u, v, styles, side):
    family, hue, _, _ = plumage(styles["body"])
    hue = np.asarray(hue, np.float64) * rng.uniform(0.9, 1.1)
    p = _body_texture(rng, family, u, v, side / 128.0 * rng.uniform(6, 8))
    dark, light = 0.5 * hue, np.minimum(255.0, 1.3 * hue + 30)
    body = labels == 2
    tex = dark * (1 - p[..., None]) + light * p[..., None]
    image[body] = tex[body]
    wing_rgb = np.asarray(plumage(styles["wings"])[2], np.float64)
    wings = labels == 3
    edge = wings & ~(cv2.erode(wings.astype(np.uint8), np.ones((3, 3))) > 0)
    feathers = wings & (np.sin(2 * np.pi * u / (side / 128.0 * 5)) > 0.6)
    feathers &= u < -0.1 * g["a"]
    image[wings] = wing_rgb
    image[feathers | edge] = 0.6 * wing_rgb
    image[labels == 4] = plumage(styles["tail"])[3]


def _context(rng, image, xx, yy, kind, side):
    """Paints a textured ground band at the bottom of the image; returns
    its bool [H, W] mask."""
    top = image.shape[0] * rng.uniform(0.6, 0.75)
    wave = side * rng.uniform(0.4, 0.8)
    edge = top + side * 0.03 * np.sin(2 * np.pi * xx / wave)
    band = yy >= edge
    lo, hi = (np.asarray(c, np.float64) for c in _CONTEXT_COLOURS[kind])
    s = side / 128.0
    if kind == "water":
        t = (yy + 1.5 * s * np.sin(2 * np.pi * xx / (14 * s))) / (4 * s)
        p = (np.sin(2 * np.pi * t) > 0.7).astype(np.float64)
    elif kind == "grass":
        jitter = cv2.resize(rng.uniform(0, 3, (1, 8)), (xx.shape[1], 1))
        p = 0.5 + 0.5 * np.sin(2 * np.pi * xx / (3 * s) + jitter)
        p = p * np.clip((yy - edge) / (6 * s), 0, 1)
    elif kind == "sand":
        p = rng.uniform(0, 0.6, size=xx.shape)
    else:
        grid = rng.uniform(0, 1, (4, 8)).astype(np.float32)
        p = cv2.resize(grid, xx.shape[::-1], interpolation=cv2.INTER_NEAREST)
        p = p + rng.uniform(-0.1, 0.1, size=xx.shape)
    tex = lo * (1 - p[..., None]) + hi * p[..., None]
    image[band] = tex[band]
    return band


def render_birds_example(
    rng,
    class_id,
    num_classes,
    width,
    height,
    *,
    head_scale=1.0,
    body_rate=BODY_RATE,
    context_rate=CONTEXT_RATE,
    class_offset=0,
    evidence_kinds=1,
    evidence_layout=0,
):
    """Renders one image of class `class_id`; returns a `BirdExample`.

    `class_offset` shifts every class's appearance (head, plumage, context)
    to generator class `class_id + class_offset`: a set of classes
    disjoint from another set's (the synthetic pretraining's source).
    The label stays `class_id`. `evidence_kinds` (1 or 3) sets what decides
    each class (`evidence_kind`, with `evidence_layout`); 1 draws exactly as
    before it existed.
    """
    if not 0 <= class_offset <= MAX_CLASSES - num_classes:
        raise ValueError(
            f"Expected 0 <= class_offset <= {MAX_CLASSES - num_classes} "
            f"({num_classes} classes of {MAX_CLASSES}). Received: "
            f"class_offset={class_offset}"
        )
    look = class_id + class_offset
    kind = evidence_kind(look, evidence_kinds, evidence_layout)
    side = min(width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    two = rng.uniform() < TWO_OBJECT_PROBABILITY
    scale = 0.68 if two else 1.0
    objects = synthetic_render.place_objects(
        rng,
        2 if two else 1,
        scale,
        lambda s: _geometry(rng, s, side, head_scale),
        _extent,
        width,
        height,
    )
    image = synthetic_render.background(rng, width, height)
    if rng.uniform() < context_rate:
        ground_kind = context_kind(look)
    else:
        ground_kind = CONTEXT_KINDS[int(rng.integers(len(CONTEXT_KINDS)))]
    ground = _context(rng, image, xx, yy, ground_kind, side)
    patches = np.zeros(ground.shape, bool)
    clutter = synthetic_render.clutter(rng, image, xx, yy, side, patches)
    background_labels = np.zeros(ground.shape, np.uint8)  # colour field
    background_labels[ground] = BACKGROUND_LABELS.index("ground")
    background_labels[patches] = BACKGROUND_LABELS.index("clutter")
    instance_masks, part_labels, boxes, styles = [], [], [], []
    head_look = look
    if kind == "plumage":
        head_look = int(rng.integers(*NEUTRAL_HEADS))
    head_shape = synthetic_render.head_style(head_look)[1]
    rate = body_rate if kind == "part" else 1.0
    for g, (cx, cy, _) in objects:
        u, v = _frame(g, xx, yy, cx, cy)
        labels = _part_labels(g, u, v, (head_shape,))
        style = {
            part: class_offset + _style_class(rng, class_id, num_classes, rate)
            for part in ("body", "wings", "tail")
        }
        _paint_object(rng, image, labels, g, u, v, style, side)
        synthetic_render.paint_head(
            image,
            u,
            v,
            0.9 * g["a"] + 0.5 * g["r"],
            -0.3 * g["b"],
            g["r"],
            head_look,
        )
        mask = labels > 0
        ys, xs = np.nonzero(mask)
        instance_masks.append(mask)
        part_labels.append(labels)
        boxes.append((xs.min(), ys.min(), xs.max(), ys.max()))
        styles.append(style)
    union = np.any(instance_masks, axis=0)
    band = cv2.dilate(union.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    part_labels = np.stack(part_labels)
    return BirdExample(
        image=image,
        label=int(class_id),
        boxes=np.asarray(boxes, np.int64).reshape(-1, 4),
        instance_masks=np.stack(instance_masks),
        part_masks=part_labels == 1,
        part_labels=part_labels,
        styles=tuple(styles),
        background_kinds=("colour_field", ground_kind) + tuple(clutter),
        background_labels=background_labels,
        ignore_mask=band & ~union,
    )
