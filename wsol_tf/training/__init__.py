"""run_training(config): the whole experiment of one ExperimentConfig.

Seeds, dataset resolution, dtype policy, distribution strategy, model,
SGD (Nesterov) with the protocol's per-epoch step decay, callbacks in the
order that matters, `model.fit`, then the final test evaluation, metrics
JSON, visualizations and the SavedModel export. Files under `model_dir`:

```
.lock                    pid / host / start of the run using the directory
config.json              resolved ExperimentConfig (atomic)
checkpoints/last.keras   every epoch (atomic); best.keras on val improvement
backup/                  BackupAndRestore state: a rerun resumes from it
logs/                    TensorBoard scalars and CAM images
history.csv              per-epoch logs
metrics_test.json        final metrics of the test split (protocol pinned)
visualizations/          CAM grid and BoxAcc-vs-threshold curve PNGs
saved_model/             serving SavedModel (see wsol_tf.export)
```

A killed run restarted with the same `model_dir` resumes from the last
finished epoch (`backup/` is kept after the end, so rerunning a finished
run with more `epochs` continues it; delete `model_dir` to start over) and
ends with the weights of an uninterrupted run: the data order and
augmentation depend on (seed, position) only (`training_stream`) and the
backup holds the optimizer state and the drop-mask random streams. A
second run into a `model_dir` in use is refused (`RunDirLockedError`; the
lock of a killed run is taken over); a non-finite loss or weight stops the
run (`DivergenceError`) before anything of that epoch is saved; a failed
write (full or read-only disk) is a `WriteError` naming the file, with the
previous checkpoint and backup kept. Temporaries of a killed write are
removed on start.
"""

from wsol_tf.training.callbacks import step_decay  # noqa: F401
from wsol_tf.training.loop import finish  # noqa: F401
from wsol_tf.training.loop import run_training  # noqa: F401
from wsol_tf.training.reporting import format_metrics_table  # noqa: F401
from wsol_tf.training.reporting import protocol_settings  # noqa: F401
from wsol_tf.training.resolve import resolve_experiment  # noqa: F401
