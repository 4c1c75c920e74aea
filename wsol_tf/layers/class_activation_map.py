"""Class activation maps (wsolevaluation's per-backbone definition)."""

import keras
from keras import ops

from wsol_tf.serialization import register

CAM_MODES = ("channel_mean", "linear")


def class_activation_maps(features, kernel, bias=None, mode="channel_mean"):
    """All-class activation maps from a feature map and classifier weights.

    - `"channel_mean"` (VGG16, ResNet50; wsolevaluation `return_cam`):
      `cam[..., k] = mean_c(kernel[c, k] * F[..., c]) = (F @ kernel) / C`,
      no bias.
    - `"linear"` (InceptionV3, whose classifier is the 1x1 conv `SPG_A4`):
      `cam = F @ kernel + bias`, i.e. the conv's output map.

    Args:
        features: float tensor `[B, H, W, C]`.
        kernel: float tensor `[C, K]` (a Dense kernel, or a 1x1 conv kernel
            `[1, 1, C, K]`).
        bias: optional float tensor `[K]` (`"linear"` mode only).
        mode: `"channel_mean"` or `"linear"`.

    Returns:
        float32 tensor `[B, H, W, K]`: raw (unnormalised) maps.
    """
    if mode not in CAM_MODES:
        raise ValueError(
            f"`mode` must be one of {CAM_MODES}. Received: mode={mode}"
        )
    features = ops.cast(features, "float32")
    kernel = ops.cast(kernel, "float32")
    if len(kernel.shape) == 4:
        kernel = ops.reshape(kernel, kernel.shape[2:])
    cams = ops.einsum("bhwc,ck->bhwk", features, kernel)
    if mode == "channel_mean":
        return cams / float(features.shape[-1])
    if bias is not None:
        cams = cams + ops.cast(bias, "float32")
    return cams


def select_class_maps(cams, class_ids):
    """Picks one map per sample: `cams[b, :, :, class_ids[b]]` -> `[B,H,W]`."""
    class_ids = ops.cast(class_ids, "int32")
    one_hot = ops.one_hot(class_ids, ops.shape(cams)[-1], dtype=cams.dtype)
    return ops.einsum("bhwk,bk->bhw", cams, one_hot)


def top_k_class_maps(cams, logits, k=1):
    """Maps of the top-k scoring classes: `[B, H, W, k]` and ids `[B, k]`."""
    _, class_ids = ops.top_k(logits, k=k)
    class_ids = ops.cast(class_ids, "int32")
    one_hot = ops.one_hot(class_ids, ops.shape(cams)[-1], dtype=cams.dtype)
    return ops.einsum("bhwk,bjk->bhwj", cams, one_hot), class_ids


@register
class ClassActivationMap(keras.layers.Layer):
    """Class activation maps of given (or top-k predicted) classes.

    Stateless wrapper of `class_activation_maps`: the classifier's weights
    are call arguments, so the layer works with any head.

    Args:
        mode: `"channel_mean"` (VGG16/ResNet50: `mean_c(w[c, y] * F_c)`) or
            `"linear"` (InceptionV3: channel `y` of the 1x1 classifier).
        top_k: int. With `class_ids=None`, the maps of the `top_k` highest
            `logits` are returned.
        **kwargs: base layer keyword arguments.

    Call arguments:
        features: float tensor `[B, H, W, C]`.
        kernel: float tensor `[C, K]` or `[1, 1, C, K]`.
        bias: optional float tensor `[K]`.
        class_ids: optional int tensor `[B]` (e.g. the ground truth).
        logits: float tensor `[B, K]`, needed when `class_ids` is None.

    Returns:
        float32 `[B, H, W]` with `class_ids`, else `[B, H, W, top_k]`.

    Example:
    >>> cam = ClassActivationMap()
    >>> maps = cam(features, fc.kernel, class_ids=labels)

    Reference:
    - [Zhou et al., Learning Deep Features for Discriminative
        Localization, CVPR 2016](https://arxiv.org/abs/1512.04150)
    - [Choe et al., Evaluating Weakly Supervised Object Localization
        Methods Right, CVPR 2020](https://arxiv.org/abs/2001.07437)
    """

    def __init__(self, mode="channel_mean", top_k=1, **kwargs):
        super().__init__(**kwargs)
        if mode not in CAM_MODES:
            raise ValueError(
                f"`mode` must be one of {CAM_MODES}. Received: mode={mode}"
            )
        if int(top_k) < 1:
            raise ValueError(
                f"`top_k` must be a positive integer. Received: top_k={top_k}"
            )
        self.mode = mode
        self.top_k = int(top_k)

    def call(self, features, kernel, bias=None, class_ids=None, logits=None):
        cams = class_activation_maps(features, kernel, bias, self.mode)
        if class_ids is not None:
            return select_class_maps(cams, class_ids)
        if logits is None:
            raise ValueError(
                "ClassActivationMap needs `class_ids` or `logits`. "
                "Received: class_ids=None, logits=None"
            )
        return top_k_class_maps(cams, logits, self.top_k)[0]

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "top_k": self.top_k})
        return config
