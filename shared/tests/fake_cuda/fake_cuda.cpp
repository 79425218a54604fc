// A stand-in for libcuda.so that runs our CUDA kernels on the CPU, so the whole
// GPU path (cudarc, our launches, buffer sizes, the kernels' logic) can be
// checked on a machine without a GPU. Not a CUDA implementation: only the
// driver calls cudarc makes for shared::cuda, with "device memory" in host
// memory, streams synchronous, and each block's threads run as OS threads
// (barriers for __syncthreads, an exchange buffer for warp shuffles).
//
// Built and used by run.sh beside it:
//   g++ -std=c++20 -O2 -shared -fPIC -pthread fake_cuda.cpp -o libcuda.so
// NVRTC stays the real one: the PTX it compiles is checked, then ignored.

#include <barrier>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// ------------------------------------------------------------ the CUDA C dialect

struct dim3_t {
    unsigned x = 0, y = 0, z = 0;
};
struct float4 {
    float x, y, z, w;
};
struct uint4 {
    unsigned int x, y, z, w;
};

thread_local dim3_t threadIdx, blockIdx;
dim3_t blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

static inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
static inline int __float2int_rn(float f) { return (int)std::nearbyint(f); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
#include <math.h>  // expf, logf, sqrtf, fmaxf as CUDA C names them

static std::barrier<>* block_barrier = nullptr;
static std::barrier<>* warp_barriers[32];
static float warp_exchange[32][32];

static void __syncthreads() { block_barrier->arrive_and_wait(); }

static float __shfl_xor_sync(unsigned, float v, int offset) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    warp_exchange[warp][lane] = v;
    warp_barriers[warp]->arrive_and_wait();
    float other = warp_exchange[warp][lane ^ offset];
    warp_barriers[warp]->arrive_and_wait();
    return other;
}

#include "../../src/cuda/kernels.cu"

// ------------------------------------------------------------ kernels by name

using Kernel = std::function<void(void**)>;

template <typename... A, std::size_t... I>
static void call_with(void (*k)(A...), void** params, std::index_sequence<I...>) {
    k(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}

template <typename... A>
static Kernel kernel_of(void (*k)(A...)) {
    return [k](void** params) { call_with(k, params, std::index_sequence_for<A...>{}); };
}

static std::map<std::string, Kernel>& kernels() {
    static std::map<std::string, Kernel> table = [] {
        std::map<std::string, Kernel> t;
#define REG(name) t[#name] = kernel_of(name);
#define REG_W(name) REG(name##_f32) REG(name##_bf16) REG(name##_f16)
        REG_W(embed_rows) REG_W(matmul_few_rows) REG_W(matmul_tiled)
        REG_W(dequant_q8_0) REG_W(dequant_q4_0) REG_W(dequant_q4_1)
        REG(rms_norm_rows) REG(add_bias_rows) REG(add_inplace) REG(swiglu_inplace)
        REG(qk_norm_rope_store) REG(attention_rows) REG(log_softmax_rows)
        return t;
    }();
    return table;
}

// Runs one launch: each block's threads together, blocks one after another.
// One launch at a time in the process (test threads launch concurrently, and
// the block state above, like `__shared__` memory, is global).
static std::mutex launch_mutex;

static void run_grid(const Kernel& k, dim3_t grid, dim3_t block, void** params) {
    std::lock_guard<std::mutex> one_at_a_time(launch_mutex);
    gridDim = grid;
    blockDim = block;
    unsigned threads = block.x;
    for (unsigned by = 0; by < grid.y; by++) {
        for (unsigned bx = 0; bx < grid.x; bx++) {
            std::barrier<> sync(threads);
            block_barrier = &sync;
            std::vector<std::unique_ptr<std::barrier<>>> warps;
            for (unsigned w = 0; w * 32 < threads; w++) {
                unsigned n = std::min(32u, threads - w * 32);
                warps.push_back(std::make_unique<std::barrier<>>(n));
                warp_barriers[w] = warps.back().get();
            }
            std::vector<std::thread> pool;
            pool.reserve(threads);
            for (unsigned t = 0; t < threads; t++) {
                pool.emplace_back([&, t, bx, by] {
                    threadIdx = {t, 0, 0};
                    blockIdx = {bx, by, 0};
                    k(params);
                });
            }
            for (auto& th : pool) th.join();
        }
    }
}

// ------------------------------------------------------------ the driver API subset

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUstream;
typedef void* CUmodule;
typedef void* CUevent;
typedef void* CUfunction;

static int fake_context = 1;
static int fake_module = 2;
static std::mutex functions_mutex;
static std::vector<std::unique_ptr<std::string>> function_names;

static bool trace = std::getenv("FAKE_CUDA_TRACE") != nullptr;
#define TRACE(...) do { if (trace) std::fprintf(stderr, "fake_cuda: " __VA_ARGS__); } while (0)

extern "C" {
CUresult cuInit(unsigned int) { return 0; }
CUresult cuDriverGetVersion(int* v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int* count) { *count = 1; return 0; }
CUresult cuDeviceGet(CUdevice* d, int ordinal) { *d = ordinal; return ordinal == 0 ? 0 : 101; }
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
    std::snprintf(name, len, "fake CUDA device (CPU emulation)");
    return 0;
}
CUresult cuDeviceGetAttribute(int* v, int attribute, CUdevice) {
    switch (attribute) {
        case 75: *v = 9; break;  // compute capability major
        case 76: *v = 0; break;  // minor
        default: *v = 0;
    }
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) { *bytes = 1ull << 34; return 0; }
CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice) { *ctx = &fake_context; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return 0; }
CUresult cuCtxSetCurrent(CUcontext) { return 0; }
CUresult cuCtxGetCurrent(CUcontext* ctx) { *ctx = &fake_context; return 0; }
CUresult cuCtxGetDevice(CUdevice* d) { *d = 0; return 0; }
CUresult cuCtxSynchronize() { return 0; }
CUresult cuCtxPushCurrent_v2(CUcontext) { return 0; }
CUresult cuCtxPopCurrent_v2(CUcontext* ctx) { if (ctx) *ctx = &fake_context; return 0; }
CUresult cuStreamSynchronize(CUstream) { return 0; }
CUresult cuStreamWaitEvent(CUstream, CUevent, unsigned int) { return 0; }
CUresult cuEventCreate(CUevent* e, unsigned int) { *e = new int(0); return 0; }
CUresult cuEventRecord(CUevent, CUstream) { return 0; }
CUresult cuEventSynchronize(CUevent) { return 0; }
CUresult cuEventQuery(CUevent) { return 0; }
CUresult cuEventDestroy_v2(CUevent e) { delete static_cast<int*>(e); return 0; }
CUresult cuGetErrorString(CUresult, const char** s) { *s = "fake_cuda error"; return 0; }
CUresult cuGetErrorName(CUresult, const char** s) { *s = "FAKE_CUDA_ERROR"; return 0; }

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    void* m = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    *p = reinterpret_cast<CUdeviceptr>(m);
    TRACE("alloc %zu bytes\n", bytes);
    return m ? 0 : 2;
}
CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, CUstream) { return cuMemAlloc_v2(p, bytes); }
CUresult cuMemFree_v2(CUdeviceptr p) { std::free(reinterpret_cast<void*>(p)); return 0; }
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream) { return cuMemFree_v2(p); }
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) {
    std::memset(reinterpret_cast<void*>(p), v, n);
    return 0;
}
CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, CUstream) { return cuMemsetD8_v2(p, v, n); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream) {
    std::memcpy(reinterpret_cast<void*>(dst), src, n);
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream) {
    std::memcpy(dst, reinterpret_cast<void*>(src), n);
    return 0;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) {
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), n);
    return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { return cuMemcpyHtoDAsync_v2(dst, src, n, nullptr); }
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoHAsync_v2(dst, src, n, nullptr); }

CUresult cuModuleLoadData(CUmodule* m, const void* image) {
    TRACE("module of %zu bytes of PTX\n", std::strlen(static_cast<const char*>(image)));
    *m = &fake_module;
    return 0;
}
CUresult cuModuleUnload(CUmodule) { return 0; }
CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char* name) {
    auto it = kernels().find(name);
    if (it == kernels().end()) {
        std::fprintf(stderr, "fake_cuda: no kernel named %s\n", name);
        return 500;  // CUDA_ERROR_NOT_FOUND
    }
    *f = const_cast<Kernel*>(&it->second);
    return 0;
}
CUresult cuFuncSetAttribute(CUfunction, int, int) { return 0; }
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared_bytes, CUstream, void** params, void**) {
    if (gz != 1 || by != 1 || bz != 1 || shared_bytes != 0 || bx == 0 || bx > 1024 || bx % 32 != 0) {
        std::fprintf(stderr, "fake_cuda: unsupported launch (%u,%u,%u)x(%u,%u,%u) shared %u\n", gx, gy, gz, bx,
                     by, bz, shared_bytes);
        return 1;  // CUDA_ERROR_INVALID_VALUE
    }
    run_grid(*static_cast<Kernel*>(f), {gx, gy, 1}, {bx, 1, 1}, params);
    return 0;
}
}
