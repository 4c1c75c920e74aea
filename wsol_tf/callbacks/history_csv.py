"""`HistoryCSVLogger`: keras' CSVLogger whose columns follow the logs."""

import csv
import os

import keras

from wsol_tf.io_utils import atomic_path


class HistoryCSVLogger(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger` that adds a column for a late key.

    keras fixes the columns at the first epoch it writes, so a key first
    logged later was dropped: the localization metrics when val is
    evaluated every N > 1 epochs (`eval_every_epochs`), whose only row
    then is the last, or a metric new at a resume. Here a new key widens
    the file: the rows so far are rewritten (atomically) under the wider
    header, their new cells "NA". On a resume (`append=True`) the columns
    continue those of the existing file.

    Example:
    >>> model.fit(..., callbacks=[HistoryCSVLogger("history.csv")])
    """

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None and self.append:
            header = self._header()
            if header:
                self.keys = header[1:]
        if self.keys is not None:
            new = sorted(set(logs) - set(self.keys))
            if new:
                self._widen(self.keys + new)
        super().on_epoch_end(epoch, logs)

    def _header(self):
        if not os.path.isfile(self.filename):
            return None
        with open(self.filename, newline="") as f:
            return next(csv.reader(f, delimiter=self.sep), None)

    def _widen(self, keys):
        self.csv_file.close()
        with open(self.filename, newline="") as f:
            rows = list(csv.DictReader(f, delimiter=self.sep))
        fieldnames = ["epoch"] + list(keys)
        with atomic_path(self.filename) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(
                    f, fieldnames=fieldnames, delimiter=self.sep, restval="NA"
                )
                writer.writeheader()
                writer.writerows(rows)
        self.keys = list(keys)
        self.csv_file = open(self.filename, "a", newline="")
        self.writer = None
        self.append_header = False
