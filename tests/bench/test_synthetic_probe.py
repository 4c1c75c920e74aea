"""bench/synthetic_probe.py: Bayes rates, centred-box baseline, views."""

import numpy as np
import pytest

from bench import synthetic_probe
from wsol_tf.data.synthetic import render_birds_image


def test_bayes_accuracy():
    # One cue: the class it points to is right with probability `rate`.
    assert synthetic_probe.bayes_accuracy(0.6, 1, 4) == pytest.approx(60.0)
    assert synthetic_probe.bayes_accuracy(1.0, 3, 4) == pytest.approx(100.0)
    # Uninformative cues (rate = 1 / K): chance.
    assert synthetic_probe.bayes_accuracy(0.25, 3, 4) == pytest.approx(25.0)
    # Two classes, three cues at 0.6: majority vote, P(>= 2 right) = 0.648.
    assert synthetic_probe.bayes_accuracy(0.6, 3, 2) == pytest.approx(64.8)


def test_centred_box_baseline():
    centred = [[(0.25, 0.25, 0.75, 0.75)]]
    assert synthetic_probe.centred_box_baseline(centred)["mean"] == 100.0
    corner = [[(0.0, 0.0, 0.1, 0.1)]]
    assert synthetic_probe.centred_box_baseline(corner)["mean"] == 0.0
    # Half of the images centred, half in a corner: 50 at every IoU.
    result = synthetic_probe.centred_box_baseline(centred + corner)
    assert result == dict(iou30=50.0, iou50=50.0, iou70=50.0, mean=50.0)


def test_views_hide_what_they_should():
    for index in range(6):
        ex = render_birds_image(
            0, "test", index, index % 4, num_classes=4, image_size=128
        )
        views = synthetic_probe._views(ex)
        labels = ex.part_labels.max(0)
        grey = (views["head_only"] == 128).all(-1)
        assert (labels == 1)[~grey].all()  # only head pixels are shown
        assert (views["head_only"][labels == 1] == ex.image[labels == 1]).all()
        for name in ("body_only", "no_head"):
            shown = ~(views[name] == 128).all(-1)
            assert not (shown & (labels == 1)).any(), name
        shown = ~(views["body_only"] == 128).all(-1)
        assert np.isin(labels[shown], (2, 3, 4)).all()
        shown = ~(views["background_only"] == 128).all(-1)
        assert not (shown & (labels > 0)).any()
        assert (views["full"] == ex.image).all()
