"""HistoryCSVLogger: a key first logged after epoch 0 gets its column."""

import csv

import keras
import numpy as np

from wsol_tf.callbacks import HistoryCSVLogger


class _LateKey(keras.callbacks.Callback):
    """Adds `name` to the logs at the epochs in `epochs` (as the
    localization callback does at its evaluation epochs)."""

    def __init__(self, name, epochs):
        super().__init__()
        self.name, self.epochs = name, set(epochs)

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.epochs:
            logs[self.name] = 10.0 + epoch


def _fit(path, epochs, initial_epoch=0, append=False, late=()):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), np.float32)
    callbacks = [cb for cb in late] + [HistoryCSVLogger(path, append=append)]
    model.fit(
        x,
        x[:, :1],
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=callbacks,
    )


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_key_logged_only_at_the_last_epoch_gets_a_column(tmp_path):
    path = str(tmp_path / "history.csv")
    _fit(path, 3, late=[_LateKey("val_maxboxaccv2", [2])])
    rows = _rows(path)
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert [r["val_maxboxaccv2"] for r in rows] == ["NA", "NA", "12.0"]
    assert all(r["loss"] not in ("", "NA") for r in rows)
    # keras' own logger drops it (the behaviour this class fixes).
    plain = str(tmp_path / "plain.csv")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), np.float32)
    model.fit(
        x,
        x[:, :1],
        epochs=3,
        verbose=0,
        callbacks=[
            _LateKey("val_maxboxaccv2", [2]),
            keras.callbacks.CSVLogger(plain),
        ],
    )
    assert "val_maxboxaccv2" not in _rows(plain)[-1]


def test_a_resume_continues_the_columns_and_adds_new_ones(tmp_path):
    path = str(tmp_path / "history.csv")
    _fit(path, 2, late=[_LateKey("a", [0, 1])])
    _fit(
        path,
        4,
        initial_epoch=2,
        append=True,
        late=[_LateKey("a", [2, 3]), _LateKey("b", [3])],
    )
    rows = _rows(path)
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["a"] for r in rows] == ["10.0", "11.0", "12.0", "13.0"]
    assert [r["b"] for r in rows] == ["NA", "NA", "NA", "13.0"]
