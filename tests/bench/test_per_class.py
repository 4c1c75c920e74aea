"""bench/per_class.py: the per-class table from a result JSON."""

import numpy as np

from bench import per_class
from wsol_tf.config import ExperimentConfig
from wsol_tf.config import LossConfig
from wsol_tf.config import ModelConfig


def _run(name, label, values):
    keys = [k for k, _ in per_class.KEYS]
    return {
        "run": f"/somewhere/{name}",
        "label": label,
        "classes": {
            str(c): dict(zip(keys, row)) for c, row in enumerate(values)
        },
    }


def test_render_gives_each_class_mean_and_std_over_runs():
    a = [[60.0, 10.0, 0.0, 23.0, 99.0], [95.0, 80.0, 40.0, 72.0, 90.0]]
    b = [[64.0, 14.0, 2.0, 27.0, 100.0], [97.0, 90.0, 50.0, 78.0, 94.0]]
    result = {
        "split": "test",
        "runs": [_run("cam_seed0", "CAM", a), _run("cam_seed1", "CAM", b)],
        "meta": {"command": "python bench/per_class.py", "cpu": "x"},
    }
    text = per_class.render(result)
    assert text.startswith("CAM, test split, mean ± std over 2 runs")
    assert "/somewhere/" not in text  # paths shown without their folders
    rows = [r for r in text.splitlines() if r.startswith("| 1 |")]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    for got, x, y in zip(cells[1:], a[1], b[1]):
        m, s = np.mean([x, y]), np.std([x, y], ddof=1)
        assert got == f"{m:.1f} ± {s:.1f}"


def test_run_label_names_method_and_loss():
    icl = ExperimentConfig(
        model=ModelConfig(method="icl"), loss=LossConfig(contrastive="nt_xent")
    )
    assert per_class.run_label(icl) == "ICL (nt_xent)"
    cam = ExperimentConfig(model=ModelConfig(method="cam"))
    assert per_class.run_label(cam) == "CAM"
