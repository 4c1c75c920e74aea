"""Distribution strategies and mixed-precision policies for training.

`get_strategy(name)` maps the `TrainConfig.strategy` names to
`tf.distribute` strategies (Keras 3's TensorFlow trainer runs `model.fit`
under any of them), and `resolve_precision("auto")` picks the dtype policy
for the devices present: `mixed_float16` on a GPU, `float32` on a CPU
(`mixed_bfloat16` only when asked for explicitly: CPU bfloat16 kernels are
slower than float32 ones without AMX).

Example:

```python
strategy = get_strategy("mirrored")
policy = set_precision("auto")
with strategy.scope():
    model = build_model(...)
```
"""

import json
import os

import keras
import tensorflow as tf

from wsol_tf.config import PRECISIONS
from wsol_tf.config import STRATEGIES


def get_strategy(name="default", tpu_address=""):
    """Returns the `tf.distribute.Strategy` called `name`.

    Args:
        name: one of `"default"` (the current default strategy: one device),
            `"mirrored"` (synchronous data parallelism over every local GPU,
            or over every logical CPU device when there is no GPU),
            `"multi_worker"` (`MultiWorkerMirroredStrategy`; the cluster
            comes from the `TF_CONFIG` environment variable) or `"tpu"`.
        tpu_address: TPU name or `grpc://` address for `"tpu"`; empty means
            the local TPU / the one the environment names.

    Returns:
        The strategy. Create it before any other TensorFlow op runs when it
        is `"multi_worker"` or `"tpu"` (TensorFlow's own requirement).
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy: expected one of {STRATEGIES}. "
            f"Received: strategy={name!r}"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU")
        if not devices:
            devices = tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy='multi_worker' needs the TF_CONFIG environment "
                'variable, e.g. {"cluster": {"worker": ["host1:port", '
                '"host2:port"]}, "task": {"type": "worker", "index": 0}}. '
                "Received: TF_CONFIG unset"
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise ValueError(
                f"TF_CONFIG is not valid JSON ({e}). "
                f"Received: TF_CONFIG={os.environ['TF_CONFIG']!r}"
            ) from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu_address or None
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy=None):
    """True unless this process is a non-chief worker of a multi-worker job.

    The chief is the task of type "chief", or worker 0 when the cluster has
    no chief. Only the chief writes checkpoints, summaries and exports.
    """
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return (
        not has_chief
        and resolver.task_type == "worker"
        and resolver.task_id == 0
    )


def task_name(strategy=None):
    """ "chief", or e.g. "worker_1": a per-process name for private files."""
    strategy = strategy or tf.distribute.get_strategy()
    if is_chief(strategy):
        return "chief"
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}_{resolver.task_id}"


def resolve_precision(precision="auto"):
    """Resolves `"auto"` to a concrete Keras dtype policy name.

    `"auto"` is `"mixed_float16"` when a GPU is visible and `"float32"`
    otherwise. Other values are returned unchanged (validated).
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision: expected one of {PRECISIONS}. "
            f"Received: precision={precision!r}"
        )
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "float32"


def set_precision(precision="auto"):
    """Resolves `precision` and sets it as Keras's global dtype policy.

    Returns:
        The policy name that was set.
    """
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy
