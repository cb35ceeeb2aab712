"""Every file the library writes is all or nothing: a failed write leaves the folder exactly as it was."""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from faults import FAILURES, assert_raised_injected, count_calls, folder_snapshot, inject, run_failing
from torch import nn

from weight_initialization_system import _io
from weight_initialization_system.cli import main
from weight_initialization_system.config import dump_config, load_config
from weight_initialization_system.distributed import init_to_safetensors, streaming
from weight_initialization_system.report import Diagnosis, WeightLayer, histogram, html, render_html, write_html

PREVIOUS = b"previous contents, must survive"

FACTORY = '''
import torch.nn as nn


class Unpicklable(nn.Linear):
    """A layer whose extra state (a local function) cannot be pickled by torch.save."""

    def get_extra_state(self):
        return lambda: None

    def set_extra_state(self, state):
        pass


def build():
    return nn.Sequential(nn.Linear(4, 4), Unpicklable(4, 2))


def plain():
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
'''


@pytest.fixture
def factory(tmp_path: Path) -> Path:
    source = tmp_path / "factories" / "models.py"
    source.parent.mkdir()
    source.write_text(FACTORY)
    return source


def _cli(*argv: str) -> int:
    return main(list(argv))


def _meta_net() -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))


def _config_text() -> str:
    return "weight_initialization:\n  global:\n    default_method: he_normal\n"


@functools.cache
def _page() -> str:
    weight = torch.linspace(-1, 1, 64).reshape(8, 8)
    layer = WeightLayer("0.weight", [8, 8], 8, 8, 0.0, float(weight.std()), -1.0, 1.0, 0.5, 0.9, [],
                        histogram(weight))
    return render_html(Diagnosis("m", 64, 0.9, [layer]))


def _write_html(path: Path) -> Path:
    """``write_html`` with the (slow, matplotlib) rendering done once per session: the write is under test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(html, "render_html", lambda *args, **kwargs: _page())
        return write_html(path, None)


def test_write_html_writes_the_rendered_page(tmp_path: Path) -> None:
    assert _write_html(tmp_path / "r.html").read_text(encoding="utf-8") == _page()


def _writers(factory: Path) -> dict[str, tuple[str, Callable[[Path], object]]]:
    """name -> (file name, write(path)): every public writer of the library."""
    return {
        "cli init .pt": ("w.pt", lambda p: _cli("init", f"{factory}:plain", "--method", "zeros", "--out", str(p))),
        "cli init .safetensors": ("w.safetensors", lambda p: _cli("init", f"{factory}:plain", "--method", "zeros",
                                                                  "--out", str(p))),
        "write_html": ("r.html", _write_html),
        "dump_config": ("c.yaml", lambda p: dump_config(load_config(_config_text()), p)),
        "init_to_safetensors": ("s.safetensors", lambda p: init_to_safetensors(_meta_net(), p, "normal", seed=0)),
    }


WRITERS = ["cli init .pt", "cli init .safetensors", "write_html", "dump_config", "init_to_safetensors"]


@pytest.mark.parametrize("writer", WRITERS)
def test_writer_replaces_the_file_and_leaves_no_temporary(writer: str, factory: Path, tmp_path: Path) -> None:
    name, write = _writers(factory)[writer]
    out = tmp_path / "out" / name
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    out.chmod(0o640)
    write(out)
    assert out.read_bytes() != PREVIOUS
    assert os.listdir(out.parent) == [name]
    assert out.stat().st_mode & 0o777 == 0o640  # an existing file keeps its permissions


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("point", ["fsync", "replace"])
@pytest.mark.parametrize("writer", WRITERS)
def test_failure_while_finishing_the_file_leaves_the_folder_as_it_was(
    writer: str, point: str, failure: type[BaseException], factory: Path, tmp_path: Path
) -> None:
    name, write = _writers(factory)[writer]
    out = tmp_path / "out" / name
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    before = folder_snapshot(tmp_path / "out")
    _fail_write(write, out, os, point, failure, 1)
    assert folder_snapshot(tmp_path / "out") == before


def _fail_write(write: Callable[[Path], object], out: Path, owner: object, attribute: str,
                failure: type[BaseException], at: int) -> None:
    """Write with call ``at`` of ``owner.attribute`` failing: the writer raises it, or (the CLI on Ctrl-C)
    reports it with a non-zero exit status."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIGHT_INIT_DEBUG", "1")  # the CLI re-raises instead of printing
        with inject(owner, attribute, failure, at) as counter:
            try:
                status = write(out)
            except BaseException as error:  # KeyboardInterrupt included: it is what is tested
                assert_raised_injected(error, counter)
                return
    assert counter.raised is not None and isinstance(status, int) and status != 0


@pytest.mark.parametrize("writer", WRITERS)
def test_failed_write_into_a_new_folder_creates_no_folder(writer: str, factory: Path, tmp_path: Path) -> None:
    name, write = _writers(factory)[writer]
    out = tmp_path / "new" / "deeper" / name
    before = folder_snapshot(tmp_path)
    _fail_write(write, out, os, "replace", KeyboardInterrupt, 1)
    assert folder_snapshot(tmp_path) == before


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("owner,attribute", [(torch, "save"), (Path, "write_text")])
def test_failure_part_way_through_the_data_leaves_the_target(
    owner: object, attribute: str, failure: type[BaseException], factory: Path, tmp_path: Path
) -> None:
    """The writer dies after some bytes are on disk (torch.save / text writes fail after writing)."""
    writers = _writers(factory)
    cases = {"save": ["cli init .pt"], "write_text": ["write_html", "dump_config"]}[attribute]
    original = getattr(owner, attribute)

    def half_then_fail(target: object, *args: object, **kwargs: object) -> None:
        original(target, *args, **kwargs)
        path = Path(args[0]) if attribute == "save" else Path(str(target))  # type: ignore[arg-type]
        with open(path, "r+b") as f:
            f.truncate(max(1, path.stat().st_size // 2))
        raise failure("disk gone")

    for writer in cases:
        name, write = writers[writer]
        out = tmp_path / name
        out.write_bytes(PREVIOUS)
        before = folder_snapshot(tmp_path)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WEIGHT_INIT_DEBUG", "1")
            patch.setattr(owner, attribute, half_then_fail)
            try:
                status = write(out)
            except failure:
                pass
            else:
                assert status == 1  # the CLI's answer to Ctrl-C
        assert folder_snapshot(tmp_path) == before


@pytest.mark.parametrize("failure", FAILURES)
def test_streaming_failure_at_every_tensor_write_leaves_the_target(failure: type[BaseException],
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "s.safetensors"
    out.write_bytes(PREVIOUS)
    writes = count_calls(streaming, "_write", lambda: init_to_safetensors(_meta_net(), tmp_path / "x", seed=0))
    (tmp_path / "x").unlink()
    assert writes >= 5
    before = folder_snapshot(tmp_path)
    for at in range(1, writes + 1):
        run_failing(lambda: init_to_safetensors(_meta_net(), out, "normal", seed=0), streaming, "_write", failure, at)
        assert folder_snapshot(tmp_path) == before, at


def test_init_to_safetensors_leaves_an_unrelated_partial_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "s.safetensors"
    unrelated = tmp_path / "s.safetensors.partial"
    unrelated.write_bytes(PREVIOUS)
    init_to_safetensors(_meta_net(), out, "normal", seed=0)
    assert unrelated.read_bytes() == PREVIOUS
    with pytest.raises(ValueError):
        init_to_safetensors(_meta_net(), out, "normal", std=-1.0, seed=0)
    assert unrelated.read_bytes() == PREVIOUS
    assert sorted(os.listdir(tmp_path)) == ["s.safetensors", "s.safetensors.partial"]


def test_two_writers_of_one_file_use_distinct_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "f.txt"
    with _io.atomic_path(out) as first, _io.atomic_path(out) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_text("first")
        second.write_text("second")
    assert out.read_text() == "first"  # the outer block finishes last
    assert os.listdir(tmp_path) == ["f.txt"]


def test_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    _io.write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_cli_init_out_keeps_the_previous_file_when_the_state_cannot_be_pickled(
    factory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = tmp_path / "previous.pt"
    torch.save({"w": torch.arange(3)}, previous)
    before = folder_snapshot(tmp_path)
    status = _cli("init", f"{factory}:build", "--method", "zeros", "--out", str(previous))
    assert status != 0
    assert folder_snapshot(tmp_path) == before
    assert torch.equal(torch.load(previous, weights_only=True)["w"], torch.arange(3))
    with pytest.raises((AttributeError, pickle.PicklingError)):
        torch.save(_unpicklable_state(factory), tmp_path / "direct.pt")  # the failure is real, not injected
    capsys.readouterr()


def _unpicklable_state(factory: Path) -> dict[str, object]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("factory_models", factory)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.build().state_dict())


def test_injected_counter_sees_every_call(tmp_path: Path) -> None:
    """The harness itself: a patched callable is counted and fails at exactly the requested call."""
    with inject(os, "replace", RuntimeError, 2) as counter:
        _io.write_text(tmp_path / "a", "a")
        with pytest.raises(RuntimeError):
            _io.write_text(tmp_path / "b", "b")
    assert counter.calls == 2 and (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_new_file_gets_the_permissions_open_would_give(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        _io.write_text(tmp_path / "new.txt", "x")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o640
