"""Running the tools/ scripts from tests: in this process or a new one.

Importable from any test module (pytest puts tests/, the directory of the
root conftest.py, on sys.path).
"""

import importlib
import os
import re
import subprocess
import sys

from absl import flags

from wsol_tf.cli import flagfiles

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool(name):
    """The module of tool `name` (`wsol_tf.cli.<name>`, which
    tools/<name>.py runs): imported once, so a tool defines its absl flags
    once, whichever test file loads it first."""
    return importlib.import_module(f"wsol_tf.cli.{name}")


def run_tool_in_process(name, *argv):
    """Parses `argv` as tools/<name>.py does and runs its `main`."""
    module = load_tool(name)
    flagfiles.parse_flags([f"{name}.py", *argv])
    try:
        module.main([f"{name}.py"])
    finally:
        flags.FLAGS.unparse_flags()


# TensorFlow's C++ start-up lines (printed when `import wsol_tf` imports
# it, whatever TF_CPP_MIN_LOG_LEVEL says): not the tool's output.
_TF_STARTUP = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} "
    r"\d\d:\d\d:\d\d|To enable the following instructions)"
)


def tool_lines(stderr):
    """The lines of a tool's stderr, without TensorFlow's start-up lines."""
    return [ln for ln in stderr.splitlines() if not _TF_STARTUP.match(ln)]


def run_tool_subprocess(script, *args, cwd=None, timeout=240):
    """`python tools/<script> args` in a fresh process (this checkout)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=timeout,
    )


SMOKE = os.path.join(REPO, "flags", "smoke.flags")
SMOKE_SIZE = 32  # smaller than smoke.flags' size to keep the suite fast


def smoke_config(tmp, *extra):
    """`ExperimentConfig` of flags/smoke.flags on VGG16 (the fastest
    backbone to trace) at SMOKE_SIZE px, model_dir `tmp/run` and cache
    `tmp/cache`; `extra` flags come last and override."""
    from wsol_tf.cli import config_flags

    # Only the config flags: a tool imported earlier in the same process
    # (e.g. convert_weights) leaves required flags of its own in FLAGS.
    fv = flags.FlagValues()
    config_flags.define_config_flags(fv)
    flagfiles.parse_flags(
        [
            "train.py",
            f"--flagfile={SMOKE}",
            f"--model_dir={os.path.join(tmp, 'run')}",
            f"--cache_dir={os.path.join(tmp, 'cache')}",
            "--architecture=vgg16",
            f"--image_size={SMOKE_SIZE}",
            f"--resize_size={SMOKE_SIZE + 4}",
            f"--eval_image_size={SMOKE_SIZE}",
            *extra,
        ],
        fv,
    )
    return config_flags.config_from_flags(fv)
