"""tools/prepare_dataset.py and torchvision checkpoints from a loopback server.

Small archives, made here with tarfile / zipfile, are served from an HTTP
server on 127.0.0.1 with Range support (a file can be set to drop the
connection halfway the first time, or to be served with other bytes than
the recorded ones). The recorded sizes and digests of
`wsol_tf.downloads.REMOTE_FILES` are replaced by those of the test files
(computed here from their bytes), as for a real release.
"""

import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile

import cv2
import numpy as np
import pytest
from file_helpers import read_tree  # noqa: I001 (tests/)

from wsol_tf import downloads
from wsol_tf.data import prepare
from wsol_tf.data.metadata import read_metadata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


class Server:
    """Serves `files` (name -> bytes) with Range; logs (name, Range)."""

    def __init__(self):
        self.files, self.drop_once, self.log = {}, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.log.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header(
                            "Content-Range", f"bytes */{len(data)}"
                        )
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range",
                        f"bytes {start}-{len(data) - 1}/{len(data)}",
                    )
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in server.drop_once:  # half, then hang up
                    server.drop_once.discard(name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def requests(self, name):
        return [r for n, r in self.log if n == name]


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _jpeg(seed, size):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def _tar(files, mode="w"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _record(monkeypatch, name, data, url="http://unused.invalid/x"):
    """REMOTE_FILES[name] becomes the record of `data` (size + sha256)."""
    old = downloads.REMOTE_FILES[name]
    monkeypatch.setitem(
        downloads.REMOTE_FILES,
        name,
        downloads.RemoteFile(
            name=name,
            url=old.url and url,
            page=old.page,
            size=len(data),
            digest="sha256:" + hashlib.sha256(data).hexdigest(),
        ),
    )


CUB_IMAGES = {
    "001.A/a_1.jpg": _jpeg(0, (40, 30)),
    "002.B/b_1.jpg": _jpeg(1, (24, 32)),
}
CUBV2_IMAGES = {
    "001.A/301.jpg": _jpeg(2, (20, 20)),
    "002.B/302.jpg": _jpeg(3, (16, 28)),
}


def _cub(server, monkeypatch):
    archives = {
        "CUB_200_2011.tgz": _tar(
            {
                **{
                    f"CUB_200_2011/images/{k}": v for k, v in CUB_IMAGES.items()
                },
                "CUB_200_2011/attributes/certainties.txt": b"not an image",
                "attributes.txt": b"not an image",
            },
            mode="w:gz",
        ),
        "CUBV2.tar": _tar({f"./{k}": v for k, v in CUBV2_IMAGES.items()}),
    }
    for name, data in archives.items():
        server.files[name] = data
        _record(monkeypatch, name, data)
    return archives


def _prepare(dataset, root, server, **kwargs):
    lines = []
    result = prepare.prepare_dataset(
        dataset,
        root,
        mirror=server.url,
        log=lines.append,
        verbose=False,
        **kwargs,
    )
    return result, lines


def test_cub_complete_run_then_a_rerun_does_nothing(
    server, monkeypatch, tmp_path
):
    archives = _cub(server, monkeypatch)
    root = str(tmp_path / "dataset")
    result, _ = _prepare("cub", root, server)
    assert result.complete and result.extracted == list(archives)
    # wsolevaluation's layout: CUB_200_2011/images/* and CUBV2's class
    # folders under CUB/; nothing else of the tgz.
    assert read_tree(os.path.join(root, "CUB")) == {
        **CUB_IMAGES,
        **CUBV2_IMAGES,
    }
    for name, data in archives.items():  # kept, checked, no .part left
        with open(os.path.join(root, name), "rb") as f:
            assert f.read() == data
    assert not [n for n in os.listdir(root) if n.endswith(".part")]
    assert [r for _, r in server.log] == [None, None]

    # A re-run: no request, no file touched, even with the archives gone.
    for name in archives:
        os.remove(os.path.join(root, name))
    times = {
        p: os.stat(os.path.join(root, "CUB", p)).st_mtime_ns for p in CUB_IMAGES
    }
    result, lines = _prepare("cub", root, server)
    assert result.complete and not result.extracted and not lines
    assert result.skipped == list(archives)
    assert len(server.log) == 2
    assert times == {
        p: os.stat(os.path.join(root, "CUB", p)).st_mtime_ns for p in CUB_IMAGES
    }


def test_an_interrupted_download_resumes(server, monkeypatch, tmp_path):
    archives = _cub(server, monkeypatch)
    root = tmp_path / "dataset"
    root.mkdir()
    # A killed earlier run left the first 100 bytes of the tgz; this run's
    # transfer of CUBV2.tar drops the connection halfway once.
    tgz, v2 = archives["CUB_200_2011.tgz"], archives["CUBV2.tar"]
    (root / "CUB_200_2011.tgz.part").write_bytes(tgz[:100])
    server.drop_once.add("CUBV2.tar")
    result, _ = _prepare("cub", str(root), server)
    assert result.complete
    assert server.requests("CUB_200_2011.tgz") == ["bytes=100-"]
    half = len(v2) // 2
    assert server.requests("CUBV2.tar") == [None, f"bytes={half}-"]
    assert (root / "CUBV2.tar").read_bytes() == v2
    assert (root / "CUB_200_2011.tgz").read_bytes() == tgz
    assert read_tree(root / "CUB") == {**CUB_IMAGES, **CUBV2_IMAGES}


def test_a_wrong_digest_is_refused_and_nothing_extracted(
    server, monkeypatch, tmp_path
):
    archives = _cub(server, monkeypatch)
    # The server holds other bytes than the recorded ones.
    server.files["CUB_200_2011.tgz"] = archives["CUB_200_2011.tgz"][:-1] + b"x"
    root = tmp_path / "dataset"
    result, lines = _prepare("cub", str(root), server)
    assert not result.complete and result.extracted == ["CUBV2.tar"]
    (line,) = lines[:1]
    assert line.startswith(f"{root / 'CUB_200_2011.tgz.part'}: sha256 ")
    assert "does not match the recorded sha256:" in line and "\n" not in line
    assert not (root / "CUB_200_2011.tgz").exists()
    assert not (root / "CUB_200_2011.tgz.part").exists()
    assert read_tree(root / "CUB") == CUBV2_IMAGES  # no tgz image extracted
    state = json.loads((root / prepare.STATE_FILE).read_text())
    assert list(state) == ["CUBV2.tar"]
    # Fixed upstream: the next run fetches and extracts only the tgz.
    server.files["CUB_200_2011.tgz"] = archives["CUB_200_2011.tgz"]
    result, _ = _prepare("cub", str(root), server)
    assert result.extracted == ["CUB_200_2011.tgz"] and result.skipped == [
        "CUBV2.tar"
    ]
    assert read_tree(root / "CUB") == {**CUB_IMAGES, **CUBV2_IMAGES}


def test_openimages_zips(server, monkeypatch, tmp_path):
    images = {"train/01x/a.jpg": b"a", "test/01x/b.jpg": b"b"}
    masks = {"test/01x/b_m01x_1.png": b"m", "test/01x/b_ignore.png": b"i"}
    for name, files in (
        ("OpenImages_images.zip", images),
        ("OpenImages_annotations.zip", masks),
    ):
        server.files[name] = _zip(files)
        _record(monkeypatch, name, server.files[name])
    result, _ = _prepare("openimages", str(tmp_path), server)
    assert result.complete
    assert read_tree(tmp_path / "OpenImages") == {**images, **masks}


def test_ilsvrc_from_the_users_tars_and_imagenetv2(
    server, monkeypatch, tmp_path
):
    wnids = ["n01440764", "n01443537"]  # sorted: labels 0 and 1
    train = {
        wnid: {
            f"{wnid}_{i}.JPEG": _jpeg(10 * c + i, (30 + i, 20))
            for i in range(2)
        }
        for c, wnid in enumerate(wnids)
    }
    train_tar = _tar({f"{w}.tar": _tar(files) for w, files in train.items()})
    val = {
        "ILSVRC2012_val_00000001.JPEG": b"v1",
        "ILSVRC2012_val_00000002.JPEG": b"v2",
    }
    v2 = {f"{c}/0.jpeg": f"{c}".encode() for c in range(2)}
    archives_dir = tmp_path / "downloads"
    archives_dir.mkdir()
    user = {
        "ILSVRC2012_img_train.tar": train_tar,
        "ILSVRC2012_img_val.tar": _tar(val),
    }
    for name, data in user.items():
        (archives_dir / name).write_bytes(data)
        _record(monkeypatch, name, data)
    name = "imagenetv2-threshold0.7.tar.gz"
    server.files[name] = _tar(
        {f"imagenetv2-threshold0.7-format-val/{k}": b for k, b in v2.items()},
        mode="w:gz",
    )
    _record(monkeypatch, name, server.files[name])
    root, metadata = tmp_path / "dataset", tmp_path / "metadata" / "ILSVRC"
    result, _ = _prepare(
        "ilsvrc",
        str(root),
        server,
        archives_dir=str(archives_dir),
        metadata_root=str(metadata),
    )
    assert result.complete and result.metadata == str(metadata / "train")
    assert read_tree(root / "ILSVRC") == {
        **{
            f"train/{w}/{n}": b
            for w, files in train.items()
            for n, b in files.items()
        },
        **{f"val/{n}": b for n, b in val.items()},
        **{f"val2/{k}": b for k, b in v2.items()},
    }
    assert (archives_dir / name).exists()  # downloads go to archives_dir
    meta = read_metadata(str(metadata), "train", data_root=str(root / "ILSVRC"))
    expected = sorted(
        (f"train/{w}/{n}", c, (30 + i, 20))
        for c, w in enumerate(wnids)
        for i, n in enumerate(sorted(train[w]))
    )
    assert (
        sorted(
            (i, meta.labels[i], tuple(meta.sizes[i])) for i in meta.image_ids
        )
        == expected
    )
    # Again: nothing to do (no metadata rewritten either).
    stamp = os.stat(metadata / "train" / "image_ids.txt").st_mtime_ns
    result, lines = _prepare(
        "ilsvrc",
        str(root),
        server,
        archives_dir=str(archives_dir),
        metadata_root=str(metadata),
    )
    assert not result.extracted and result.metadata is None and not lines
    assert stamp == os.stat(metadata / "train" / "image_ids.txt").st_mtime_ns


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _tool(script, *args, code="", env=None):
    """tools/<script> in a new process; `code` runs first (table edits)."""
    argv = [os.path.join(REPO, "tools", script), *args]
    program = (
        f"{code}\nimport runpy, sys\nsys.argv = {argv!r}\n"
        f"runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(
            os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, **(env or {})
        ),
        timeout=300,
    )


def test_tool_offline_names_what_to_download_and_goes_on(tmp_path):
    # CUBV2.tar is there (no size or digest is published for it); the tgz
    # cannot be fetched.
    (tmp_path / "CUBV2.tar").write_bytes(_tar(CUBV2_IMAGES))
    result = _tool(
        "prepare_dataset.py",
        "--dataset=cub",
        f"--root={tmp_path}",
        f"--mirror={_closed_port_url()}",
    )
    assert result.returncode == 1
    out = result.stdout.splitlines()
    (line,) = [x for x in out if x.startswith("CUB_200_2011.tgz:")]
    assert "could not download" in line
    assert (
        "Download it from https://www.vision.caltech.edu/datasets/cub_200_2011/"
        in line
    )
    assert f"put it at {tmp_path / 'CUB_200_2011.tgz'}, then run again." in line
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("ERROR: 1 archive(s) missing")
    )
    assert read_tree(tmp_path / "CUB") == CUBV2_IMAGES
    # ImageNet is the user's: named in one line each, with where to put it.
    result = _tool(
        "prepare_dataset.py",
        "--dataset=ilsvrc",
        f"--root={tmp_path}",
        "--metadata_root=" + str(tmp_path / "meta"),
        f"--mirror={_closed_port_url()}",
    )
    assert result.returncode == 1
    lines = [
        x for x in result.stdout.splitlines() if x.startswith("ILSVRC2012")
    ]
    assert lines == [
        f"{n}: not found. Download it from https://image-net.org/download-images.php"
        f" (an account is needed) and put it at {tmp_path / n}, then run again."
        for n in ("ILSVRC2012_img_val.tar", "ILSVRC2012_img_train.tar")
    ]


def test_tool_reruns_with_nothing_to_do(server, tmp_path):
    server.files["CUB_200_2011.tgz"] = _tar(
        {"CUB_200_2011/images/001.A/a.jpg": b"a"}
    )
    server.files["CUBV2.tar"] = _tar({"001.A/b.jpg": b"b"})
    code = "\n".join(
        f"import wsol_tf.downloads as d; d.REMOTE_FILES[{n!r}] = d.RemoteFile("
        f"{n!r}, 'x', 'p', {len(b)}, 'sha256:{hashlib.sha256(b).hexdigest()}')"
        for n, b in server.files.items()
    )
    args = ("prepare_dataset.py", "--dataset=cub", f"--root={tmp_path}")
    first = _tool(*args, f"--mirror={server.url}", code=code)
    assert first.returncode == 0, first.stderr
    assert f"--data_root={tmp_path / 'CUB'}" in first.stdout.splitlines()[-1]
    again = _tool(*args, env={downloads.MIRROR_ENV: server.url}, code=code)
    assert again.returncode == 0, again.stderr
    assert "Nothing to do: CUB_200_2011.tgz, CUBV2.tar already extracted." in (
        again.stdout
    )
    assert len(server.log) == 2


def _checkpoint(tmp_path, name, state):
    torch = pytest.importorskip("torch", reason="checkpoints need torch")
    path = tmp_path / "made.pth"
    torch.save(state, path)
    data = path.read_bytes()
    return name.format(hashlib.sha256(data).hexdigest()[:8]), data


def test_torchvision_checkpoint_checks_the_name_prefix(
    server, monkeypatch, tmp_path
):
    torch = pytest.importorskip("torch", reason="checkpoints need torch")
    state = {"conv.weight": torch.arange(6.0).reshape(2, 3)}
    good, data = _checkpoint(tmp_path, "resnet50-{}.pth", state)
    bad = "resnet50-00000000.pth"
    server.files.update({good: data, bad: data})
    cache = tmp_path / "keras" / "models"
    for name in (good, bad):
        monkeypatch.setitem(
            downloads.REMOTE_FILES, name, downloads._torchvision(name)
        )
    monkeypatch.setitem(downloads.TORCHVISION_CHECKPOINTS, "resnet50", good)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    server.drop_once.add(good)
    path = downloads.torchvision_checkpoint("resnet50", mirror=server.url)
    assert path == str(cache / good)  # keras.applications' cache
    assert server.requests(good) == [None, f"bytes={len(data) // 2}-"]
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["conv.weight"], state["conv.weight"])
    assert (
        downloads.torchvision_checkpoint("resnet50", mirror=server.url) == path
    )
    assert len(server.requests(good)) == 2  # cached

    monkeypatch.setitem(downloads.TORCHVISION_CHECKPOINTS, "resnet50", bad)
    with pytest.raises(
        downloads.ChecksumError, match="does not match the recorded"
    ):
        downloads.torchvision_checkpoint("resnet50", mirror=server.url)
    assert sorted(os.listdir(cache)) == [good]  # refused: no file, no .part


def test_convert_weights_tool_downloads_torchvision_checkpoints(
    server, tmp_path
):
    pytest.importorskip("torch", reason="checkpoints need torch")
    import torch_wsol_reference as reference

    from wsol_tf.backbones import weights_file

    model = reference.randomize(reference.MODELS["vgg16"]("cam", 5), 1)
    state = {
        k: v for k, v in model.state_dict().items() if k.startswith("features.")
    }
    good, data = _checkpoint(tmp_path, "vgg16-{}.pth", state)
    server.files[good] = data
    server.files["vgg16-397923af.pth"] = data  # not the published bytes
    code = (
        "import wsol_tf.downloads as d\n"
        f"d.REMOTE_FILES[{good!r}] = d._torchvision({good!r})\n"
        f"d.TORCHVISION_CHECKPOINTS['vgg16'] = {good!r}"
    )
    env = {downloads.MIRROR_ENV: server.url, "KERAS_HOME": str(tmp_path / "k")}
    output = tmp_path / "vgg16.weights.h5"
    args = ("convert_weights.py", "--checkpoint=torchvision:vgg16")
    result = _tool(*args, f"--output={output}", code=code, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k" / "models" / good).read_bytes() == data
    metadata, layers = weights_file.read_weights_file(str(output))
    assert metadata["source"] == good and metadata["layout"] == "torchvision"
    np.testing.assert_array_equal(
        layers["block1_conv1"][1], state["features.0.bias"].numpy()
    )
    # The published name: these bytes do not start with 397923af.
    result = _tool(*args, f"--output={tmp_path / 'x.h5'}", env=env)
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("ERROR")]
    assert "does not match the recorded" in line
    assert "sha256-prefix:397923af of vgg16-397923af.pth" in line
    assert not (tmp_path / "x.h5").exists()
