//! Corrupt and missing model files: every reader must return an error that names
//! the file and the problem, never panic and never allocate what a header claims
//! before checking it against the file's size.

mod io_support;

use io_support::{
    gguf_file, gguf_string, safetensors_file, safetensors_raw, small_gguf, small_kvs, small_tensor,
    TempDir, TensorInfo,
};
use shared::io::{GgufFile, SafeTensors, SafetensorsModel};
use std::path::Path;

/// Assert that `result` is an error whose message names `path` and contains every one of `needles`.
fn assert_error<T>(result: shared::Result<T>, path: &Path, needles: &[&str]) {
    let Err(err) = result else {
        panic!("{} opened without error", path.display())
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    for needle in needles {
        assert!(msg.contains(needle), "message lacks {needle:?}: {msg}");
    }
}

/// Assert that `result` is an I/O "not found" error naming `path`.
fn assert_not_found<T>(result: shared::Result<T>, path: &Path) {
    match result {
        Err(shared::Error::Io { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{source}");
        }
        Err(other) => panic!(
            "expected a not-found error for {}, got {other}",
            path.display()
        ),
        Ok(_) => panic!("{} opened without error", path.display()),
    }
}

fn open_gguf(dir: &TempDir, name: &str, bytes: &[u8], needles: &[&str]) {
    let path = dir.write(name, bytes);
    assert_error(GgufFile::open(&path), &path, needles);
}

#[test]
fn gguf_valid_small_file_opens() {
    let dir = TempDir::new("gguf-ok");
    let path = dir.write("ok.gguf", &small_gguf());
    let gguf = GgufFile::open(&path).unwrap();
    assert_eq!(gguf.get_u32("llama.block_count").unwrap(), 2);
    assert_eq!(gguf.tensor_info("w").unwrap().shape(), [2, 4]);
    let expected: Vec<f32> = (0..8).map(|x| x as f32).collect();
    assert_eq!(gguf.tensor_f32("w").unwrap(), expected);
}

#[test]
fn gguf_wrong_magic_and_version() {
    let dir = TempDir::new("gguf-magic");
    let mut bytes = small_gguf();
    bytes[..4].copy_from_slice(b"GGML");
    open_gguf(
        &dir,
        "magic.gguf",
        &bytes,
        &["wrong magic", "not a GGUF file"],
    );
    let mut bytes = small_gguf();
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    open_gguf(
        &dir,
        "v1.gguf",
        &bytes,
        &["GGUF version 1", "supports versions 2 and 3"],
    );
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    open_gguf(&dir, "be.gguf", &bytes, &["big-endian"]);
    open_gguf(
        &dir,
        "safetensors.gguf",
        &safetensors_file(&[]),
        &["wrong magic"],
    );
}

#[test]
fn gguf_truncated_anywhere_is_an_error() {
    let dir = TempDir::new("gguf-trunc");
    let bytes = small_gguf();
    for cut in [0, 3, 7, 20, 30, 60, 100, bytes.len() - 1] {
        let path = dir.write(&format!("cut{cut}.gguf"), &bytes[..cut]);
        let msg = match GgufFile::open(&path) {
            Ok(_) => panic!("{cut}-byte prefix opened"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains("truncated")
                || msg.contains("cannot fit")
                || msg.contains("out of bounds"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn gguf_huge_counts_and_lengths_are_checked_before_allocating() {
    let dir = TempDir::new("gguf-huge");
    let mut bytes = small_gguf();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    open_gguf(&dir, "tensors.gguf", &bytes, &["tensor infos cannot fit"]);
    let mut bytes = small_gguf();
    bytes[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    open_gguf(&dir, "kvs.gguf", &bytes, &["metadata pairs cannot fit"]);
    let mut bytes = small_gguf();
    bytes[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    open_gguf(&dir, "key.gguf", &bytes, &["metadata key #0", "cannot fit"]);

    let mut huge_array = 4u32.to_le_bytes().to_vec();
    huge_array.extend((1u64 << 61).to_le_bytes());
    let file = gguf_file(3, &[("a", 9, huge_array)], &[], &[]);
    open_gguf(
        &dir,
        "array.gguf",
        &file,
        &["metadata key `a`", "array elements cannot fit"],
    );

    let mut huge_string = (1u64 << 50).to_le_bytes().to_vec();
    huge_string.extend(b"abc");
    let file = gguf_file(3, &[("s", 8, huge_string)], &[], &[]);
    open_gguf(
        &dir,
        "string.gguf",
        &file,
        &["metadata key `s`", "cannot fit"],
    );
}

#[test]
fn gguf_bad_values() {
    let dir = TempDir::new("gguf-values");
    let file = gguf_file(3, &[("x", 13, vec![0; 8])], &[], &[]);
    open_gguf(
        &dir,
        "type.gguf",
        &file,
        &["metadata key `x`", "unknown value type 13"],
    );
    let file = gguf_file(3, &[("b", 7, vec![2])], &[], &[]);
    open_gguf(
        &dir,
        "bool.gguf",
        &file,
        &["metadata key `b`", "bool byte is 2"],
    );
    let file = gguf_file(
        3,
        &[("s", 8, gguf_string("ok")), ("s", 8, gguf_string("again"))],
        &[],
        &[],
    );
    open_gguf(&dir, "dup.gguf", &file, &["`s` appears twice"]);
    let mut bad_utf8 = 2u64.to_le_bytes().to_vec();
    bad_utf8.extend([0xC3, 0x28]);
    let file = gguf_file(3, &[("s", 8, bad_utf8)], &[], &[]);
    open_gguf(&dir, "utf8.gguf", &file, &["not valid UTF-8"]);
    let mut nested = 9u32.to_le_bytes().to_vec();
    for _ in 0..20 {
        nested.extend(1u64.to_le_bytes());
        nested.extend(9u32.to_le_bytes());
    }
    let file = gguf_file(3, &[("deep", 9, nested)], &[], &[]);
    open_gguf(&dir, "deep.gguf", &file, &["nested more than"]);
}

#[test]
fn gguf_bad_tensor_infos() {
    let dir = TempDir::new("gguf-tensors");
    let data = vec![0u8; 32];
    let with = |t: TensorInfo| gguf_file(3, &small_kvs(), &[t], &data);

    let far = TensorInfo {
        offset: 1 << 20,
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "oob.gguf",
        &with(far),
        &["tensor `w`", "out of bounds"],
    );
    let big = TensorInfo {
        dims: vec![4, 100],
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "big.gguf",
        &with(big),
        &["tensor `w`", "out of bounds"],
    );
    let overflow = TensorInfo {
        dims: vec![1 << 40, 1 << 40],
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "overflow.gguf",
        &with(overflow),
        &["tensor `w`", "overflows"],
    );
    let bytes_overflow = TensorInfo {
        dims: vec![1 << 31, 1 << 31],
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "bytes.gguf",
        &with(bytes_overflow),
        &["tensor `w`", "overflows"],
    );
    let unknown = TensorInfo {
        ggml_type: 15,
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "q8k.gguf",
        &with(unknown),
        &[
            "tensor `w`",
            "ggml type 15 (Q8_K)",
            "supported: F32, F16, Q4_0",
        ],
    );
    let unknown = TensorInfo {
        ggml_type: 1234,
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "unknown.gguf",
        &with(unknown),
        &["tensor `w`", "ggml type 1234 (unknown)"],
    );
    let partial_block = TensorInfo {
        dims: vec![16, 2],
        ggml_type: 8,
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "block.gguf",
        &with(partial_block),
        &["tensor `w`", "whole number of Q8_0 blocks"],
    );
    let unaligned = TensorInfo {
        offset: 4,
        dims: vec![4],
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "align.gguf",
        &with(unaligned),
        &["tensor `w`", "not a multiple of the alignment 32"],
    );
    let five_dims = TensorInfo {
        dims: vec![1; 5],
        ..small_tensor()
    };
    open_gguf(
        &dir,
        "dims.gguf",
        &with(five_dims),
        &["tensor `w`", "5 dimensions"],
    );
    let twice = gguf_file(3, &[], &[small_tensor(), small_tensor()], &data);
    open_gguf(&dir, "twice.gguf", &twice, &["tensor `w` appears twice"]);
    let mut kvs = small_kvs();
    kvs.push(("general.alignment", 4, 24u32.to_le_bytes().to_vec()));
    open_gguf(
        &dir,
        "alignment.gguf",
        &gguf_file(3, &kvs, &[], &[]),
        &["general.alignment", "power of two"],
    );
}

#[test]
fn gguf_missing_file_and_folder() {
    let dir = TempDir::new("gguf-missing");
    let missing = dir.path().join("nope.gguf");
    assert_not_found(GgufFile::open(&missing), &missing);
    assert_error(
        GgufFile::open(dir.path()),
        dir.path(),
        &["not a regular file"],
    );
    let gguf = GgufFile::open(dir.write("ok.gguf", &small_gguf())).unwrap();
    assert_error(
        gguf.tensor_f32("nope"),
        gguf.path(),
        &["no tensor named `nope`"],
    );
}

fn open_st(dir: &TempDir, name: &str, bytes: &[u8], needles: &[&str]) {
    let path = dir.write(name, bytes);
    assert_error(SafeTensors::open(&path), &path, needles);
}

/// 2 × 3 f32 values as bytes.
fn six_floats() -> Vec<u8> {
    (0..6).flat_map(|x| (x as f32).to_le_bytes()).collect()
}

#[test]
fn safetensors_valid_small_file_opens() {
    let dir = TempDir::new("st-ok");
    let path = dir.write(
        "ok.safetensors",
        &safetensors_file(&[("w", "F32", &[2, 3], &six_floats())]),
    );
    let file = SafeTensors::open(&path).unwrap();
    assert_eq!(file.info("w").unwrap().shape, [2, 3]);
    assert_eq!(
        file.tensor_f32("w").unwrap(),
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
}

#[test]
fn safetensors_not_a_safetensors_file() {
    let dir = TempDir::new("st-magic");
    open_st(
        &dir,
        "gguf.safetensors",
        &small_gguf(),
        &[
            "header length",
            "runs past the end",
            "not a safetensors file",
        ],
    );
    open_st(&dir, "empty.safetensors", &[], &["truncated", "0 bytes"]);
    open_st(&dir, "short.safetensors", &[1, 0, 0], &["truncated"]);
    let mut bytes = safetensors_file(&[("w", "F32", &[2, 3], &six_floats())]);
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    open_st(
        &dir,
        "huge.safetensors",
        &bytes,
        &["header length 18446744073709551615", "runs past the end"],
    );
    open_st(
        &dir,
        "json.safetensors",
        &safetensors_raw("{\"w\": [", &[]),
        &["not a valid JSON object"],
    );
    open_st(
        &dir,
        "array.safetensors",
        &safetensors_raw("[1, 2]", &[]),
        &["not a valid JSON object"],
    );
}

#[test]
fn safetensors_bad_entries() {
    let dir = TempDir::new("st-entries");
    let data = six_floats();
    let entry = |e: &str| safetensors_raw(&format!("{{\"w\": {e}}}"), &data);
    open_st(
        &dir,
        "oob.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 48]}"#),
        &["tensor `w`", "out of bounds"],
    );
    open_st(
        &dir,
        "reversed.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}"#),
        &["tensor `w`", "out of bounds"],
    );
    open_st(
        &dir,
        "size.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 24]}"#),
        &["tensor `w`", "hold 24 bytes", "needs 16"],
    );
    open_st(
        &dir,
        "overflow.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 24]}"#),
        &["tensor `w`", "overflows"],
    );
    open_st(
        &dir,
        "bytes.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 24]}"#),
        &["tensor `w`", "overflows"],
    );
    open_st(
        &dir,
        "dtype.safetensors",
        &entry(r#"{"dtype": "I64", "shape": [3], "data_offsets": [0, 24]}"#),
        &["tensor `w`", "dtype I64", "supports F32, F16 and BF16"],
    );
    open_st(
        &dir,
        "shape.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [-2, 3], "data_offsets": [0, 24]}"#),
        &["tensor `w`", "`shape` is not a list of sizes"],
    );
    open_st(
        &dir,
        "offsets.safetensors",
        &entry(r#"{"dtype": "F32", "shape": [2, 3], "data_offsets": [0]}"#),
        &["tensor `w`", "`data_offsets` is not a pair"],
    );
    open_st(
        &dir,
        "nodtype.safetensors",
        &entry(r#"{"shape": [2, 3]}"#),
        &["tensor `w`", "missing string `dtype`"],
    );
}

#[test]
fn safetensors_names_and_ranges_must_tile_the_data_once() {
    let dir = TempDir::new("st-tiling");
    let data = six_floats(); // 24 bytes
    let f32s = |shape: &str, begin: usize, end: usize| {
        format!(r#"{{"dtype": "F32", "shape": {shape}, "data_offsets": [{begin}, {end}]}}"#)
    };
    let file = |header: String| safetensors_raw(&header, &data);
    open_st(
        &dir,
        "twice.safetensors",
        &file(format!(
            r#"{{"w": {}, "w": {}}}"#,
            f32s("[3]", 0, 12),
            f32s("[3]", 12, 24)
        )),
        &["tensor `w` appears twice"],
    );
    open_st(
        &dir,
        "overlap.safetensors",
        &file(format!(
            r#"{{"a": {}, "b": {}}}"#,
            f32s("[4]", 0, 16),
            f32s("[4]", 8, 24)
        )),
        &[
            "tensor `b`",
            "overlap the tensor before it (which ends at 16)",
        ],
    );
    open_st(
        &dir,
        "hole.safetensors",
        &file(format!(
            r#"{{"a": {}, "b": {}}}"#,
            f32s("[2]", 0, 8),
            f32s("[2]", 16, 24)
        )),
        &["bytes 8..16 of the data buffer belong to no tensor"],
    );
    open_st(
        &dir,
        "tail.safetensors",
        &file(format!(r#"{{"a": {}}}"#, f32s("[4]", 0, 16))),
        &["8 bytes after the last tensor"],
    );
    // The same bytes tiled properly open, in any header order.
    let good = file(format!(
        r#"{{"b": {}, "a": {}}}"#,
        f32s("[4]", 8, 24),
        f32s("[2]", 0, 8)
    ));
    assert!(SafeTensors::open(dir.write("good.safetensors", &good)).is_ok());
}

#[test]
fn safetensors_truncated_data() {
    let dir = TempDir::new("st-trunc");
    let bytes = safetensors_file(&[("w", "F32", &[2, 3], &six_floats())]);
    open_st(
        &dir,
        "data.safetensors",
        &bytes[..bytes.len() - 1],
        &["tensor `w`", "out of bounds"],
    );
    open_st(
        &dir,
        "header.safetensors",
        &bytes[..20],
        &["runs past the end"],
    );
}

#[test]
fn safetensors_missing_file_and_bad_folders() {
    let dir = TempDir::new("st-missing");
    let missing = dir.path().join("nope.safetensors");
    assert_not_found(SafeTensors::open(&missing), &missing);
    let no_dir = dir.path().join("no-such-folder");
    assert_error(
        SafetensorsModel::open_folder(&no_dir),
        &no_dir,
        &["No such file"],
    );
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        dir.path(),
        &["no model.safetensors"],
    );

    let index = dir.write(
        "model.safetensors.index.json",
        br#"{"weight_map": {"w": "../outside.safetensors"}}"#,
    );
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        &index,
        &["`w`", "not a file name in the model folder"],
    );
    dir.write("model.safetensors.index.json", b"{\"weight_map\": ");
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        &index,
        &["not valid JSON"],
    );
    dir.write("model.safetensors.index.json", br#"{"metadata": {}}"#);
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        &index,
        &["no `weight_map`"],
    );

    dir.write(
        "a.safetensors",
        &safetensors_file(&[("w", "F32", &[2, 3], &six_floats())]),
    );
    dir.write(
        "model.safetensors.index.json",
        br#"{"weight_map": {"v": "a.safetensors"}}"#,
    );
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        &index,
        &["`v`", "does not hold it"],
    );
    dir.write(
        "model.safetensors.index.json",
        br#"{"weight_map": {"w": "b.safetensors"}}"#,
    );
    let shard = dir.path().join("b.safetensors");
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        &shard,
        &["No such file"],
    );
}

#[test]
fn safetensors_same_tensor_in_two_files() {
    let dir = TempDir::new("st-dup");
    let file = safetensors_file(&[("w", "F32", &[2, 3], &six_floats())]);
    dir.write("a.safetensors", &file);
    dir.write("b.safetensors", &file);
    assert_error(
        SafetensorsModel::open_folder(dir.path()),
        dir.path(),
        &["tensor `w` is in both"],
    );
}
