//! The repo's copy of the fixtures (`shared/tests/fixtures/`) equals the team's folder
//! (`../shared/fixtures`) whenever that folder is beside the workspace: the same files,
//! byte for byte. When this fails the team has updated its fixtures: copy them again
//! (`cp -r ../shared/fixtures/. shared/tests/fixtures/`) and commit.
//!
//! Every team fixture is copied, none is left out on purpose: the tests read all of
//! them but `book/` (`functions.json` and its README), copied for the book-function
//! tests to come. The team's `../shared/data/` (MATH-500) is not a fixture and never
//! copied (license, size). The copy's `README.md` is the repo's own description of the
//! fixtures, not a copy.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use shared::fixtures::{repo_fixtures_dir, team_fixtures_dir};

/// The repo's own files in the copy, not compared with the team's folder.
const REPO_ONLY: &[&str] = &["README.md"];

/// Every file under `dir`, as paths relative to `root` with `/` separators.
fn files_under(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(root, &path, found);
        } else {
            let relative = path.strip_prefix(root).unwrap();
            let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
            found.insert(parts.join("/"));
        }
    }
}

/// The files of a fixtures folder.
fn files(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    files_under(root, root, &mut found);
    found
}

/// How the copy `copy` differs from the team's folder `team`: one line per file
/// missing from the copy, extra in it, or with other bytes. Empty when they are equal.
fn differences(team: &Path, copy: &Path) -> Vec<String> {
    let (team_files, mut copy_files) = (files(team), files(copy));
    for own in REPO_ONLY {
        copy_files.remove(*own);
    }
    let mut out: Vec<String> = team_files
        .difference(&copy_files)
        .map(|f| format!("missing from the copy: {f}"))
        .collect();
    out.extend(
        copy_files
            .difference(&team_files)
            .map(|f| format!("not in the team's folder: {f}")),
    );
    out.extend(
        team_files
            .intersection(&copy_files)
            .filter(|f| fs::read(team.join(f)).unwrap() != fs::read(copy.join(f)).unwrap())
            .map(|f| format!("different bytes: {f}")),
    );
    out
}

#[test]
fn the_repo_copy_equals_the_team_fixtures() {
    let (team, copy) = (team_fixtures_dir(), repo_fixtures_dir());
    if !team.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing (CI is set: ../shared must be beside the repo)",
            team.display()
        );
        shared::fixtures::report_not_run(&format!(
            "{} is not beside the workspace: nothing to compare the repo's copy with",
            team.display()
        ));
        return;
    }
    let diffs = differences(&team, &copy);
    assert!(
        diffs.is_empty(),
        "the repo's fixtures differ from {} (copy them again: cp -r ../shared/fixtures/. shared/tests/fixtures/):\n{}",
        team.display(),
        diffs.join("\n")
    );
}

#[test]
fn the_repo_copy_has_its_readme_and_no_team_data() {
    let copy = repo_fixtures_dir();
    let found = files(&copy);
    for own in REPO_ONLY {
        assert!(
            found.contains(*own),
            "{own} is missing from {}",
            copy.display()
        );
    }
    assert!(
        found.iter().all(|f| !f.ends_with("math500_test.json")),
        "MATH-500 must never be in the repo: {found:?}"
    );
}

#[test]
fn differences_names_missing_extra_and_changed_files() {
    let root = std::env::temp_dir().join(format!("rfs-fixtures-copy-{}", std::process::id()));
    let (team, copy) = (root.join("team"), root.join("copy"));
    for dir in [&team, &copy] {
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("same.json"), "{}").unwrap();
        fs::write(dir.join("README.md"), "ignored when only in the copy").unwrap();
    }
    fs::remove_file(team.join("README.md")).unwrap();
    assert!(differences(&team, &copy).is_empty());
    fs::write(team.join("sub/new.json"), "[]").unwrap();
    fs::write(copy.join("stale.json"), "[]").unwrap();
    fs::write(team.join("changed.bin"), [1u8, 2]).unwrap();
    fs::write(copy.join("changed.bin"), [1u8, 3]).unwrap();
    assert_eq!(
        differences(&team, &copy),
        [
            "missing from the copy: sub/new.json",
            "not in the team's folder: stale.json",
            "different bytes: changed.bin",
        ]
    );
    fs::remove_dir_all(&root).unwrap();
}
