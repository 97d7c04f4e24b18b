"""Process identity from launcher environments (torch.distributed is covered with real gloo)."""

from __future__ import annotations

import pytest

from ckpt_lint import runtime as rt


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_single_process() -> None:
    assert rt.process_info() == rt.ProcessInfo(0, 1, 0, 0, "single")
    assert rt.is_main_process() and rt.is_local_main_process() and rt.is_deleting_process()


def test_torchrun_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, RANK="5", WORLD_SIZE="16", LOCAL_RANK="1", GROUP_RANK="2")
    assert rt.process_info() == rt.ProcessInfo(5, 16, 1, 2, "env:RANK")
    assert not rt.is_main_process() and not rt.is_local_main_process()


def test_node_rank_from_local_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, RANK="13", WORLD_SIZE="16", LOCAL_RANK="5", LOCAL_WORLD_SIZE="8")
    assert rt.process_info() == rt.ProcessInfo(13, 16, 5, 1, "env:RANK")


@pytest.mark.parametrize(
    ("rank_var", "size_var", "local_var"),
    [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
        ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
        ("PMIX_RANK", "PMIX_SIZE", "SLURM_LOCALID"),
        ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "LOCAL_RANK"),
        ("JSM_NAMESPACE_RANK", "JSM_NAMESPACE_SIZE", "LOCAL_RANK"),
    ],
)
def test_mpi_style_variables(
    monkeypatch: pytest.MonkeyPatch, rank_var: str, size_var: str, local_var: str
) -> None:
    _env(monkeypatch, **{rank_var: "3", size_var: "4", local_var: "1"})
    info = rt.process_info()
    assert (info.rank, info.world_size, info.local_rank, info.source) == (
        3,
        4,
        1,
        f"env:{rank_var}",
    )


def test_rank_wins_over_mpi_and_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        RANK="6",
        WORLD_SIZE="8",
        LOCAL_RANK="2",
        OMPI_COMM_WORLD_RANK="0",
        SLURM_PROCID="1",
        SLURM_NTASKS="2",
    )
    assert rt.process_info().source == "env:RANK"
    assert rt.process_info().rank == 6


def test_slurm_procid_with_several_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, SLURM_PROCID="3", SLURM_NTASKS="8", SLURM_LOCALID="3", SLURM_NODEID="0")
    assert rt.process_info() == rt.ProcessInfo(3, 8, 3, 0, "env:SLURM_PROCID")


def test_slurm_procid_single_task_without_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, SLURM_PROCID="0", SLURM_NTASKS="1")
    assert rt.process_info().source == "env:SLURM_PROCID"


def test_sbatch_plus_torchrun_ignores_slurm_procid(monkeypatch: pytest.MonkeyPatch) -> None:
    # one srun task per node, torchrun workers inside: SLURM_PROCID is the node index
    _env(monkeypatch, SLURM_PROCID="1", SLURM_NTASKS="1", LOCAL_RANK="0")
    info = rt.process_info()
    assert info.source != "env:SLURM_PROCID"
    assert info.rank == 0


def test_local_rank_alone_never_claims_main(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, LOCAL_RANK="3")
    info = rt.process_info()
    assert info.rank == 3 and info.local_rank == 3 and info.source == "env:LOCAL_RANK"
    assert not rt.is_main_process() and not rt.is_deleting_process()


def test_local_rank_sources_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, RANK="9", WORLD_SIZE="16", SLURM_LOCALID="4")
    assert rt.process_info().local_rank == 4
    _env(monkeypatch, MPI_LOCALRANKID="3")
    assert rt.process_info().local_rank == 3
    _env(monkeypatch, OMPI_COMM_WORLD_LOCAL_RANK="2")
    assert rt.process_info().local_rank == 2
    _env(monkeypatch, LOCAL_RANK="1")
    assert rt.process_info().local_rank == 1


def test_missing_world_size_is_at_least_rank_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, RANK="2")
    assert rt.process_info().world_size == 3


def test_malformed_rank_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, RANK="zero")
    with pytest.raises(RuntimeError, match="RANK='zero'"):
        rt.process_info()


def test_recomputed_when_the_environment_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rt.is_main_process()
    _env(monkeypatch, RANK="1", WORLD_SIZE="2")
    assert not rt.is_main_process()


def test_deleting_process_follows_shared_fs_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, RANK="8", WORLD_SIZE="16", LOCAL_RANK="0")
    assert rt.is_local_main_process() and not rt.is_main_process()
    assert not rt.is_deleting_process()
    assert rt.is_deleting_process(shared_filesystem=False)
    _env(monkeypatch, CKPT_LINT_SHARED_FS="false")
    assert rt.is_deleting_process()
    assert not rt.is_deleting_process(shared_filesystem=True)
    _env(monkeypatch, RANK="9", LOCAL_RANK="1")
    assert not rt.is_deleting_process()
