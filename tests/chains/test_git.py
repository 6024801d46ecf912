from __future__ import annotations

import subprocess

import pytest

from chains import git


def run(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    run(path, "init", "-q", "-b", "main")
    (path / "README").write_text("hi\n")
    run(path, "add", "-A")
    run(path, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-q", "-m", "init")
    return path


def test_it_commits_changed_files(repo, tmp_path, monkeypatch):
    # no global identity: the Operator fallback identity is used
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "empty-gitconfig"))
    (repo / "new.txt").write_text("x\n")
    out = git.commit_session(str(repo), git.commit_message(2, "Added new.txt"))
    assert out.sha and out.error is None and not out.pushed
    assert run(repo, "log", "-1", "--format=%s").strip() == "operator: chain 2 — Added new.txt"
    assert run(repo, "log", "-1", "--format=%an").strip() == "Operator"
    assert run(repo, "status", "--porcelain") == ""


def test_it_uses_the_repositorys_identity(repo):
    run(repo, "config", "user.name", "Dev")
    run(repo, "config", "user.email", "dev@x")
    (repo / "a").write_text("1")
    git.commit_session(str(repo), "m")
    assert run(repo, "log", "-1", "--format=%an").strip() == "Dev"


def test_it_does_nothing_without_changes(repo):
    out = git.commit_session(str(repo), "m")
    assert out.sha is None and out.error is None
    assert run(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_it_ignores_a_directory_that_is_not_a_repository(tmp_path):
    (tmp_path / "f").write_text("x")
    assert git.commit_session(str(tmp_path), "m").sha is None
    assert git.commit_session(None, "m").sha is None
    assert not git.is_repository("/nonexistent/dir")


def test_it_pushes_only_when_asked(repo, tmp_path):
    remote = tmp_path / "remote.git"
    run(tmp_path, "init", "-q", "--bare", str(remote))
    run(repo, "remote", "add", "origin", str(remote))
    run(repo, "push", "-q", "-u", "origin", "main")
    (repo / "b").write_text("1")
    out = git.commit_session(str(repo), "no push")
    assert not out.pushed
    assert run(remote, "log", "-1", "--format=%s", "main").strip() == "init"
    (repo / "c").write_text("1")
    out = git.commit_session(str(repo), "with push", push=True)
    assert out.pushed and out.error is None
    assert run(remote, "log", "-1", "--format=%s", "main").strip() == "with push"


def test_it_reports_a_failed_push_without_raising(repo):
    (repo / "b").write_text("1")
    out = git.commit_session(str(repo), "m", push=True)
    assert out.sha and not out.pushed and out.error.startswith("push failed")
