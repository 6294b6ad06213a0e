"""Hostile and broken input to the generated C++ SDK and its sample app (issue #22): size limits
checked from the header before allocating, every PNG/JPEG kind decoded exactly as Pillow does,
truncated and corrupt files refused as Pillow refuses them, options validated with their range."""

from __future__ import annotations

import io
import json
import resource
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesdk.limits import IMAGE_LIMITS, MAX_THREADS

from . import imagecraft
from .test_cpp_sdk import CONTEXTS, load_dump

pytestmark = pytest.mark.cpp

PNG_KINDS = [
    (color, depth, trns, interlace)
    for color, depths in imagecraft.PNG_DEPTHS.items()
    for depth in depths
    for trns in ((False, True) if color in (0, 2, 3) else (False,))
    for interlace in (False, True)
]


@pytest.fixture(scope="module")
def decoder(build_bundle):
    """The bundle whose pre-processed tensor is the decoded image itself (uint8 NHWC)."""
    ctx, model = CONTEXTS["uint8_decode"]
    return build_bundle("uint8_decode", ctx, model)


@pytest.fixture(scope="module")
def keep_ratio(build_bundle):
    ctx, model = CONTEXTS["keep_ratio_keyword"]
    return build_bundle("keep_ratio_keyword", ctx, model)


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def decoded_by_sample(bundle, path: Path, tmp_path: Path) -> np.ndarray:
    dump = tmp_path / f"dump-{path.name}"
    dump.mkdir()
    proc = bundle.run("--input", str(path), "--json", "--dump-dir", str(dump))
    assert proc.returncode == 0, f"{path.name}: {proc.stderr}"
    return load_dump(dump)[0][0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run_capped(bundle, *args: str, address_space: int) -> subprocess.CompletedProcess:
    """edgesdk-run with at most `address_space` bytes of virtual memory."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run([str(bundle.exe), "--bundle", str(bundle.root), *args], capture_output=True, text=True, timeout=120, preexec_fn=cap)


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr}"
    assert proc.stdout == "", proc.stdout
    message = proc.stderr.strip()
    assert message.count("\n") <= 1 and "error:" in message, message  # one line (+ usage), no trace
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize(("color", "depth", "trns", "interlace"), PNG_KINDS)
def test_every_png_kind_decodes_like_pillow(decoder, tmp_path, color, depth, trns, interlace):
    data = imagecraft.png_case(color, depth, trns, interlace)
    got = decoded_by_sample(decoder, write(tmp_path, "case.png", data), tmp_path)
    np.testing.assert_array_equal(got, pillow(data))


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("RGB", {"quality": 90}),
        ("RGB", {"quality": 75, "progressive": True}),
        ("RGB", {"quality": 95, "subsampling": 0}),  # 4:4:4
        ("RGB", {"quality": 80, "subsampling": 1}),  # 4:2:2
        ("L", {"quality": 85}),
        ("L", {"quality": 85, "progressive": True}),
    ],
)
def test_every_jpeg_kind_decodes_like_pillow(decoder, tmp_path, mode, options):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:29, 0:43]
    pixels = (np.stack([xx * 6, yy * 8, (xx + yy) * 3], -1) + rng.integers(0, 30, (29, 43, 3))).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, "JPEG", **options)
    got = decoded_by_sample(decoder, write(tmp_path, "case.jpg", buf.getvalue()), tmp_path)
    np.testing.assert_array_equal(got, pillow(buf.getvalue()))


def test_cmyk_jpeg_is_refused_clearly(decoder, tmp_path):
    buf = io.BytesIO()
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(buf, "JPEG")
    assert_refused(decoder.run("--input", str(write(tmp_path, "cmyk.jpg", buf.getvalue()))), "cmyk.jpg", "CMYK")


def _cuts(data: bytes) -> list[tuple[str, bytes]]:
    return [(f"{int(f * 100)}%", data[: int(len(data) * f)]) for f in (0.1, 0.5, 0.99)]


def _jpeg() -> bytes:
    rng = np.random.default_rng(5)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["jpeg", "jpeg-progressive", "png", "png-interlaced"])
def test_truncated_files_fail_where_pillow_fails(decoder, tmp_path, kind):
    """Cut at 10/50/99%: where Pillow refuses the file the sample exits 2 (libjpeg alone would
    gray-fill the missing part and exit 0); where Pillow still decodes it (a PNG missing only
    IEND), the pixels are Pillow's."""
    if kind.startswith("jpeg"):
        buf = io.BytesIO()
        Image.open(io.BytesIO(_jpeg())).save(buf, "JPEG", quality=90, progressive=kind.endswith("progressive"))
        data = buf.getvalue()
    else:
        data = imagecraft.png_case(2, 8, False, kind.endswith("interlaced"))
    refused = 0
    for label, cut in _cuts(data):
        path = write(tmp_path, f"cut-{label[:-1]}.{'jpg' if kind.startswith('jpeg') else 'png'}", cut)
        try:
            want = pillow(cut)
        except OSError:
            assert_refused(decoder.run("--input", str(path)), path.name)
            refused += 1
        else:
            np.testing.assert_array_equal(decoded_by_sample(decoder, path, tmp_path), want, err_msg=label)
    assert refused >= 2  # the cuts inside the image data


@pytest.mark.parametrize("chunk", [b"IHDR", b"tRNS", b"IDAT"])
def test_png_with_a_bad_checksum_is_refused(decoder, tmp_path, chunk):
    """Pillow refuses bad checksums before the image data; it skips IDAT's, which is refused
    here too: a damaged image is never classified."""
    data = imagecraft.with_bad_crc(imagecraft.png_case(2, 8, True, False), chunk)
    if chunk != b"IDAT":
        with pytest.raises((OSError, SyntaxError)):
            pillow(data)
    assert_refused(decoder.run("--input", str(write(tmp_path, "crc.png", data))), "crc.png", "corrupt PNG")


@pytest.mark.parametrize(
    ("name", "data", "limit"),
    [
        ("huge.png", imagecraft.png_declaring(100000, 100000), "max_image_side = 16384"),
        ("huge.jpg", imagecraft.jpeg_declaring(65500, 65500), "max_image_side = 16384"),
        ("strip.png", imagecraft.png_declaring(1000000, 1), "max_image_side = 16384"),
        ("square.png", imagecraft.png_declaring(9000, 9000), "max_image_pixels = 67108864"),
        ("square.jpg", imagecraft.jpeg_declaring(9000, 9000), "max_image_pixels = 67108864"),
    ],
    ids=["png-100000x100000", "jpeg-65500x65500", "png-1000000x1", "png-9000x9000", "jpeg-9000x9000"],
)
def test_tiny_file_declaring_a_huge_image_is_refused_before_allocating(decoder, tmp_path, name, data, limit):
    """A few hundred bytes declaring gigapixels: refused from the header (exit 2, the limit and
    the declared size named) while the process stays small; before the limits a 100000^2 PNG
    ended in an escaped std::bad_alloc (SIGABRT) and a 65500^2 JPEG took 12 GB. Run with 512 MiB
    of address space: the refusal must come before any allocation of the declared size."""
    assert len(data) < 1000
    path = write(tmp_path, name, data)
    assert_refused(run_capped(decoder, "--input", str(path), address_space=512 << 20), name, limit)


def test_keep_ratio_resize_of_a_thin_strip_is_refused_before_its_tables(keep_ratio, tmp_path):
    """16384 x 1 is a valid input; resized keeping the ratio to a 28-pixel short side it would
    be 458752 x 28 (a 1000000 x 1 strip made 7.9 GB of tables before the limits)."""
    side = IMAGE_LIMITS["max_image_side"]
    path = tmp_path / "strip.png"
    Image.fromarray(np.full((1, side, 3), 77, np.uint8)).save(path)
    assert_refused(keep_ratio.run("--input", str(path)), "InvalidInput", "keep_ratio resize output 458752x28", "max_intermediate_side = 16384")
    ok = tmp_path / "wide.png"
    Image.fromarray(np.full((3, 300, 3), 77, np.uint8)).save(ok)  # 2800 x 28: within the limits
    assert keep_ratio.run("--input", str(ok), "--json").returncode == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--threads", "1000000"], ["--threads", f"from 0 to {MAX_THREADS}", "1000000"]),
        (["--threads", "-1"], ["--threads", f"from 0 to {MAX_THREADS}"]),
        (["--threads", "99999999999999999999"], ["--threads", f"from 0 to {MAX_THREADS}"]),
        (["--bench", "0"], ["--bench", "from 1 to 100000"]),
        (["--bench", "2x"], ["--bench", "from 1 to 100000"]),
        (["--dump-dir", "/nonexistent/dir"], ["--dump-dir", "not a directory"]),
    ],
)
def test_options_out_of_range_name_the_range(decoder, args, words):
    image = Path(__file__)  # never read: the arguments are refused first
    proc = decoder.run("--input", str(image), *args)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    for word in words:
        assert word in proc.stderr


def test_threads_at_the_limit_still_run(decoder, tmp_path):
    path = write(tmp_path, "ok.png", imagecraft.png_case(2, 8, False, False))
    assert decoder.run("--input", str(path), "--threads", "4", "--json").returncode == 0


def test_input_from_a_pipe_says_a_regular_file_is_needed(decoder, tmp_path):
    data = imagecraft.png_case(2, 8, False, False)
    proc = subprocess.run([str(decoder.exe), "--bundle", str(decoder.root), "--input", "/dev/stdin"], input=data, capture_output=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert b"a seekable regular file is needed" in proc.stderr
    # Redirected from a file, /dev/stdin is that file and works.
    path = write(tmp_path, "in.png", data)
    with path.open("rb") as f:
        ok = subprocess.run([str(decoder.exe), "--bundle", str(decoder.root), "--input", "/dev/stdin", "--json"], stdin=f, capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["image"] == {"width": 19, "height": 13}


def test_out_of_memory_below_the_limits_is_exit_1_not_an_abort(decoder, tmp_path):
    """An 8000 x 8000 image is within the limits; with 160 MB of address space the decoder's
    192 MB RGB buffer cannot be had: std::bad_alloc must become exit 1, not SIGABRT."""
    path = write(tmp_path, "big.png", imagecraft.png_black(8000, 8000))
    proc = run_capped(decoder, "--input", str(path), address_space=160 << 20)
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stderr}"
    assert "out of memory" in proc.stderr
