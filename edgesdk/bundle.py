"""Bundle assembly: a staging folder renamed into place at the end, checksums, deterministic zip.

A failed build removes its staging folder, so `dist/` never holds a half-written bundle; an
existing bundle is only replaced with `force`, and then only once the new one is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgesdk.errors import InputError, IntegrityError

SUMS_FILE = "SHA256SUMS"
SIGNATURE_FILE = SUMS_FILE + ".sig"
SDK_JSON = "sdk.json"
# What an edgesdk bundle zip may hold; anything beyond is refused before a byte is extracted.
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_BYTES = 16 * 1024**3  # uncompressed, all members together
# Zip timestamps cannot precede 1980; this is also `created` when SOURCE_DATE_EPOCH is unset,
# so two builds of the same inputs are byte-identical.
DEFAULT_EPOCH = 315532800


def bundle_dirname(name: str, version: str, target: str, runtime: str) -> str:
    return f"{name}-{version}-{target}-{runtime}"


def source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    try:
        return max(int(value), DEFAULT_EPOCH)
    except ValueError as exc:
        raise InputError(f"SOURCE_DATE_EPOCH={value!r} is not an integer number of seconds") from exc


def zip_path(bundle_dir: Path) -> Path:
    return bundle_dir.parent / f"{bundle_dir.name}.zip"


def check_free(out_dir: Path, dirname: str, force: bool) -> None:
    final = out_dir / dirname
    if (final.exists() or zip_path(final).exists()) and not force:
        raise InputError(f"bundle {final} already exists (the same name and version is never overwritten; bump `version` or pass --force)")


@contextlib.contextmanager
def staging(out_dir: Path, dirname: str, force: bool, sign: Callable[[bytes], bytes] | None = None) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes out_dir/dirname (+ .zip). `sign`, when
    given, signs SHA256SUMS into SHA256SUMS.sig before the zip is written."""
    check_free(out_dir, dirname, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".staging-{dirname}-", dir=out_dir))
    try:
        yield stage
        write_checksums(stage)
        if sign is not None:
            (stage / SIGNATURE_FILE).write_bytes(sign((stage / SUMS_FILE).read_bytes()))
        _publish(stage, out_dir / dirname)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish(stage: Path, final: Path) -> None:
    zip_tmp = final.parent / f".{final.name}.zip.tmp"
    write_deterministic_zip(stage, zip_tmp, root=final.name)
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    stage.rename(final)
    zip_tmp.replace(zip_path(final))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Streamed, so a large (or hostile) file is hashed in constant memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_listing(folder: Path) -> str:
    """A folder's files as SHA256SUMS lists them: `<sha256>  <path>` lines, paths relative to the
    folder with `/`, sorted by path."""
    return "".join(f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}\n" for p in _files(folder))


def sha256_path(path: Path) -> str:
    """The sha256 of a model file, or of a model that is a folder (a Core ML .mlpackage): then the
    sha256 of its `folder_listing` text (UTF-8), so one digest covers every file in it, names
    included (docs/bundle-format.md)."""
    return sha256_bytes(folder_listing(path).encode("utf-8")) if path.is_dir() else sha256_file(path)


def is_inside(root: Path, rel: str) -> bool:
    """`rel` names a path inside `root`: not absolute, no `..` reaching out, no link leading out."""
    if not rel or rel.startswith("/") or "\\" in rel:
        return False
    try:
        (root / rel).resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _files(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def write_checksums(root: Path) -> None:
    lines = []
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if rel in (SUMS_FILE, SIGNATURE_FILE):
            continue
        lines.append(f"{sha256_bytes(path.read_bytes())}  {rel}\n")
    (root / SUMS_FILE).write_text("".join(lines), encoding="utf-8")


def verify_checksums(root: Path) -> list[str]:
    """Problems found (empty when the bundle is intact): changed, missing or unlisted files."""
    sums = root / SUMS_FILE
    if not sums.is_file():
        return [f"{SUMS_FILE} is missing"]
    listed: dict[str, str] = {}
    try:
        text = sums.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [f"{SUMS_FILE} is not UTF-8 text"]
    for n, line in enumerate(text.splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            return [f"{SUMS_FILE} line {n} is malformed"]
        if not is_inside(root, rel):
            return [f"{SUMS_FILE} line {n} names a path outside the bundle: {rel!r}"]
        listed[rel] = digest
    problems = []
    for rel, digest in listed.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: sha256 mismatch")
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if rel not in listed and rel not in (SUMS_FILE, SIGNATURE_FILE):
            problems.append(f"{rel}: not listed in {SUMS_FILE}")
    return problems


def write_deterministic_zip(src: Path, dest: Path, root: str) -> None:
    """Sorted entries, fixed timestamps and modes: the same tree always gives the same bytes."""
    stamp = _zip_time(source_date_epoch())
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in _files(src):
            rel = path.relative_to(src).as_posix()
            info = zipfile.ZipInfo(f"{root}/{rel}", date_time=stamp)
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the host
            zf.writestr(info, path.read_bytes(), compresslevel=9)


def _zip_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    import time

    t = time.gmtime(epoch)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)


def write_json(path: Path, data: Any) -> None:
    """Stable JSON: sorted keys, fixed float formatting, trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def load_sdk_json(bundle: Path) -> dict[str, Any]:
    path = bundle / SDK_JSON
    if not bundle.is_dir():
        raise InputError(f"bundle not found: {bundle}")
    if not path.is_file():
        raise InputError(f"{bundle} is not an edgesdk bundle ({SDK_JSON} is missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise IntegrityError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise IntegrityError(f"{path} must hold a JSON object (got {type(data).__name__})")
    return data


@contextlib.contextmanager
def opened(path: Path) -> Iterator[Path]:
    """The bundle folder at `path`, or, for a bundle .zip, the folder extracted from it into a
    temporary directory (removed afterwards) by `extract_zip`."""
    if path.suffix != ".zip" or not path.is_file():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="edgesdk-bundle-") as tmp:
        yield extract_zip(path, Path(tmp))


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = name.split("/")
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if name.startswith("/") or "\\" in name or (len(parts[0]) == 2 and parts[0][1] == ":"):
        return "has an absolute path"
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        return "leaves its folder (empty, '.' or '..' path parts)"
    return None


def extract_zip(archive: Path, dest: Path) -> Path:
    """Extracts a bundle zip into `dest` and returns the bundle folder. Refused (IntegrityError)
    before anything is written: absolute paths, `..` or empty path parts, links, more than
    MAX_ZIP_MEMBERS members or MAX_ZIP_BYTES in all, or members outside one top folder; while
    extracting, a member that inflates beyond the size its header declares."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntegrityError(f"{archive} is not a readable zip: {exc}") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise IntegrityError(f"{archive} has {len(infos)} members; a bundle zip has at most {MAX_ZIP_MEMBERS}")
        roots = set()
        total = 0
        for info in infos:
            problem = _member_problem(info)
            if problem:
                raise IntegrityError(f"{archive}: member {info.filename!r} {problem}; refused")
            roots.add(info.filename.split("/")[0])
            total += info.file_size
        if total > MAX_ZIP_BYTES:
            raise IntegrityError(f"{archive} would extract to {total} bytes; a bundle zip holds at most {MAX_ZIP_BYTES}")
        if len(roots) != 1:
            raise IntegrityError(f"{archive} must hold one bundle folder (found {len(roots)} top-level entries)")
        for info in infos:
            if not info.is_dir():
                _extract_member(zf, info, dest / info.filename, archive)
    return dest / roots.pop()


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                written += len(chunk)
                if written > info.file_size:  # the header lied: a zip bomb, not a bundle
                    raise IntegrityError(f"{archive}: member {info.filename!r} inflates beyond its declared {info.file_size} bytes; refused")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged member: bad CRC, bad deflate stream
        raise IntegrityError(f"{archive}: member {info.filename!r} is damaged: {exc}") from exc
