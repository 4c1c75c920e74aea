"""README's Python quickstart trains with the wsolevaluation SGD protocol."""

import ast
import os
import types

import numpy as np
import pytest
import tensorflow as tf

from wsol_tf.config import TrainConfig

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration

README = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "README.md"
)


def _quickstart_model(num_classes):
    """Runs the quickstart's imports, build_model and compile statements.

    Everything from the first statement that assigns `model` up to (not
    including) `model.fit`; `data` stands for the resolved DataConfig.
    """
    with open(README) as f:
        text = f.read()
    section = text.split("## Python quickstart", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    statements = ast.parse(code).body
    run, started = [], False
    for node in statements:
        source = ast.get_source_segment(code, node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            run.append(source)
        elif "model.fit(" in source:
            break
        elif started or any(
            isinstance(t, ast.Name) and t.id == "model"
            for t in getattr(node, "targets", [])
        ):
            started = True
            run.append(source)
    assert any("compile(" in s for s in run), run
    namespace = {"data": types.SimpleNamespace(num_classes=num_classes)}
    exec("\n".join(run), namespace)
    return namespace["model"]


def _is_new(path):
    # wsolevaluation's ResNet50 groups: layer4 (`conv5_*`), the attention
    # blocks inside layer4 and the classifier learn at 10x (spec 3).
    name = path.split("/")[0]
    return name.startswith(("conv5_", "attention_layer4_", "fc"))


def test_quickstart_step_is_torch_sgd_with_groups_and_decay():
    model = _quickstart_model(num_classes=3)
    train = TrainConfig()
    assert model.image_size == 64 and model.method == "icl"
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    labels = np.array([0, 2], "int32")
    variables = model.trainable_variables
    state = [v.numpy().copy() for v in model.variables]
    # Gradients of the same objective on the same forward pass (same
    # attention-dropout draws: the seed states are restored below).
    with tf.GradientTape() as tape:
        outputs = model.network(images, training=True)
        loss = model.objective(outputs, labels)["total_loss"]
    grads = tape.gradient(loss, variables)
    for variable, value in zip(model.variables, state):
        variable.assign(value)
    before = [v.numpy().astype("float64") for v in variables]
    # Eager, so the step's gradients are the tape's above, bit for bit
    # (a traced step reorders float32 sums: ~1e-2 relative noise on the
    # stem's gradients after 50 layers).
    model.run_eagerly = True
    model.train_on_batch(images, labels)
    lr, wd, m = train.learning_rate, train.weight_decay, train.momentum
    assert (lr, wd, m, train.nesterov) == (0.01, 1e-4, 0.9, True)
    assert train.lr_classifier_ratio == 10.0
    new_count = decay_only = 0
    for variable, w, g in zip(variables, before, grads):
        g = np.zeros_like(w) if g is None else np.asarray(g, "float64")
        ratio = train.lr_classifier_ratio if _is_new(variable.path) else 1.0
        new_count += ratio != 1.0
        # torch.optim.SGD, first step: d = g + wd * w, buf = d,
        # Nesterov: d + m * buf = (1 + m) * d; w -= lr * ratio * (...).
        d = g + wd * w
        expected = -lr * ratio * (1.0 + m) * d
        delta = variable.numpy().astype("float64") - w
        # float32 rounding of the stored weights and of the gradients.
        tolerance = 2e-7 * np.abs(w) + 1e-4 * np.abs(expected) + 1e-12
        error = np.abs(delta - expected)
        assert np.all(error <= tolerance), (
            variable.path,
            float(error.max()),
            float((error / tolerance).max()),
        )
        if not np.any(g) and np.any(w):
            # Only the decay moves it (non-local theta / phi / g at step 0).
            decay_only += 1
            assert np.all(delta * w <= 0), variable.path
    assert new_count > 0 and decay_only > 0
