"""Keras callback: wsolevaluation localization metrics at epoch end."""

import keras

from wsol_tf.config import EvalConfig
from wsol_tf.evaluation.runner import evaluate_model
from wsol_tf.evaluation.runner import progress_bar


class LocalizationMetricsCallback(keras.callbacks.Callback):
    """Evaluates MaxBoxAccV2, GT-known / Top-1 Loc (and PxAP) every epoch.

    At the end of every `every_n_epochs`-th epoch it runs
    `wsol_tf.evaluation.evaluate_model` on `eval_dataset` (CAMs of the GT
    class from `model.compute_cams(images, labels)`, protocol resize and
    normalisation, exact MaxBoxAcc / MaxBoxAccV2 curves) and writes the
    metrics as Python floats into `logs` under `prefix` + name, e.g.
    `val_maxboxaccv2`, `val_maxboxacc_50`, `val_gt_known_loc`,
    `val_top1_loc`, `val_top1_cls`, `val_pxap`. Callbacks that come after
    it in the `callbacks` list (ModelCheckpoint, TensorBoard, CSVLogger,
    EarlyStopping) see these values, so it must PRECEDE a ModelCheckpoint
    that monitors one of them. Only `on_epoch_end` is implemented.

    Args:
        eval_dataset: evaluation batches (dicts with "images", "labels",
            "boxes", optional "masks"), e.g. `build_dataset(data_config,
            split, training=False)`; iterated in its fixed order. `.cache()`
            it to avoid decoding the images every epoch.
        eval_config: `EvalConfig` (interval, multi-contour, IoU list, loc
            settings); default `EvalConfig()`.
        prefix: string prepended to the metric names in `logs`.
        every_n_epochs: evaluate every n-th epoch (1 = every epoch).
        verbose: 0 silent, 1 a progress bar and a summary line.

    Attributes:
        history: list of dicts `{"epoch", "metrics", "box_curve",
            "loc_curve", "pxap_curve"}`, one per evaluation (the curves to
            plot BoxAcc against the CAM threshold).

    Example:
    ```python
    callbacks = [
        LocalizationMetricsCallback(val_ds),
        keras.callbacks.ModelCheckpoint(
            "best.keras", monitor="val_maxboxaccv2", mode="max"
        ),
    ]
    model.fit(train_ds, epochs=40, callbacks=callbacks)
    ```
    """

    def __init__(
        self,
        eval_dataset,
        eval_config=None,
        prefix="val_",
        every_n_epochs=1,
        verbose=1,
    ):
        super().__init__()
        if eval_dataset is None:
            raise ValueError(
                "Expected an evaluation dataset. Received: eval_dataset=None"
            )
        if int(every_n_epochs) < 1:
            raise ValueError(
                "Expected `every_n_epochs` >= 1. "
                f"Received: every_n_epochs={every_n_epochs}"
            )
        if not isinstance(prefix, str):
            raise ValueError(
                f"Expected a string prefix. Received: prefix={prefix!r}"
            )
        self.eval_dataset = eval_dataset
        self.eval_config = (
            eval_config if eval_config is not None else EvalConfig()
        )
        self.eval_config.validate()
        self.prefix = prefix
        self.every_n_epochs = int(every_n_epochs)
        self.verbose = int(verbose)
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        logs = logs if logs is not None else {}
        progress = progress_bar(self.eval_dataset) if self.verbose else None
        result = evaluate_model(
            self.model,
            self.eval_dataset,
            self.eval_config,
            progress=progress,
            return_details=True,
        )
        for name, value in result.metrics.items():
            logs[self.prefix + name] = float(value)
        self.history.append(
            {
                "epoch": int(epoch),
                "metrics": dict(result.metrics),
                "box_curve": result.box_curve,
                "loc_curve": result.loc_curve,
                "pxap_curve": result.pxap_curve,
            }
        )
        if self.verbose:
            shown = ", ".join(
                f"{self.prefix}{k}={v:.2f}"
                for k, v in result.metrics.items()
                if k.startswith(("maxboxacc", "gt_known", "top1", "pxap"))
            )
            print(f"Epoch {epoch + 1} localization: {shown}")
