"""`import wsol_tf` alone registers every serializable class."""

import importlib
import pkgutil
import textwrap

import keras
import numpy as np
import pytest

from wsol_tf.config import LossConfig
from wsol_tf.config import ModelConfig
from wsol_tf.config import TrainConfig
from wsol_tf.models import build_model
from wsol_tf.optimizers import build_optimizer
from wsol_tf.serialization import PACKAGE

LOADER = textwrap.dedent(
    """
    import sys
    import wsol_tf
    # Registered by the import itself: no other wsol_tf import follows.
    assert "keras" in sys.modules
    import keras
    import numpy as np
    from keras.src.saving import object_registration
    model = keras.saving.load_model(sys.argv[1])
    out = model(np.load(sys.argv[2]), training=False)
    np.save(sys.argv[3], keras.ops.convert_to_numpy(out["logits"]))
    names = sorted(object_registration.GLOBAL_CUSTOM_OBJECTS)
    print("RESULT", type(model).__name__, type(model.optimizer).__name__,
          type(model.objective).__name__, ",".join(names))
    """
)


@pytest.mark.parametrize("keras_first", [False, True])
def test_checkpoint_loads_after_import_wsol_tf_alone(
    tmp_path, run_result_script, keras_first
):
    model = build_model(
        ModelConfig(
            architecture="vgg16",
            method="icl",
            num_classes=3,
            width_multiplier=0.125,
        ),
        image_size=32,
    )
    model.compile(
        optimizer=build_optimizer(TrainConfig(), model), objective=LossConfig()
    )
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3))
    images = images.astype(np.float32)
    want = keras.ops.convert_to_numpy(model(images, training=False)["logits"])
    path = tmp_path / "last.keras"
    model.save(path)
    np.save(tmp_path / "images.npy", images)
    script = LOADER
    if keras_first:  # Keras imported before wsol_tf
        script = "import keras\n" + script
    script = script.replace("sys.argv[1]", repr(str(path)))
    script = script.replace("sys.argv[2]", repr(str(tmp_path / "images.npy")))
    script = script.replace("sys.argv[3]", repr(str(tmp_path / "out.npy")))
    fields = run_result_script(script)
    assert fields[:3] == ["WSOLModel", "SGD", "WSOLObjective"], fields
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), want, atol=1e-5)
    registered = {n for n in fields[3].split(",") if n.startswith(PACKAGE)}
    # Every class the package registers, found by importing each of its
    # modules here.
    import wsol_tf

    for info in pkgutil.walk_packages(wsol_tf.__path__, "wsol_tf."):
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional dependency (e.g. keras-tuner)
            pass
    from keras.src.saving import object_registration

    everything = {
        n
        for n in object_registration.GLOBAL_CUSTOM_OBJECTS
        if n.startswith(PACKAGE + ">")
    }
    assert everything and registered == everything
