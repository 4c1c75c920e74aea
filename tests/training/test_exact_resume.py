"""Exact resume: a run stopped after an epoch and resumed ends with the
weights of an uninterrupted run (data order, augmentation, dropout random
streams and optimizer state restored); the training stream is a function
of (seed, position) only (issue 13)."""

import copy

import keras
import numpy as np
import pytest
from absl import flags
from tool_runner import SMOKE
from tool_runner import SMOKE_SIZE as SIZE  # noqa: I001 (tests/)

from wsol_tf import training
from wsol_tf.cli import config_flags
from wsol_tf.cli import flagfiles
from wsol_tf.data import resolve_dataset
from wsol_tf.data.pipeline import training_stream

# Whole training runs or tools in subprocesses.
pytestmark = pytest.mark.integration


def _config(tmp, name, *extra):
    fv = copy.deepcopy(flags.FLAGS)
    flagfiles.parse_flags(
        [
            "train.py",
            f"--flagfile={SMOKE}",
            f"--model_dir={tmp / name}",
            f"--cache_dir={tmp / 'cache'}",
            "--architecture=vgg16",
            "--method=icl",  # attention blocks: random drop masks
            f"--image_size={SIZE}",
            f"--resize_size={SIZE + 4}",
            f"--eval_image_size={SIZE}",
            "--steps_per_epoch=3",  # 8 images, batch 2: epochs cut passes
            "--epochs=2",
            "--eval_every_epochs=0",
            "--noexport",
            "--novisualize",
            *extra,
        ],
        fv,
    )
    return config_flags.config_from_flags(fv)


def _batches(ds, count):
    return [
        (np.asarray(images), np.asarray(labels))
        for images, labels in ds.take(count)
    ]


@pytest.mark.parametrize("cache", [False, True])
def test_stream_restarts_at_any_epoch_with_the_same_batches(tmp_path, cache):
    data = resolve_dataset(_config(tmp_path, "x", f"--cache={cache}").data)
    full, steps = training_stream(data, "train", steps_per_epoch=3)
    assert steps == 3
    want = _batches(full, 12)  # 3 passes of 4 batches
    for start_epoch in (1, 2, 3):  # starts mid-pass (3, 6) and at one (9)
        resumed, _ = training_stream(
            data, "train", start_epoch=start_epoch, steps_per_epoch=3
        )
        got = _batches(resumed, 12 - 3 * start_epoch)
        for (gi, gl), (wi, wl) in zip(got, want[3 * start_epoch :]):
            np.testing.assert_array_equal(gl, wl)
            np.testing.assert_array_equal(gi, wi)
    # Each pass is the whole split once (partial batches kept: 4 batches
    # of 2), in an order that changes from pass to pass.
    passes = [
        np.concatenate([labels for _, labels in want[4 * p : 4 * p + 4]])
        for p in range(3)
    ]
    for labels in passes:
        assert sorted(labels.tolist()) == [0] * 4 + [1] * 4
    firsts = [want[4 * p][0] for p in range(3)]
    assert not all(np.array_equal(firsts[0], f) for f in firsts[1:])


class _Stop(Exception):
    pass


class _StopAtEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise _Stop()


def test_resumed_run_ends_with_the_uninterrupted_weights(tmp_path):
    straight = _config(tmp_path, "straight")
    model, _, _ = training.run_training(straight, verbose=0)
    want = [np.array(w) for w in model.variables]
    want_iterations = int(model.optimizer.iterations.numpy())

    resumed = _config(tmp_path, "resumed")
    with pytest.raises(_Stop):
        training.run_training(resumed, callbacks=[_StopAtEpoch()], verbose=0)
    keras.utils.clear_session()
    model, history, _ = training.run_training(resumed, verbose=0)
    assert history.epoch == [1]  # only the second epoch ran now
    assert int(model.optimizer.iterations.numpy()) == want_iterations == 6
    # Every variable: weights, BatchNorm statistics and the random
    # streams of the attention blocks' drop masks.
    names = [w.path for w in model.variables]
    assert sum("seed_generator_state" in n for n in names) >= 2
    assert len(names) == len(want)
    for name, got, expected in zip(names, model.variables, want):
        np.testing.assert_allclose(
            np.array(got), expected, rtol=1e-5, atol=1e-6, err_msg=name
        )
