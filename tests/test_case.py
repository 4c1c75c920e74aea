"""The shared checks of every layer, loss and model test (after keras-hub's
`TestCase.run_layer_test`).

- `run_layer_test`: get_config / from_config and `keras.saving`
  serialization round trips, a `.keras` save / load of a model holding the
  layer (same outputs), the symbolic call (shapes and dtypes equal to the
  eager call's), one compiled `fit` step, and the float32, mixed_bfloat16
  and mixed_float16 policies.
- `run_loss_test`: the same for a `keras.losses.Loss`: round trips, eager
  and `tf.function` values, a compiled `fit` step and the policies.
- `run_model_test`: for a `keras.Model` built by a function: round trips,
  save / load, symbolic and eager calls, one compiled `fit` step and the
  policies.

Each test file keeps its own numerical checks against an independent
reference; these helpers add the contract every Keras object must keep.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def _flat(structure):
    return [t for t in keras.tree.flatten(structure) if t is not None]


def assert_all_close(a, b, atol=1e-6):
    """Two output structures (lists and tuples alike) are equal."""
    a, b = _flat(a), _flat(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol)


def _is_float(tensor):
    return "float" in str(keras.backend.standardize_dtype(tensor.dtype))


def _signature(outputs):
    """Shapes without the batch axis, and dtypes, of the outputs."""
    return [
        (tuple(t.shape[1:]), keras.backend.standardize_dtype(t.dtype))
        for t in _flat(outputs)
    ]


def _as_inputs(input_data):
    """`input_data` as keyword arguments of `call`."""
    if isinstance(input_data, dict):
        return dict(input_data)
    return {"inputs": input_data}


def _symbolic(inputs):
    return {
        k: keras.Input(np.shape(v)[1:], dtype=str(np.asarray(v).dtype), name=k)
        for k, v in inputs.items()
    }


def check_config_round_trip(obj):
    """get_config / from_config and keras.saving serialize / deserialize."""
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(obj)
    )
    assert type(restored) is type(obj)
    assert restored.get_config() == config
    return clone


def _sample_loss(outputs):
    """`[B, 1]`: the sum of the per-sample means of the float outputs."""
    total = 0.0
    for tensor in _flat(outputs):
        if _is_float(tensor) and len(tensor.shape) >= 1:
            tensor = ops.cast(tensor, "float32")
            axes = tuple(range(1, len(tensor.shape)))
            total = total + (ops.mean(tensor, axis=axes) if axes else tensor)
    return ops.expand_dims(total, -1)


class _Reduced(keras.Model):
    """Calls a layer and reduces its outputs to one value per sample."""

    def __init__(self, layer, call_kwargs, **kwargs):
        super().__init__(**kwargs)
        self.inner = layer
        self.call_kwargs = call_kwargs

    def call(self, inputs, training=None):
        kwargs = dict(self.call_kwargs)
        if training is not None and self.inner._call_has_training_arg:
            kwargs["training"] = training
        return _sample_loss(self.inner(**inputs, **kwargs))


def check_fit_step(layer, inputs, call_kwargs=None):
    """One compiled (graph) `fit` step through `layer`: finite loss, and
    the trainable weights that receive a gradient move."""
    model = _Reduced(layer, call_kwargs or {}, name="reduced")
    batch = len(next(iter(inputs.values())))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model(inputs)
    before = [np.array(w) for w in layer.trainable_weights]
    target = np.ones((batch, 1), "float32")
    history = model.fit(inputs, target, batch_size=batch, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    if before:
        moved = [
            np.abs(np.array(w) - b).max() > 0
            for w, b in zip(layer.trainable_weights, before)
        ]
        assert any(moved), "no trainable weight moved in one fit step"


def check_policies(build, call, policies=POLICIES):
    """Outputs under each policy: float32 or the compute dtype, finite;
    variables in float32.

    Args:
        build: `policy name -> object` (built under that dtype policy).
        call: `object -> outputs` (eager, inputs in the compute dtype).
    """
    for name in policies:
        policy = keras.DTypePolicy(name)
        obj = build(name)
        outputs = call(obj)
        for tensor in _flat(outputs):
            if not _is_float(tensor):
                continue
            dtype = keras.backend.standardize_dtype(tensor.dtype)
            assert dtype in ("float32", policy.compute_dtype), (name, dtype)
            assert np.isfinite(np.asarray(tensor, "float32")).all(), name
        for weight in getattr(obj, "weights", []):
            if "float" in weight.dtype:
                assert weight.dtype == policy.variable_dtype, weight.path


def _cast(inputs, dtype):
    return {
        k: ops.cast(v, dtype)
        if np.issubdtype(np.asarray(v).dtype, np.floating)
        else v
        for k, v in inputs.items()
    }


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    call_kwargs=None,
    tmp_path=None,
    run_training_check=True,
    run_precision_checks=True,
):
    """The contract of a Keras layer, checked on `input_data`.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_data: array, or dict of the `call` arguments (arrays).
        call_kwargs: non-tensor `call` arguments (e.g. `training`).
        tmp_path: folder for the `.keras` save / load check (None: skip).
        run_training_check: one compiled `fit` step.
        run_precision_checks: the three dtype policies.

    Returns:
        The eager outputs (inference mode unless `call_kwargs` says).
    """
    call_kwargs = dict(call_kwargs or {})
    inputs = _as_inputs(input_data)
    layer = layer_cls(**init_kwargs)
    check_config_round_trip(layer)
    eager = layer(**inputs, **call_kwargs)
    for tensor in _flat(eager):
        assert np.isfinite(np.asarray(ops.cast(tensor, "float32"))).all()
    symbolic_inputs = _symbolic(inputs)
    symbolic = layer(**symbolic_inputs, **call_kwargs)
    assert _signature(symbolic) == _signature(eager)
    if tmp_path is not None:
        # Saved and compared in inference mode (deterministic).
        fixed = {k: v for k, v in call_kwargs.items() if k != "training"}
        model = keras.Model(symbolic_inputs, layer(**symbolic_inputs, **fixed))
        path = str(tmp_path / f"{layer_cls.__name__}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert_all_close(
            model(inputs, training=False), loaded(inputs, training=False)
        )
    if run_training_check:
        check_fit_step(layer_cls(**init_kwargs), inputs, call_kwargs)
    if run_precision_checks:
        check_policies(
            lambda name: layer_cls(**init_kwargs, dtype=name),
            lambda obj: obj(
                **_cast(inputs, obj.dtype_policy.compute_dtype), **call_kwargs
            ),
        )
    return eager


def run_loss_test(loss, y_true, y_pred, reference=None):
    """The contract of a `keras.losses.Loss`, checked on one batch.

    Args:
        loss: the loss instance.
        y_true, y_pred: arrays; `y_pred` is what a model outputs.
        reference: the expected value (float), or None.

    Returns:
        The eager value.
    """
    clone = check_config_round_trip(loss)
    value = float(loss(y_true, y_pred))
    assert np.isfinite(value)
    graph = tf.function(lambda a, b: loss(a, b))
    np.testing.assert_allclose(float(graph(y_true, y_pred)), value, rtol=1e-6)
    np.testing.assert_allclose(float(clone(y_true, y_pred)), value, rtol=1e-6)
    if reference is not None:
        np.testing.assert_allclose(value, reference, rtol=1e-5, atol=1e-6)
    # A compiled fit step: a Dense layer predicting `y_pred`'s shape.
    batch, shape = len(y_pred), np.shape(y_pred)[1:]
    features = np.random.default_rng(0).normal(size=(batch, 4))
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(int(np.prod(shape))),
            keras.layers.Reshape(shape),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    history = model.fit(
        features.astype("float32"), y_true, batch_size=batch, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    # Low-precision predictions: a float32 value close to the float32 one.
    for name in POLICIES[1:]:
        dtype = keras.DTypePolicy(name).compute_dtype
        low = loss(y_true, ops.cast(y_pred, dtype))
        assert keras.backend.standardize_dtype(low.dtype) == "float32"
        np.testing.assert_allclose(float(low), value, rtol=0.05, atol=0.05)
    return value


def run_model_test(build, input_data, labels, tmp_path, compile_kwargs=None):
    """The contract of a model made by `build()` (under the global policy).

    Checks the config round trip, the symbolic and eager calls, one
    compiled `fit` step, a `.keras` save / load (same outputs) and the
    three policies (one eager call each).

    Returns:
        The model built under float32.
    """
    compile_kwargs = dict(compile_kwargs or {})
    model = build()
    eager = model(input_data, training=False)
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    symbolic = model(keras.Input(np.shape(input_data)[1:]))
    assert _signature(symbolic) == _signature(eager)
    model.compile(optimizer=keras.optimizers.SGD(0.01), **compile_kwargs)
    history = model.fit(
        input_data, labels, batch_size=len(labels), epochs=1, verbose=0
    )
    assert all(np.isfinite(v[0]) for v in history.history.values())
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert_all_close(
        model(input_data, training=False), loaded(input_data, training=False)
    )

    def under(name):
        keras.mixed_precision.set_global_policy(name)
        try:
            return build()
        finally:
            keras.mixed_precision.set_global_policy("float32")

    check_policies(under, lambda m: m(input_data, training=False))
    return model
