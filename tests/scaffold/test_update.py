"""Update (3-way merge against the recorded render) and diff."""

from __future__ import annotations

from pathlib import Path

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.output import read_manifest, snapshot_path, write_result
from shared.scaffold.render import RenderOptions, TemplateSource, render
from shared.scaffold.update import diff, merge_text, update


def _rendered(tmp_path: Path, source: TemplateSource) -> Path:
    out = tmp_path / "out"
    write_result(render(source, {"name": "shop"}, RenderOptions(seed="s1")), out, source)
    return out


def test_update_without_user_changes_takes_the_new_version(tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    result = update(out, "2.0.0", catalog=TemplateCatalog(sources=[v1, v2]))
    assert result.conflicts == []
    assert (out / "app.py").read_text() == "line 1 (v2)\nline 2\nline 3\nline 4\nline 5 (v2)\n"
    assert (out / "new.txt").is_file() and not (out / "old.txt").exists()
    assert (out / "logo.png").read_bytes() == b"\x89PNG\x00v2"
    manifest = read_manifest(out)
    assert manifest["template"]["version"] == "2.0.0"
    assert (out / snapshot_path(v2.content_hash)).is_file()
    assert not (out / snapshot_path(v1.content_hash)).exists()


def test_user_edits_that_do_not_overlap_merge_cleanly(tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "app.py").write_text("line 1\nline 2\nline 3 (mine)\nline 4\nline 5\n")
    result = update(out, "2.0.0", catalog=TemplateCatalog(sources=[v1, v2]))
    assert result.conflicts == []
    assert (out / "app.py").read_text() == "line 1 (v2)\nline 2\nline 3 (mine)\nline 4\nline 5 (v2)\n"


def test_overlapping_edits_get_inline_markers_and_a_conflict_report(tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "app.py").write_text("line 1 (mine)\nline 2\nline 3\nline 4\nline 5 (mine)\n")
    result = update(out, "2.0.0", catalog=TemplateCatalog(sources=[v1, v2]))
    (conflict,) = result.conflicts
    assert (conflict.path, conflict.kind, conflict.hunks) == ("app.py", "text", 2)
    text = (out / "app.py").read_text()
    assert "<<<<<<< ours\nline 1 (mine)\n=======\nline 1 (v2)\n>>>>>>> theirs\n" in text
    assert result.report()["conflicts"][0]["hunks"] == 2


def test_files_the_user_deleted_stay_deleted(tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "shop.md").unlink()
    result = update(out, "2.0.0", catalog=TemplateCatalog(sources=[v1, v2]))
    assert not (out / "shop.md").exists()
    assert "shop.md" in result.plan.kept_deleted


def test_a_binary_conflict_keeps_the_users_file_and_writes_theirs_beside_it(tmp_path: Path,
                                                                           library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "logo.png").write_bytes(b"\x89PNG\x00mine")
    result = update(out, "2.0.0", catalog=TemplateCatalog(sources=[v1, v2]))
    assert (out / "logo.png").read_bytes() == b"\x89PNG\x00mine"
    assert (out / "logo.theirs.png").read_bytes() == b"\x89PNG\x00v2"
    assert [(c.path, c.kind, c.theirs_path) for c in result.conflicts] == [
        ("logo.png", "binary", "logo.theirs.png")]


def test_a_file_removed_upstream_but_changed_by_the_user_is_kept(tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "old.txt").write_text("I still need this\n")
    result = update(out, "2.0.0", catalog=TemplateCatalog(sources=[v1, v2]))
    assert (out / "old.txt").read_text() == "I still need this\n"
    assert result.plan.kept_modified == ["old.txt"]


def test_update_with_new_parameters_rerenders_with_the_same_seed(tmp_path: Path, library_v1_v2) -> None:
    v1, _ = library_v1_v2
    out = _rendered(tmp_path, v1)
    before = read_manifest(out)
    update(out, params={"name": "store"})
    after = read_manifest(out)
    assert (out / "store.md").is_file() and not (out / "shop.md").exists()
    assert after["seed"] == before["seed"] and after["inputParameters"]["name"] == "store"


def test_update_rebuilds_the_old_version_from_the_snapshot_when_it_left_the_catalog(
        tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "config.ini").write_text("[a]\nx=2\n")
    result = update(out, catalog=TemplateCatalog(sources=[v2]))
    assert result.to_version == "2.0.0"
    assert (out / "config.ini").read_text() == "[a]\nx=2\n"


def test_diff_reports_user_changes_and_what_a_rerender_would_change(tmp_path: Path, library_v1_v2) -> None:
    v1, v2 = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / "config.ini").write_text("[a]\nx=2\n")
    (out / "shop.md").unlink()
    report = diff(out, catalog=TemplateCatalog(sources=[v1, v2]))
    assert report.user_changes == {"shop.md": "deleted", "config.ini": "modified"}
    assert report.upstream_changes == {"shop.md": "modified", "app.py": "modified", "logo.png": "modified",
                                       "new.txt": "added", "old.txt": "removed"}
    assert "+x=2" in report.user_patch and "Binary file logo.png differs" in report.upstream_patch


def test_merge_text_without_a_final_newline_keeps_markers_on_their_own_lines() -> None:
    merged, hunks = merge_text(b"a", b"b", b"c")
    assert hunks == 1
    assert merged == b"<<<<<<< ours\nb\n=======\nc\n>>>>>>> theirs\n"


def test_update_without_the_template_snapshot_says_what_is_missing(tmp_path: Path, library_v1_v2) -> None:
    import pytest

    from shared.scaffold.errors import UpdateError

    v1, _ = library_v1_v2
    out = _rendered(tmp_path, v1)
    (out / snapshot_path(v1.content_hash)).unlink()
    with pytest.raises(UpdateError, match=r"template snapshot sha256:[0-9a-f]+ is missing"):
        update(out)
