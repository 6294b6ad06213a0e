"""`edgesdk test --device ssh:HOST`: the device string, the ssh command, and the whole remote
sequence (mktemp, tar in, cmake, edgesdk-run per golden case, tar out, rm) run for real through
`bash -c` in place of `ssh HOST` (the same command lines a board's shell would get), held to the
golden vectors here; a wrong golden output fails, a broken remote build fails and cleans up, an
unreachable host is exit 5."""

from __future__ import annotations

import glob
import shutil

import numpy as np
import pytest
from conftest import example_manifest_dict
from toolchains import need

from edgesdk import api, hosttest, remotetest
from edgesdk.cli import main
from edgesdk.errors import InputError, ToolchainError
from edgesdk.remotetest import Remote, SshTarget, parse_env

pytestmark = pytest.mark.cpp


@pytest.mark.parametrize(
    "device, destination, port",
    [("ssh:board", "board", None), ("ssh:pi@10.0.0.5:2222", "pi@10.0.0.5", 2222), ("ssh:ubuntu@jetson-orin.local", "ubuntu@jetson-orin.local", None)],
)
def test_device_string_and_ssh_command(device, destination, port):
    target = SshTarget.parse(device)
    assert (target.destination, target.port) == (destination, port)
    prefix = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", *(["-p", str(port)] if port else []), destination]
    assert target.command_prefix() == prefix


@pytest.mark.parametrize("device", ["ssh:", "ssh:host:0", "ssh:host:70000", "ssh:host;reboot", "ssh:-oProxyCommand=touch", "ssh:-v", "ssh:user@", "ssh:a b", "sshhost"])
def test_bad_device_strings_are_refused(device):
    with pytest.raises(InputError, match=r"ssh:\[USER@\]HOST\[:PORT\]"):
        SshTarget.parse(device)


def test_remote_env_must_be_key_value():
    assert parse_env(["LD_LIBRARY_PATH=/opt/ort/lib", "A_1="]) == {"LD_LIBRARY_PATH": "/opt/ort/lib", "A_1": ""}
    for bad in ["NOVALUE", "1X=2", "A B=1", "=x"]:
        with pytest.raises(InputError, match="--remote-env"):
            parse_env([bad])


@pytest.fixture(scope="module")
def x86_bundle(example_models, tmp_path_factory):
    need(hosttest.toolchain_problem())
    import yaml

    root = tmp_path_factory.mktemp("ssh")
    project = root / "project"
    shutil.copytree(example_models, project)
    (project / "edgesdk.yaml").write_text(yaml.safe_dump(example_manifest_dict()), encoding="utf-8")
    return api.build(project / "edgesdk.yaml", target="x86", runtime="onnxruntime", out=root / "dist").bundle


def _this_machine_as_board():
    package = hosttest.cpp_package("onnxruntime")
    env = {"LD_LIBRARY_PATH": package.run_env({})["LD_LIBRARY_PATH"]}
    return Remote(["bash", "-c"], "this machine"), list(package.cmake_definitions), env


def _work_folders() -> set[str]:
    return set(glob.glob("/tmp/edgesdk-test.*"))


def test_the_remote_sequence_passes_the_golden_vectors_and_cleans_up(x86_bundle):
    remote, cmake_args, env = _this_machine_as_board()
    before = _work_folders()
    report = remotetest.test_bundle(x86_bundle, remote, cmake_args, env)
    assert report.passed, [c.problems for c in report.cases]
    assert len(report.cases) >= 4 and all(c.result_match for c in report.cases)
    assert _work_folders() == before


def test_a_wrong_golden_output_fails_the_remote_run(x86_bundle, tmp_path):
    bundle = shutil.copytree(x86_bundle, tmp_path / x86_bundle.name)
    golden_output = sorted((bundle / "tests" / "golden").glob("*.output0.npy"))[0]
    values = np.load(golden_output)
    np.save(golden_output, values + 0.5)
    remote, cmake_args, env = _this_machine_as_board()
    report = remotetest.test_bundle(bundle, remote, cmake_args, env)
    assert not report.passed
    assert any("output logits: max_abs" in p for c in report.cases for p in c.problems)


def test_a_broken_remote_build_is_a_toolchain_error_and_cleans_up(x86_bundle):
    remote, _, env = _this_machine_as_board()
    before = _work_folders()
    with pytest.raises(ToolchainError, match="configuring the sample app on this machine failed"):
        remotetest.test_bundle(x86_bundle, remote, ["-DONNXRUNTIME_ROOT=/nonexistent"], env)
    assert _work_folders() == before


def test_an_unreachable_board_is_exit_5_and_a_bad_device_exit_2(x86_bundle, capsys):
    assert main(["test", str(x86_bundle), "--device", "ssh:board.invalid"]) == 5
    assert "cannot reach board.invalid over ssh" in capsys.readouterr().err
    assert main(["test", str(x86_bundle), "--device", "ssh:-oProxyCommand=touch"]) == 2
    assert "--device" in capsys.readouterr().err
