"""CAM post-processing of the protocol: cubic resize and min-max normalise.

wsolevaluation (`inference.py`) converts the CAM to float64 (`t2n`), resizes
it with `cv2.resize(cam, (W, H), interpolation=cv2.INTER_CUBIC)` and then
normalises it with `normalize_scoremap`: a map with any NaN, or a constant
map, becomes all zeros; otherwise `cam -= cam.min(); cam /= cam.max()`.
There is no ReLU. The helpers below reproduce those steps bit for bit.
"""

import cv2
import numpy as np


def _size_hw(size):
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    try:
        height, width = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(
            f"Expected `size` to be an int or a (height, width) pair. "
            f"Received: size={size!r}"
        ) from None
    if height <= 0 or width <= 0:
        raise ValueError(f"Expected a positive size. Received: size={size!r}")
    return height, width


def check_scoremap(scoremap, name="scoremap"):
    """Validates a protocol score map: 2-D, float, finite, within [0, 1].

    Returns:
        The map as a numpy float array (float32 stays float32, other dtypes
        become float64).
    """
    scoremap = np.asarray(scoremap)
    if scoremap.ndim != 2 or 0 in scoremap.shape:
        raise ValueError(
            f"Expected `{name}` to be a non-empty 2-D array [H, W]. "
            f"Received: {name}.shape={scoremap.shape}"
        )
    if scoremap.dtype != np.float32:
        scoremap = scoremap.astype(np.float64, copy=False)
    low, high = scoremap.min(), scoremap.max()  # NaN propagates
    if np.isnan(low) or np.isnan(high):
        raise ValueError(
            f"Expected `{name}` without NaN (normalize_scoremap maps NaN "
            f"CAMs to zeros). Received: {name} with NaN values"
        )
    if low < 0 or high > 1:
        raise ValueError(
            f"Expected `{name}` values in [0, 1] (use normalize_scoremap). "
            f"Received: {name} with min={float(low)}, max={float(high)}"
        )
    return scoremap


def normalize_scoremap(cam):
    """Protocol min-max normalisation (wsolevaluation `normalize_scoremap`).

    Args:
        cam: float array [H, W].

    Returns:
        float64 array [H, W] (float32 input stays float32): all zeros if
        `cam` has a NaN or is constant, else `(cam - min) / max(cam - min)`.
        The input is not modified.

    Example:
    >>> normalize_scoremap(np.array([[1.0, 3.0], [2.0, 5.0]])).tolist()
    [[0.0, 0.5], [0.25, 1.0]]
    """
    cam = np.array(cam, dtype=np.float32 if _is_f32(cam) else np.float64)
    if cam.ndim != 2:
        raise ValueError(
            f"Expected `cam` to be a 2-D array [H, W]. "
            f"Received: cam.shape={cam.shape}"
        )
    if np.isnan(cam).any():
        return np.zeros_like(cam)
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def _is_f32(x):
    return getattr(x, "dtype", None) == np.float32


def resize_cam(cam, size):
    """Cubic resize of a CAM, as the protocol does before normalising.

    Args:
        cam: float array [h, w] (raw CAM at feature resolution). It is
            converted to float64 first, like wsolevaluation's `t2n`.
        size: int or (height, width) of the output (the image size).

    Returns:
        float64 array [height, width].

    Example:
    >>> resize_cam(np.ones((7, 7), np.float32), 224).shape
    (224, 224)
    """
    cam = np.asarray(cam, np.float64)
    if cam.ndim != 2 or 0 in cam.shape:
        raise ValueError(
            f"Expected `cam` to be a non-empty 2-D array [h, w]. "
            f"Received: cam.shape={cam.shape}"
        )
    height, width = _size_hw(size)
    return cv2.resize(cam, (width, height), interpolation=cv2.INTER_CUBIC)


def scoremaps_from_cams(cams, size):
    """Batched `normalize_scoremap(resize_cam(cam, size))`.

    Args:
        cams: float array [B, h, w] of raw CAMs (numpy or a tensor).
        size: int or (height, width).

    Returns:
        float64 array [B, height, width] of protocol score maps in [0, 1].
    """
    cams = np.asarray(cams)
    if cams.ndim != 3:
        raise ValueError(
            f"Expected `cams` to be a 3-D array [B, h, w]. "
            f"Received: cams.shape={cams.shape}"
        )
    height, width = _size_hw(size)
    out = np.empty((cams.shape[0], height, width), np.float64)
    for i, cam in enumerate(cams):
        out[i] = normalize_scoremap(resize_cam(cam, (height, width)))
    return out
