"""Two-replica MirroredStrategy step == one-device step on the same batch."""

import numpy as np
import pytest

SCRIPT = r"""
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from wsol_tf import optimizers
from wsol_tf.config import ModelConfig
from wsol_tf.models import WSOLModel

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration


def make():
    config = ModelConfig(architecture="vgg16", method="cam", num_classes=3)
    model = WSOLModel(config, 32)
    model.compile(optimizer=optimizers.SGD(
        0.1, momentum=0.0, nesterov=False, weight_decay=0.01,
        lr_multipliers=optimizers.learning_rate_multipliers(model, 10.0)))
    return model


rng = np.random.default_rng(0)
images = rng.normal(size=(4, 32, 32, 3)).astype("float32")
labels = np.array([0, 1, 2, 1], "int32")
keras.utils.set_random_seed(0)
single = make()
initial = single.get_weights()
single.fit(images, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = make()
    mirrored.set_weights(initial)
mirrored.fit(images, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
diff = max(np.abs(a - b).max()
           for a, b in zip(single.get_weights(), mirrored.get_weights()))
moved = max(np.abs(a - b).max()
            for a, b in zip(single.get_weights(), initial))
print("RESULT", strategy.num_replicas_in_sync, diff, moved)
"""


@pytest.mark.large
def test_two_replicas_match_one_device(run_result_script):
    replicas, diff, moved = run_result_script(SCRIPT)
    assert int(replicas) == 2
    assert float(moved) > 1e-4  # the step did something
    # Losses are per-replica means divided by the replica count, and the
    # optimizer decays once on the summed gradients, so the update equals
    # the full batch's.
    np.testing.assert_allclose(float(diff), 0.0, atol=1e-5)
