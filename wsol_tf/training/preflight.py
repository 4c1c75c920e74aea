"""Pre-flight checks of a resolved experiment, before anything is written.

`preflight_checks(config)` is called by the tools after
`resolve_experiment` and before `run_training` (which seeds the random
streams at its start, after the backbone built here drew its initial
weights) writes config.json: a bad
weights file, an image size the backbone cannot take, a metadata problem in
any split, a missing image or (with `--verify_images`) an undecodable one
stops the run with one error naming the file, line or flag, instead of a
traceback minutes (or hours) into training; so does an evaluation kernel
that was not compiled.
"""

from wsol_tf import backbones
from wsol_tf.data.diagnose import scan_dataset
from wsol_tf.errors import WSOLError
from wsol_tf.evaluation.box_evaluator import BoxEvaluator


def check_input_sizes(config):
    """`image_size` and `eval_image_size` against the backbone's measured
    minimum (`backbones.MIN_IMAGE_SIZE`)."""
    architecture = config.model.architecture
    minimum = backbones.MIN_IMAGE_SIZE[architecture]
    for name in ("image_size", "eval_image_size"):
        value = getattr(config.data, name)
        if value < minimum:
            raise WSOLError(
                f"--{name}={value} is smaller than the smallest input "
                f"{architecture} accepts ({minimum}x{minimum} pixels): "
                f"expected --{name} >= {minimum}."
            )


def check_weights(model_config):
    """Loads `model_config.weights` into the bare backbone once.

    The backbone (its convolutions only, without the WSOL blocks) is built
    at its smallest input and the weights are loaded as `build_model` loads
    them, so a missing path, a file of another architecture, an unreadable
    file or an unavailable ImageNet download fails here, with the message
    `backbones.load_backbone_weights` gives. No-op without weights.
    """
    weights = model_config.weights
    if not weights:
        return
    import keras

    architecture = model_config.architecture
    size = backbones.MIN_IMAGE_SIZE[architecture]
    inputs = keras.Input((size, size, 3))
    network = keras.Model(
        inputs,
        backbones.build_backbone(
            architecture,
            inputs,
            large_feature_map=model_config.large_feature_map,
            layout=backbones.weights_layout(weights),
            width_multiplier=model_config.width_multiplier,
        ),
    )
    try:
        backbones.load_backbone_weights(
            network, architecture, weights, input_shape=(size, size, 3)
        )
    except OSError as error:  # h5py: not an HDF5 file, truncated, ...
        raise WSOLError(
            f"Could not read --weights={weights} as {architecture} weights "
            f"({error})."
        ) from None


def check_evaluation(eval_config):
    """The box evaluator of the protocol can be built (its C kernel is
    compiled): checked before training, not at the first epoch's end."""
    try:
        BoxEvaluator.from_eval_config(eval_config)
    except ImportError as error:
        raise WSOLError(str(error)) from None


def preflight_checks(config):
    """Every check a run can make before it writes anything.

    Args:
        config: an `ExperimentConfig` resolved by `resolve_experiment`
            (paths and `num_classes` set).

    Raises:
        WSOLError / MetadataError / ValueError (all `ValueError`s): the
            first failing check, with a message naming the file, line or
            flag.
    """
    check_input_sizes(config)
    check_weights(config.model)
    check_evaluation(config.eval)
    scan_dataset(config.data)
