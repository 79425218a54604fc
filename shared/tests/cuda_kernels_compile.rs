//! The CUDA kernels compile with NVRTC (no GPU needed, only libnvrtc): every
//! kernel the backend looks up is in the PTX, for the H100/H200's sm_90 and an
//! older sm_80. `.ci/run` runs it with NVRTC from PyPI (`shared/tests/fake_cuda/run.sh`,
//! `RFS_REQUIRE_GPU=1`: a missing NVRTC fails). Elsewhere it prints a `NOT RUN` line
//! when the `cuda` feature is off or NVRTC is not on the library path
//! (`pip install nvidia-cuda-nvrtc-cu12` and put its `nvidia/cuda_nvrtc/lib` on
//! `LD_LIBRARY_PATH` to run it without a toolkit).

#[cfg(feature = "cuda")]
#[test]
fn kernels_compile_with_nvrtc() {
    use shared::cuda::compile_kernels_ptx;
    for arch in ["compute_80", "compute_90"] {
        let ptx = match compile_kernels_ptx(arch) {
            Ok(ptx) => ptx,
            Err(e)
                if e.to_string().contains("not found")
                    && std::env::var("RFS_REQUIRE_GPU").as_deref() != Ok("1") =>
            {
                shared::fixtures::report_not_run(&format!(
                    "{e} (put NVRTC's lib folder on LD_LIBRARY_PATH, or run \
                     shared/tests/fake_cuda/run.sh)"
                ));
                return;
            }
            Err(e) => panic!("{arch}: {e}"),
        };
        for kernel in [
            "rms_norm_rows",
            "add_bias_rows",
            "add_inplace",
            "swiglu_inplace",
            "qk_norm_rope_store",
            "attention_rows",
            "log_softmax_rows",
        ] {
            assert!(
                ptx.contains(&format!(".entry {kernel}(")),
                "{arch}: {kernel} missing"
            );
        }
        for dtype in ["f32", "bf16", "f16"] {
            for kernel in [
                "embed_rows",
                "matmul_few_rows",
                "matmul_tiled",
                "dequant_q8_0",
                "dequant_q4_0",
                "dequant_q4_1",
            ] {
                let name = format!("{kernel}_{dtype}");
                assert!(
                    ptx.contains(&format!(".entry {name}(")),
                    "{arch}: {name} missing"
                );
            }
        }
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn kernels_compile_with_nvrtc() {
    shared::fixtures::report_not_run(
        "built without the `cuda` feature (shared/tests/fake_cuda/run.sh builds with it)",
    );
}
