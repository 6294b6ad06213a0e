"""`edgesdk verify` and `edgesdk test` take a bundle .zip: it is extracted into a temporary folder,
and a hostile archive (path traversal, absolute paths, links, too many or too large members, more
than one top folder, a damaged member) is refused with exit 4 before anything lands outside it."""

from __future__ import annotations

import stat
import zipfile

import pytest

from edgesdk import bundle as bundle_mod
from edgesdk.cli import main


def test_verify_takes_the_bundle_zip(built, capsys):
    assert main(["verify", str(built.result.zip), "--pubkey", str(built.pubkey)]) == 0
    assert "signature verified" in capsys.readouterr().out


def _zip(path, members: dict[str, bytes], link: str | None = None):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    ("members", "link", "message"),
    [
        ({"b/../../escaped.txt": b"x"}, None, "leaves its folder"),
        ({"/tmp/absolute.txt": b"x"}, None, "absolute path"),
        ({"C:/x.txt": b"x"}, None, "absolute path"),
        ({"b//x.txt": b"x"}, None, "leaves its folder"),
        ({"b/sdk.json": b"{}"}, "b/link", "symbolic link"),
        ({"a/sdk.json": b"{}", "b/sdk.json": b"{}"}, None, "one bundle folder"),
    ],
    ids=["traversal", "absolute", "drive", "empty-part", "link", "two-roots"],
)
def test_hostile_zip_is_refused(tmp_path, capsys, members, link, message):
    archive = _zip(tmp_path / "hostile.zip", members, link)
    assert main(["verify", str(archive)]) == 4
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "escaped.txt").exists()
    assert main(["test", str(archive)]) == 4


def test_size_and_count_limits_and_damage(tmp_path, monkeypatch, capsys):
    archive = _zip(tmp_path / "big.zip", {"b/sdk.json": b"{}", "b/model/model.onnx": b"\0" * 4096})
    monkeypatch.setattr(bundle_mod, "MAX_ZIP_BYTES", 4000)
    assert main(["verify", str(archive)]) == 4
    assert "at most 4000" in capsys.readouterr().err
    monkeypatch.setattr(bundle_mod, "MAX_ZIP_BYTES", 1 << 30)
    monkeypatch.setattr(bundle_mod, "MAX_ZIP_MEMBERS", 1)
    assert main(["verify", str(archive)]) == 4
    assert "at most 1" in capsys.readouterr().err
    monkeypatch.setattr(bundle_mod, "MAX_ZIP_MEMBERS", 100)
    with zipfile.ZipFile(tmp_path / "damaged.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("b/sdk.json", b"{}")
        z.writestr("b/model/model.onnx", bytes(range(256)) * 64)
    data = bytearray((tmp_path / "damaged.zip").read_bytes())
    data[100] ^= 0xFF  # inside the first member's deflate stream
    (tmp_path / "damaged.zip").write_bytes(bytes(data))
    assert main(["verify", str(tmp_path / "damaged.zip")]) == 4
    assert "damaged" in capsys.readouterr().err
    (tmp_path / "not.zip").write_bytes(b"PK not really")
    assert main(["verify", str(tmp_path / "not.zip")]) == 4
