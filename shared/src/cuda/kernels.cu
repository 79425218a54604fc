// The CUDA backend's kernels (shared::cuda), compiled at run time with NVRTC.
//
// Each kernel mirrors one CPU function; the comment above it names it. Every
// activation is f32; weights are f32, f16 or bf16 (`W` below), read through
// `load_w`. Rows of a batch belong to sequences whose KV caches live in separate
// buffers: a per-step "row table" (u64) gives, for row r of n,
//   table[r]       the device address of the row's KV cache,
//   table[n + r]   the row's position in its sequence,
//   table[2n + r]  the row's token id.
// A KV cache is [layer][keys | values][capacity][num_kv_heads * head_dim].
// No CUDA headers are included, so NVRTC needs no include paths.

typedef unsigned short u16;
typedef unsigned long long u64;

// f16 weights get their own type so that `load_w` can tell them from bf16.
struct f16w {
    u16 bits;
};

#define INF_F __int_as_float(0x7f800000)

// ---------------------------------------------------------------- conversions

__device__ __forceinline__ float bf16_to_f32(u16 b) {
    return __uint_as_float(((unsigned int)b) << 16);
}

// IEEE half → float (as the `half` crate's f16::to_f32).
__device__ __forceinline__ float f16_to_f32(unsigned int h) {
    unsigned int sign = (h & 0x8000u) << 16;
    unsigned int exp = (h >> 10) & 0x1fu;
    unsigned int man = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: man · 2^-24
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (man << 13));
    return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
}

// float → bf16, rounding to nearest even (as half::bf16::from_f32).
__device__ __forceinline__ u16 f32_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
}

// float → f16 bits, rounding to nearest even (normal range; tiny values flush
// to zero, large ones to infinity: weights live well inside f16's range).
__device__ __forceinline__ u16 f32_to_f16(float f) {
    unsigned int u = __float_as_uint(f);
    unsigned int sign = (u >> 16) & 0x8000u;
    unsigned int a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (u16)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (u16)(sign | 0x7c00u);  // rounds past 65504
    if (a < 0x38800000u) {                                // below f16's normal range
        float v = __uint_as_float(a) * 16777216.0f;       // · 2^24 → subnormal units
        return (u16)(sign | (unsigned int)__float2int_rn(v));
    }
    unsigned int m = a - 0x38000000u;  // rebias the exponent by 112
    m += 0xfffu + ((m >> 13) & 1u);
    return (u16)(sign | (m >> 13));
}

__device__ __forceinline__ float load_w(const float* w, long i) { return w[i]; }
__device__ __forceinline__ float load_w(const u16* w, long i) { return bf16_to_f32(w[i]); }
__device__ __forceinline__ float load_w(const f16w* w, long i) { return f16_to_f32(w[i].bits); }

__device__ __forceinline__ void store_w(float* w, long i, float v) { w[i] = v; }
__device__ __forceinline__ void store_w(u16* w, long i, float v) { w[i] = f32_to_bf16(v); }
__device__ __forceinline__ void store_w(f16w* w, long i, float v) { w[i].bits = f32_to_f16(v); }

// Eight consecutive weights from a 16-byte-aligned address (f32: 32 bytes).
__device__ __forceinline__ void load8(const float* w, float* out) {
    float4 a = *(const float4*)w, b = *(const float4*)(w + 4);
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}
__device__ __forceinline__ void load8(const u16* w, float* out) {
    uint4 u = *(const uint4*)w;
    unsigned int words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        out[2 * i] = __uint_as_float(words[i] << 16);
        out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
}
__device__ __forceinline__ void load8(const f16w* w, float* out) {
    uint4 u = *(const uint4*)w;
    unsigned int words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        out[2 * i] = f16_to_f32(words[i] & 0xffffu);
        out[2 * i + 1] = f16_to_f32(words[i] >> 16);
    }
}

// ---------------------------------------------------------------- reductions

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32); every thread gets it.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // a previous call may still be reading `partial`
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    int warps = blockDim.x >> 5;
    return warp_sum(lane < warps ? partial[lane] : 0.0f);
}

// ---------------------------------------------------------------- dequantization
// GGML blocks of 32 weights (shared::io::quant) into f32/f16/bf16, one thread per weight.

__device__ __forceinline__ float read_f16(const unsigned char* p) {
    return f16_to_f32((unsigned int)p[0] | ((unsigned int)p[1] << 8));
}

// block_q8_0: f16 d, 32 × i8; x = d·q.
template <typename W>
__device__ void dequant_q8_0(const unsigned char* blocks, W* out, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned char* b = blocks + (i / 32) * 34;
    store_w(out, i, read_f16(b) * (float)(signed char)b[2 + i % 32]);
}

// block_q4_0: f16 d, 16 bytes; byte j holds element j (low nibble) and j+16 (high); x = d·(q−8).
template <typename W>
__device__ void dequant_q4_0(const unsigned char* blocks, W* out, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned char* b = blocks + (i / 32) * 18;
    int j = (int)(i % 32);
    unsigned int byte = b[2 + (j & 15)];
    int q = (int)(j < 16 ? (byte & 15u) : (byte >> 4));
    store_w(out, i, read_f16(b) * (float)(q - 8));
}

// block_q4_1: f16 d, f16 m, 16 bytes of nibbles as in Q4_0; x = d·q + m.
template <typename W>
__device__ void dequant_q4_1(const unsigned char* blocks, W* out, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned char* b = blocks + (i / 32) * 20;
    int j = (int)(i % 32);
    unsigned int byte = b[4 + (j & 15)];
    float q = (float)(j < 16 ? (byte & 15u) : (byte >> 4));
    store_w(out, i, __fadd_rn(__fmul_rn(read_f16(b), q), read_f16(b + 2)));
}

// ---------------------------------------------------------------- embedding
// Model::forward_rows_cpu's `embed_tokens.row_to_f32`: x[r] = table[id of row r].
template <typename W>
__device__ void embed_rows(const W* table, const u64* rows_table, int n, float* x, int hidden) {
    int r = blockIdx.x;
    long id = (long)rows_table[2 * n + r];
    for (int i = threadIdx.x; i < hidden; i += blockDim.x)
        x[(long)r * hidden + i] = load_w(table, id * hidden + i);
}

// ---------------------------------------------------------------- products
// WeightMatrix::matmul: y[n × out] = x[n × in] · w[out × in]ᵀ.

#define GEMV_MAX_ROWS 8
#define GEMV_WARPS 8

// Few rows (decoding): one warp per output feature reads its weight row once
// and multiplies it into every input row. 16-byte loads when `in` % 8 == 0.
template <typename W>
__device__ void matmul_few_rows(const float* x, const W* w, float* y, int n, int in, int out) {
    int lane = threadIdx.x & 31;
    int j = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (j >= out) return;
    const W* wr = w + (long)j * in;
    float acc[GEMV_MAX_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) acc[r] = 0.0f;
    int chunks = (in % 8 == 0) ? in / 8 : 0;
    for (int c = lane; c < chunks; c += 32) {
        float wv[8];
        load8(wr + c * 8, wv);
#pragma unroll
        for (int r = 0; r < GEMV_MAX_ROWS; r++) {
            if (r < n) {
                float xv[8];
                load8(x + (long)r * in + c * 8, xv);
#pragma unroll
                for (int e = 0; e < 8; e++) acc[r] += wv[e] * xv[e];
            }
        }
    }
    for (int k = chunks * 8 + lane; k < in; k += 32) {
        float wv = load_w(wr, k);
#pragma unroll
        for (int r = 0; r < GEMV_MAX_ROWS; r++)
            if (r < n) acc[r] += wv * x[(long)r * in + k];
    }
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r < n) {
            float s = warp_sum(acc[r]);
            if (lane == 0) y[(long)r * out + j] = s;
        }
    }
}

#define TILE 64
#define TILE_K 16

// Many rows (prefill): 64 × 64 output tiles, 256 threads of 4 × 4 outputs each,
// the input and weight tiles staged through shared memory 16 columns at a time.
template <typename W>
__device__ void matmul_tiled(const float* x, const W* w, float* y, int n, int in, int out) {
    __shared__ float xs[TILE_K][TILE + 4];
    __shared__ float ws[TILE_K][TILE + 4];
    int t = threadIdx.x;
    int tx = t % 16, ty = t / 16;
    int row0 = blockIdx.y * TILE, col0 = blockIdx.x * TILE;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < in; k0 += TILE_K) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int e = t + 256 * i;  // 0..1024: (tile row, k) = (e / 16, e % 16)
            int tr = e / TILE_K, kk = e % TILE_K;
            int k = k0 + kk;
            int xr = row0 + tr, wr = col0 + tr;
            xs[kk][tr] = (xr < n && k < in) ? x[(long)xr * in + k] : 0.0f;
            ws[kk][tr] = (wr < out && k < in) ? load_w(w, (long)wr * in + k) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TILE_K; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = xs[kk][ty * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = ws[kk][tx * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = row0 + ty * 4 + i;
        if (r >= n) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = col0 + tx * 4 + j;
            if (c < out) y[(long)r * out + c] = acc[i][j];
        }
    }
}

// ---------------------------------------------------------------- one kernel per weight type

#define FOR_EACH_WEIGHT(MACRO) MACRO(f32, float) MACRO(bf16, u16) MACRO(f16, f16w)

#define WEIGHT_KERNELS(NAME, W)                                                                  \
    extern "C" __global__ void embed_rows_##NAME(const W* table, const u64* rows_table, int n,   \
                                                 float* x, int hidden) {                         \
        embed_rows(table, rows_table, n, x, hidden);                                             \
    }                                                                                            \
    extern "C" __global__ void matmul_few_rows_##NAME(const float* x, const W* w, float* y,      \
                                                      int n, int in, int out) {                  \
        matmul_few_rows(x, w, y, n, in, out);                                                    \
    }                                                                                            \
    extern "C" __global__ void matmul_tiled_##NAME(const float* x, const W* w, float* y, int n,  \
                                                   int in, int out) {                            \
        matmul_tiled(x, w, y, n, in, out);                                                       \
    }                                                                                            \
    extern "C" __global__ void dequant_q8_0_##NAME(const unsigned char* b, W* out, long n) {     \
        dequant_q8_0(b, out, n);                                                                 \
    }                                                                                            \
    extern "C" __global__ void dequant_q4_0_##NAME(const unsigned char* b, W* out, long n) {     \
        dequant_q4_0(b, out, n);                                                                 \
    }                                                                                            \
    extern "C" __global__ void dequant_q4_1_##NAME(const unsigned char* b, W* out, long n) {     \
        dequant_q4_1(b, out, n);                                                                 \
    }

FOR_EACH_WEIGHT(WEIGHT_KERNELS)

// ---------------------------------------------------------------- row-wise kernels

// tensor::rms_norm on each row (one block per row): out = x / sqrt(mean(x²) + eps) · w.
extern "C" __global__ void rms_norm_rows(const float* x, const float* w, float* out, int cols,
                                         float eps) {
    const float* xr = x + (long)blockIdx.x * cols;
    float* outr = out + (long)blockIdx.x * cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss);
    float scale = 1.0f / sqrtf(ss / (float)cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) outr[i] = xr[i] * scale * w[i];
}

// model::add_bias on each row: y[r][c] += b[c].
extern "C" __global__ void add_bias_rows(float* y, const float* b, int cols, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) y[i] += b[i % cols];
}

// model::add_inplace: x += d (the residual connection).
extern "C" __global__ void add_inplace(float* x, const float* d, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) x[i] += d[i];
}

// model::swiglu_inplace: gate = silu(gate) · up.
extern "C" __global__ void swiglu_inplace(float* gate, const float* up, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// Model::position_queries_and_keys + KvCache::store. Block (row r, head h) of
// num_heads query heads then num_kv_heads key heads: Qwen3's per-head RMSNorm
// when `q_norm`/`k_norm` are given, then RoPE at the row's position (pairs
// (i, i + head_dim/2)). Queries are rotated in place; keys, and the values
// beside them, are written to the row's KV cache.
extern "C" __global__ void qk_norm_rope_store(float* q, const float* k, const float* v,
                                              const float* q_norm, const float* k_norm,
                                              int has_norm, const float* cos_table,
                                              const float* sin_table, const u64* rows_table,
                                              int n, int num_heads, int num_kv_heads,
                                              int head_dim, int layer, int capacity, float eps) {
    __shared__ float head[256];
    int r = blockIdx.x, h = blockIdx.y;
    bool is_query = h < num_heads;
    int kv_head = h - num_heads;
    long kv_dim = (long)num_kv_heads * head_dim;
    const float* src = is_query ? q + ((long)r * num_heads + h) * head_dim
                                : k + (long)r * kv_dim + (long)kv_head * head_dim;
    for (int i = threadIdx.x; i < head_dim; i += blockDim.x) head[i] = src[i];
    __syncthreads();
    if (has_norm) {
        const float* w = is_query ? q_norm : k_norm;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x) ss += head[i] * head[i];
        ss = block_sum(ss);
        float scale = 1.0f / sqrtf(ss / (float)head_dim + eps);
        __syncthreads();
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x) head[i] = head[i] * scale * w[i];
        __syncthreads();
    }
    int half = head_dim / 2;
    long pos = (long)rows_table[n + r];
    const float* c = cos_table + pos * half;
    const float* s = sin_table + pos * half;
    float* dst;
    if (is_query) {
        dst = q + ((long)r * num_heads + h) * head_dim;
    } else {
        float* cache = (float*)rows_table[r];
        float* keys = cache + (long)layer * 2 * capacity * kv_dim;
        dst = keys + pos * kv_dim + (long)kv_head * head_dim;
        float* value_dst = dst + (long)capacity * kv_dim;
        const float* value_src = v + (long)r * kv_dim + (long)kv_head * head_dim;
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x) value_dst[i] = value_src[i];
    }
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float a = head[i], b = head[i + half];
        dst[i] = a * c[i] - b * s[i];
        dst[i + half] = b * c[i] + a * s[i];
    }
}

#define ATTN_MAX_PER_LANE 8  // head_dim up to 256

// attention::attend for one (row, query head) per warp: softmax(q·Kᵀ/√d)·V over
// positions 0..=pos of the row's cache, as one pass with a running maximum and
// sum (online softmax), so no score buffer is needed. Lane l holds dimensions
// l, l+32, ... of the query and the output.
extern "C" __global__ void attention_rows(const float* q, float* out, const u64* rows_table,
                                          int n, int num_heads, int num_kv_heads, int head_dim,
                                          int layer, int capacity) {
    int r = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    long kv_dim = (long)num_kv_heads * head_dim;
    int group = num_heads / num_kv_heads;
    const float* cache = (const float*)rows_table[r];
    const float* keys = cache + (long)layer * 2 * capacity * kv_dim + (long)(h / group) * head_dim;
    const float* values = keys + (long)capacity * kv_dim;
    long pos = (long)rows_table[n + r];
    const float* qh = q + ((long)r * num_heads + h) * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    float qv[ATTN_MAX_PER_LANE], acc[ATTN_MAX_PER_LANE];
#pragma unroll
    for (int j = 0; j < ATTN_MAX_PER_LANE; j++) {
        int d = lane + 32 * j;
        qv[j] = d < head_dim ? qh[d] : 0.0f;
        acc[j] = 0.0f;
    }
    float running_max = -INF_F, running_sum = 0.0f;
    for (long t = 0; t <= pos; t++) {
        const float* kt = keys + t * kv_dim;
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < ATTN_MAX_PER_LANE; j++) {
            int d = lane + 32 * j;
            if (d < head_dim) dot += qv[j] * kt[d];
        }
        float score = warp_sum(dot) * scale;
        float new_max = fmaxf(running_max, score);
        float correction = expf(running_max - new_max);
        float p = expf(score - new_max);
        running_sum = running_sum * correction + p;
        const float* vt = values + t * kv_dim;
#pragma unroll
        for (int j = 0; j < ATTN_MAX_PER_LANE; j++) {
            int d = lane + 32 * j;
            if (d < head_dim) acc[j] = acc[j] * correction + p * vt[d];
        }
        running_max = new_max;
    }
    float* oh = out + ((long)r * num_heads + h) * head_dim;
#pragma unroll
    for (int j = 0; j < ATTN_MAX_PER_LANE; j++) {
        int d = lane + 32 * j;
        if (d < head_dim) oh[d] = acc[j] / running_sum;
    }
}

// tensor::log_softmax on each row (one block per row), in place: the
// log-probabilities of the next token, as ch04's scoring and ch05's GRPO use them.
extern "C" __global__ void log_softmax_rows(float* x, int cols) {
    float* xr = x + (long)blockIdx.x * cols;
    __shared__ float shared_max[32];
    float m = -INF_F;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) m = fmaxf(m, xr[i]);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    if ((threadIdx.x & 31) == 0) shared_max[threadIdx.x >> 5] = m;
    __syncthreads();
    m = -INF_F;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) m = fmaxf(m, shared_max[w]);
    float sum = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) sum += expf(xr[i] - m);
    float log_z = m + logf(block_sum(sum));
    for (int i = threadIdx.x; i < cols; i += blockDim.x) xr[i] -= log_z;
}
