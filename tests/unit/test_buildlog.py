"""The build log takes a converter's output from every channel, labels it, and writes it the same way every build."""

from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import pytest

from edgesdk import buildlog


def chatty_converter(tag: str) -> None:
    """What converters do: print, write to the C streams, warn and log."""
    print(f"{tag} python stdout")
    sys.stderr.write(f"{tag} python stderr\n")
    os.write(1, f"{tag} fd 1\n".encode())
    os.write(2, f"{tag} fd 2\n".encode())
    libc = ctypes.CDLL(None)
    libc.printf(f"{tag} C printf, buffered\n".encode())  # not flushed here: the capture must flush it
    warnings.warn(f"{tag} a UserWarning", stacklevel=1)
    logging.getLogger("some.converter").warning("%s a log record", tag)
    logging.getLogger("some.converter").info("%s below WARNING: not logged", tag)


def test_every_channel_is_captured_labelled_by_stage(capfd):
    log = buildlog.BuildLog()
    log.note("a stage note")
    with log.active(), log.stage("convert (x)"), buildlog.capture("the converter"):
        chatty_converter("inside")
    text = log.text()
    assert text.startswith("a stage note\n--- output of convert (x): the converter ---\n")
    for line in (
        "inside python stdout",
        "inside python stderr",
        "inside fd 1",
        "inside fd 2",
        "inside C printf, buffered",
        "UserWarning: inside a UserWarning",
        "WARNING some.converter: inside a log record",
    ):
        assert line in text, line
    assert "below WARNING" not in text
    assert text.endswith("--- end of convert (x): the converter ---\n")
    out, err = capfd.readouterr()
    assert "inside" not in out + err, "nothing reaches the console during a build"
    print("after")  # the streams are back
    os.write(2, b"after fd 2\n")
    out, err = capfd.readouterr()
    assert out == "after\n" and err == "after fd 2\n"


def test_buffered_c_output_lands_in_its_capture():
    """C stdout is fully buffered when it is not a terminal (unless PYTHONUNBUFFERED, which pytest
    runs may set): a child Python without it shows the capture flushes C's buffer before it ends."""
    script = textwrap.dedent("""
        import ctypes, sys
        from edgesdk import buildlog
        log = buildlog.BuildLog()
        with log.active(), buildlog.capture("c"):
            ctypes.CDLL(None).printf(b"C printf text\\n")
        sys.stderr.write(log.text())
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(buildlog.__file__).parent.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert done.stdout == "" and done.stderr == "--- output of c ---\nC printf text\n--- end of c ---\n"


def test_outside_a_build_nothing_is_captured(capfd):
    with buildlog.capture("no build"):
        print("goes to the console")
        os.write(2, b"so does this\n")
    out, err = capfd.readouterr()
    assert out == "goes to the console\n" and err == "so does this\n"


def test_output_before_a_failure_is_kept_and_the_streams_come_back(capfd):
    log = buildlog.BuildLog()
    with pytest.raises(RuntimeError, match="unsupported op"), log.active(), buildlog.capture("failing converter"):
        print("step 1 of 3")
        os.write(2, b"native: op FancyOp has no kernel\n")
        raise RuntimeError("unsupported op")
    assert "step 1 of 3\nnative: op FancyOp has no kernel" in log.text()
    print("console again")
    assert capfd.readouterr().out == "console again\n"


def test_volatile_text_is_normalised(tmp_path):
    log = buildlog.BuildLog()
    staging = tmp_path / "dist" / ".staging-x-k2j4h5"
    log.hide_folder(staging, "<bundle>")
    with log.active(), buildlog.capture("c"):
        print("W1128 09:32:06.112000 12441 torch/onnx/_registration.py:107] torchvision is not installed")
        print("I0000 00:00:1795862661.995563   11907 flatbuffer_export.cc:4410] Estimated count of arithmetic ops")
        print("2025-11-28 09:33:46.467000: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on")
        print(f"(00:21) [ DONE] Write Model to {staging}/model/model.tflite (+00:03)")
        print("<torch.ScriptMethod object at 0x7f3a2b1c9d80>")
        print(f"calibrating 10%\r 50%\r100% of {tempfile.gettempdir()}/abc/probe-1.onnx   ")
        print(f"{sys.prefix}/lib/x.py:3: UserWarning: y; {os.path.expanduser('~')}fs is not home")
        print("Statistics collection " + "━" * 900 + " 100% 16/16 • 0:00:03 • 0:00:00")
        print("calibrate: 100%|" + "█" * 40 + "| 16/16 [00:01<00:00, 12.34it/s] (pid 4242)")
    assert log.text().splitlines()[1:-1] == [
        "W torch/onnx/_registration.py:107] torchvision is not installed",
        "I flatbuffer_export.cc:4410] Estimated count of arithmetic ops",
        "<time>: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on",
        "(mm:ss) [ DONE] Write Model to <bundle>/model/model.tflite (mm:ss)",
        "<torch.ScriptMethod object at 0x?>",
        "100% of <tmp>/abc/probe-1.onnx",
        f"<python>/lib/x.py:3: UserWarning: y; {os.path.expanduser('~')}fs is not home",
        "Statistics collection " + "━" * 10 + " 100% 16/16 • h:mm:ss • h:mm:ss",
        "calibrate: 100%|" + "█" * 10 + "| 16/16 [mm:ss<mm:ss, ?/s] (pid ?)",
    ]


def test_the_same_log_whatever_the_process_configured(capfd):
    """Filters, root handlers, root level and terminal width set outside must not change the log."""

    def build_once() -> str:
        log = buildlog.BuildLog()
        with log.active(), buildlog.capture("c"):
            for _ in range(3):  # once per place, like Python's default
                warnings.warn("repeated", UserWarning, stacklevel=1)
            warnings.warn("for developers", DeprecationWarning, stacklevel=1)
            logging.getLogger("lib").warning("a record")
            logging.getLogger("lib").info("not at INFO")
            console.print("word " * 30)  # rich wraps at the terminal's width, if it may choose one
        return log.text()

    from rich.console import Console

    console = Console()  # made before the build, like a library's module-level console
    plain = build_once()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root = logging.getLogger()
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
        level = root.level
        root.setLevel(logging.DEBUG)
        os.environ["COLUMNS"] = "40"
        try:
            configured = build_once()
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            del os.environ["COLUMNS"]
    assert plain == configured
    assert plain.count("UserWarning: repeated") == 1 and "for developers" not in plain and "not at INFO" not in plain
    assert "WARNING lib: a record" in plain and ("word " * 30).strip() in plain
    assert "a record" not in capfd.readouterr().err


def test_repeated_identical_output_is_written_once():
    log = buildlog.BuildLog()
    with log.active(), log.stage("quantize (int8)"):
        for _ in range(4):
            with buildlog.capture("probe"):
                print("Please consider pre-processing before quantization.")
        with buildlog.capture("probe"):
            print("something else")
    text = log.text()
    assert text.count("Please consider") == 1
    assert "--- output of quantize (int8): probe (4 calls, each printed this) ---" in text
    assert "something else" in text


def test_nested_captures_each_get_their_own_output():
    log = buildlog.BuildLog()
    with log.active(), buildlog.capture("outer"):
        print("outer before")
        with buildlog.capture("inner"):
            print("inner")
            logging.getLogger("x").warning("inner record")
        print("outer after")
    inner, outer = log.text().split("--- end of inner ---\n")
    assert "inner\nWARNING x: inner record" in inner and "outer" not in inner
    assert "outer before\nouter after" in outer


def test_a_stream_kept_past_the_capture_writes_to_the_console(capfd):
    """A library that makes a logging handler inside a converter call holds our stream afterwards."""
    log = buildlog.BuildLog()
    with log.active(), buildlog.capture("c"):
        kept = logging.StreamHandler(sys.stderr)
    kept.emit(logging.makeLogRecord({"msg": "later record", "levelno": logging.WARNING}))
    assert "later record" in capfd.readouterr().err


def test_hidden_folders_match_both_spellings_and_never_the_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = buildlog.BuildLog()
    log.hide_folder("dist/.staging-x-k2j4h5", "<bundle>")  # how a relative --out names it
    log.hide_folder("/", "<root>")
    with log.active(), buildlog.capture("c"):
        print(f"wrote dist/.staging-x-k2j4h5/model.onnx and {tmp_path}/dist/.staging-x-k2j4h5/model.bin")
    assert "wrote <bundle>/model.onnx and <bundle>/model.bin" in log.text() and "<root>" not in log.text()


def test_text_a_tool_handed_back_is_recorded_with_its_work_folder_hidden(tmp_path):
    work = tmp_path / "edgesdk-pnnx-x4lfkfs5"
    buildlog.record("pnnx", f"ncnnparam = {work}/model.ncnn.param")  # outside a build: nowhere to go, no error
    log = buildlog.BuildLog()
    with log.active(), log.stage("convert (ncnn)"):
        buildlog.record("pnnx", f"ncnnparam = {work}/model.ncnn.param\nFLOPS = 69.394M\n", folders={work: "<pnnx work>"})
    assert log.tools_ran
    assert log.text() == "--- output of convert (ncnn): pnnx ---\nncnnparam = <pnnx work>/model.ncnn.param\nFLOPS = 69.394M\n--- end of convert (ncnn): pnnx ---\n"
