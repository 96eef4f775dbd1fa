/* Fused 3x3 conv (stride 1, no bias) -> ReLU -> ph x pw average pool, float32, channels-last,
 * for the random nets of RFAD (edgedistill/methods/conv_relu_pool.py builds and calls it).
 * One pass per pooled position: the full-resolution activation never goes to memory, only a
 * one-byte ReLU mask when a gradient is wanted.
 *
 * xp    (B, H+2, W+2, cin)         input, zero-padded by one on each side
 * wf    (groups, 9, cin_g, cout_g)  weights, forward layout (vector over output channels)
 * wb    (groups, 9, cout_g, cin_g)  weights, backward layout (vector over input channels)
 * out   (B, H/ph + 2*opad, W/pw + 2*opad, cout)  pooled output; with opad = 1 it is written
 *                                  inside a zero border (the caller zeroes it), so it is the
 *                                  next block's padded input as is
 * mask  (B, H/ph*ph, W/pw*pw, cout) 1 where the conv output was > 0 (NULL: not stored)
 * gout  shaped as out (opad likewise): the gradient of the pooled output
 * gxp   (B, H+2, W+2, cin)         padded input gradient, zeroed by the caller
 * scratch: 4 * cout floats (one thread's). Rows b0 <= b < b1 only, split over `threads`
 * OpenMP threads when built with OpenMP; otherwise callers split a batch across threads.
 *
 * 2x2 pooling with cout_g a multiple of 16 and cin_g 1 or a multiple of 16 (the random nets'
 * shapes) takes the vector path: the four pooled positions' accumulators share each weight
 * load and stay in registers. Anything else takes the plain scalar loops.
 */
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

#define TAPS 9
#define VL 16
typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

static inline v16 ld(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v16 v) { memcpy(p, &v, sizeof v); }
static inline v16 relu(v16 v) { return (v16)((v16i)v & (v > 0.0f)); }
/* m[0:16] = (v > 0) as bytes; masked_scale(g, m, s)[i] = m[i] ? g[i] * s : 0. With AVX-512 these
 * are a compare and a byte conversion (GCC turns the portable forms into lane-by-lane code). */
static inline void store_mask(unsigned char *m, v16 v) {
#if defined(__AVX512F__)
    const __mmask16 on = _mm512_cmp_ps_mask((__m512)v, _mm512_setzero_ps(), _CMP_GT_OQ);
    _mm_storeu_si128((__m128i *)m, _mm512_cvtepi32_epi8(_mm512_maskz_set1_epi32(on, 1)));
#else
    for (int i = 0; i < VL; i++) m[i] = v[i] > 0.0f;
#endif
}
static inline v16 masked_scale(const float *g, const unsigned char *m, float scale) {
#if defined(__AVX512F__)
    const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)m));
    return (v16)_mm512_maskz_mul_ps(_mm512_test_epi32_mask(bytes, bytes), _mm512_loadu_ps(g), _mm512_set1_ps(scale));
#else
    v16 out;
    for (int i = 0; i < VL; i++) out[i] = m[i] ? g[i] * scale : 0.0f;
    return out;
#endif
}
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
/* Sum of the 16 lanes as a tree of halves (a plain loop is a serial chain of 16 dependent adds);
 * the halves are taken with memcpy, which every GCC and clang turns into lane extracts. */
static inline float hsum(v16 v) {
    v8 a, b;
    memcpy(&a, &v, sizeof a);
    memcpy(&b, (const char *)&v + sizeof a, sizeof b);
    const v8 s8 = a + b;
    v4 c, d;
    memcpy(&c, &s8, sizeof c);
    memcpy(&d, (const char *)&s8 + sizeof c, sizeof d);
    const v4 s4 = c + d;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* Offset of pooled position (b, io, jo) in an output with `opad` zero cells around each map. */
static inline long out_at(long b, long io, long jo, long Ho, long Wo, long opad, long cout) {
    return ((b * (Ho + 2 * opad) + io + opad) * (Wo + 2 * opad) + jo + opad) * cout;
}

static int vector_path(long cin_g, long cout_g, long ph, long pw) {
    return ph == 2 && pw == 2 && cout_g % VL == 0 && (cin_g == 1 || cin_g % VL == 0);
}

/* ---------------------------------------------------------------- forward */

/* h[0:cout] = 3x3 conv at (f, t) of row b (plain loops). */
static void conv_at(const float *restrict xp, const float *restrict wf, float *restrict h, long b, long f, long t,
                    long Hp, long Wp, long cin, long cout, long groups) {
    const long cin_g = cin / groups, cout_g = cout / groups;
    memset(h, 0, sizeof(float) * (size_t)cout);
    for (long k = 0; k < TAPS; k++) {
        const float *in = xp + ((b * Hp + f + k / 3) * Wp + t + k % 3) * cin;
        for (long g = 0; g < groups; g++) {
            float *restrict hg = h + g * cout_g;
            for (long ci = 0; ci < cin_g; ci++) {
                const float v = in[g * cin_g + ci];
                const float *restrict w = wf + ((g * TAPS + k) * cin_g + ci) * cout_g;
#pragma omp simd
                for (long co = 0; co < cout_g; co++) hg[co] += v * w[co];
            }
        }
    }
}

static void forward_plain(const float *restrict xp, const float *restrict wf, float *restrict out,
                          unsigned char *restrict mask, float *restrict h, long b, long io, long jo, long Hp, long Wp,
                          long cin, long cout, long groups, long ph, long pw, long Ho, long Wo, long opad) {
    float *restrict o = out + out_at(b, io, jo, Ho, Wo, opad, cout);
    memset(o, 0, sizeof(float) * (size_t)cout);
    for (long a = 0; a < ph; a++)
        for (long d = 0; d < pw; d++) {
            const long f = io * ph + a, t = jo * pw + d;
            conv_at(xp, wf, h, b, f, t, Hp, Wp, cin, cout, groups);
            for (long c = 0; c < cout; c++) o[c] += h[c] > 0.0f ? h[c] : 0.0f;
            if (mask) {
                unsigned char *restrict m = mask + ((b * Ho * ph + f) * (Wo * pw) + t) * cout;
                for (long c = 0; c < cout; c++) m[c] = h[c] > 0.0f;
            }
        }
    const float scale = 1.0f / (float)(ph * pw);
    for (long c = 0; c < cout; c++) o[c] *= scale;
}

/* One pooled 16-channel block from the four conv outputs under it, plus their ReLU mask. */
static inline void store_pooled(float *restrict o, unsigned char *restrict m, long mrow, long cout, v16 x00, v16 x01,
                                v16 x10, v16 x11) {
    st(o, (relu(x00) + relu(x01) + relu(x10) + relu(x11)) * 0.25f);
    if (m) {
        store_mask(m, x00);
        store_mask(m + cout, x01);
        store_mask(m + mrow, x10);
        store_mask(m + mrow + cout, x11);
    }
}

/* 2x2 pooling, vector path, group g: `np` (1 or 2) horizontally adjacent pooled positions at
 * once, one 16-channel block of outputs at a time. The conv outputs under them (rows 0/1,
 * columns 0..2np-1) are named accumulators that share each weight load and stay in registers;
 * two positions give 8 independent FMA chains, enough to keep both FMA units busy. */
static inline __attribute__((always_inline)) void forward_vector(
        const float *restrict xp, const float *restrict wf, float *restrict out, unsigned char *restrict mask,
        long b, long g, long io, long jo, const int np, long Hp, long Wp, long cin, long cout, long groups, long Ho,
        long Wo, long opad, const long fixed_cin_g) {
    /* fixed_cin_g: the input channels per group when a constant at the call (0: not known), so
     * the channel loop unrolls for the random nets' 1 and 16 */
    const long cin_g = fixed_cin_g ? fixed_cin_g : cin / groups, cout_g = cout / groups;
    const long f = 2 * io, t = 2 * jo, mrow = Wo * 2 * cout;
    for (long cb = 0; cb < cout_g; cb += VL) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
#pragma GCC unroll 9
        for (long k = 0; k < TAPS; k++) {
            const float *p0 = xp + ((b * Hp + f + k / 3) * Wp + t + k % 3) * cin + g * cin_g;
            const float *p1 = p0 + Wp * cin;
            const float *wk = wf + (g * TAPS + k) * cin_g * cout_g + cb;
            for (long ci = 0; ci < cin_g; ci++) {
                const v16 w = ld(wk + ci * cout_g);
                a0 += p0[ci] * w;
                a1 += p0[cin + ci] * w;
                b0 += p1[ci] * w;
                b1 += p1[cin + ci] * w;
                if (np == 2) {
                    a2 += p0[2 * cin + ci] * w;
                    a3 += p0[3 * cin + ci] * w;
                    b2 += p1[2 * cin + ci] * w;
                    b3 += p1[3 * cin + ci] * w;
                }
            }
        }
        const long c = g * cout_g + cb;
        float *o = out + out_at(b, io, jo, Ho, Wo, opad, cout) + c;
        unsigned char *m = mask ? mask + ((b * Ho * 2 + f) * (Wo * 2) + t) * cout + c : 0;
        store_pooled(o, m, mrow, cout, a0, a1, b0, b1);
        if (np == 2) store_pooled(o + cout, m ? m + 2 * cout : 0, mrow, cout, a2, a3, b2, b3);
    }
}

/* Group g of row b on the vector path, two pooled positions at a time. Groups are the outer
 * loop so that one group's weights (9 * cin_g * cout_g floats) stay in L1 over the whole map. */
static inline __attribute__((always_inline)) void forward_group(
        const float *restrict xp, const float *restrict wf, float *restrict out, unsigned char *restrict mask,
        long b, long g, long Hp, long Wp, long cin, long cout, long groups, long Ho, long Wo, long opad,
        const long fixed_cin_g) {
    for (long io = 0; io < Ho; io++) {
        long jo = 0;
        for (; jo + 2 <= Wo; jo += 2)
            forward_vector(xp, wf, out, mask, b, g, io, jo, 2, Hp, Wp, cin, cout, groups, Ho, Wo, opad, fixed_cin_g);
        if (jo < Wo)
            forward_vector(xp, wf, out, mask, b, g, io, jo, 1, Hp, Wp, cin, cout, groups, Ho, Wo, opad, fixed_cin_g);
    }
}

static void forward_rows(const float *restrict xp, const float *restrict wf, float *restrict out,
                         unsigned char *restrict mask, float *restrict scratch, long b0, long b1, long H, long W,
                         long cin, long cout, long groups, long ph, long pw, long opad) {
    const long Ho = H / ph, Wo = W / pw, Hp = H + 2, Wp = W + 2;
    const int vec = vector_path(cin / groups, cout / groups, ph, pw);
    for (long b = b0; b < b1; b++) {
        if (!vec) {
            for (long io = 0; io < Ho; io++)
                for (long jo = 0; jo < Wo; jo++)
                    forward_plain(xp, wf, out, mask, scratch, b, io, jo, Hp, Wp, cin, cout, groups, ph, pw, Ho, Wo, opad);
            continue;
        }
        for (long g = 0; g < groups; g++) {
            if (cin == groups)
                forward_group(xp, wf, out, mask, b, g, Hp, Wp, cin, cout, groups, Ho, Wo, opad, 1);
            else if (cin == 16 * groups)
                forward_group(xp, wf, out, mask, b, g, Hp, Wp, cin, cout, groups, Ho, Wo, opad, 16);
            else
                forward_group(xp, wf, out, mask, b, g, Hp, Wp, cin, cout, groups, Ho, Wo, opad, 0);
        }
    }
}

/* ---------------------------------------------------------------- backward */

/* G[q * cout + c], c0 <= c < c1: the conv output's gradient at pooled phase q = a * pw + d of (io, jo). */
static void phase_grads(const float *restrict gout, const unsigned char *restrict mask, float *restrict G, long b,
                        long io, long jo, long c0, long c1, long cout, long ph, long pw, long Ho, long Wo, long opad) {
    const float scale = 1.0f / (float)(ph * pw);
    const float *go = gout + out_at(b, io, jo, Ho, Wo, opad, cout);
    for (long a = 0; a < ph; a++)
        for (long d = 0; d < pw; d++) {
            const unsigned char *m = mask + ((b * Ho * ph + io * ph + a) * (Wo * pw) + jo * pw + d) * cout;
            float *Gq = G + (a * pw + d) * cout;
            long c = c0;
            for (; c + VL <= c1; c += VL) st(Gq + c, masked_scale(go + c, m + c, scale));
            for (; c < c1; c++) Gq[c] = m[c] ? go[c] * scale : 0.0f;
        }
}

static void backward_plain(const float *restrict G, const float *restrict wb,
                           float *restrict gxp, long b, long io, long jo, long Hp, long Wp, long cin, long cout,
                           long groups, long ph, long pw) {
    const long cin_g = cin / groups, cout_g = cout / groups;
    for (long a = 0; a < ph; a++)
        for (long d = 0; d < pw; d++) {
            const float *Gq = G + (a * pw + d) * cout;
            for (long k = 0; k < TAPS; k++) {
                float *gin = gxp + ((b * Hp + io * ph + a + k / 3) * Wp + jo * pw + d + k % 3) * cin;
                for (long g = 0; g < groups; g++)
                    for (long co = 0; co < cout_g; co++) {
                        const float v = Gq[g * cout_g + co];
                        if (v == 0.0f) continue;
                        const float *w = wb + ((g * TAPS + k) * cout_g + co) * cin_g;
                        for (long ci = 0; ci < cin_g; ci++) gin[g * cin_g + ci] += v * w[ci];
                    }
            }
        }
}

/* The four conv outputs of tap (r, s) land on patch cells (r, s), (r, s+1), (r+1, s), (r+1, s+1). */
#define TAP(k, c00, c01, c10, c11) do {                     \
        const v16 w = ld(wk + (k) * wstride);               \
        c00 += q00 * w; c01 += q01 * w; c10 += q10 * w; c11 += q11 * w; \
    } while (0)
#define ALL_TAPS()                                                                              \
    do {                                                                                        \
        TAP(0, p00, p01, p10, p11); TAP(1, p01, p02, p11, p12); TAP(2, p02, p03, p12, p13);     \
        TAP(3, p10, p11, p20, p21); TAP(4, p11, p12, p21, p22); TAP(5, p12, p13, p22, p23);     \
        TAP(6, p20, p21, p30, p31); TAP(7, p21, p22, p31, p32); TAP(8, p22, p23, p32, p33);     \
    } while (0)
#define PATCH_ZERO v16 p00 = {0}, p01 = {0}, p02 = {0}, p03 = {0}, p10 = {0}, p11 = {0}, p12 = {0}, p13 = {0}, \
                       p20 = {0}, p21 = {0}, p22 = {0}, p23 = {0}, p30 = {0}, p31 = {0}, p32 = {0}, p33 = {0}
#define PATCH_LIST p00, p01, p02, p03, p10, p11, p12, p13, p20, p21, p22, p23, p30, p31, p32, p33

/* 2x2 pooling, vector path, group g: the 4x4 input patch under the four phases' 3x3 taps,
 * accumulated in 16 named registers (an array would be spilled to the stack). */
static void backward_vector(const float *restrict G, const float *restrict wf, const float *restrict wb,
                            float *restrict gxp, long b, long g, long io, long jo, long Hp, long Wp, long cin,
                            long cout, long groups) {
    const long cin_g = cin / groups, cout_g = cout / groups;
    const float *G00 = G, *G01 = G + cout, *G10 = G + 2 * cout, *G11 = G + 3 * cout;
    float *base = gxp + ((b * Hp + 2 * io) * Wp + 2 * jo) * cin;
    if (cin_g == 1) { /* one input channel: dot products over output-channel blocks */
        PATCH_ZERO;
        const long wstride = cout_g;
        for (long cb = 0; cb < cout_g; cb += VL) {
            const long c = g * cout_g + cb;
            const v16 q00 = ld(G00 + c), q01 = ld(G01 + c), q10 = ld(G10 + c), q11 = ld(G11 + c);
            const float *wk = wf + g * TAPS * cout_g + cb;
            ALL_TAPS();
        }
        const v16 patch[16] = {PATCH_LIST};
        for (long r = 0; r < 4; r++)
            for (long s = 0; s < 4; s++) base[(r * Wp + s) * cin + g] += hsum(patch[r * 4 + s]);
        return;
    }
    const long wstride = cout_g * cin_g;
    for (long cib = 0; cib < cin_g; cib += VL) {
        PATCH_ZERO;
        for (long co = 0; co < cout_g; co++) {
            const long c = g * cout_g + co;
            const float q00 = G00[c], q01 = G01[c], q10 = G10[c], q11 = G11[c];
            const float *wk = wb + (g * TAPS * cout_g + co) * cin_g + cib;
            ALL_TAPS();
        }
        const v16 patch[16] = {PATCH_LIST};
        for (long r = 0; r < 4; r++)
            for (long s = 0; s < 4; s++) {
                float *p = base + (r * Wp + s) * cin + g * cin_g + cib;
                st(p, ld(p) + patch[r * 4 + s]);
            }
    }
}

static void backward_rows(const float *restrict gout, const unsigned char *restrict mask, const float *restrict wf,
                          const float *restrict wb, float *restrict gxp, float *restrict scratch, long b0, long b1,
                          long H, long W, long cin, long cout, long groups, long ph, long pw, long opad) {
    const long Ho = H / ph, Wo = W / pw, Hp = H + 2, Wp = W + 2;
    const int vec = vector_path(cin / groups, cout / groups, ph, pw);
    const long cout_g = cout / groups;
    for (long b = b0; b < b1; b++) {
        if (!vec) {
            for (long io = 0; io < Ho; io++)
                for (long jo = 0; jo < Wo; jo++) {
                    phase_grads(gout, mask, scratch, b, io, jo, 0, cout, cout, ph, pw, Ho, Wo, opad);
                    backward_plain(scratch, wb, gxp, b, io, jo, Hp, Wp, cin, cout, groups, ph, pw);
                }
            continue;
        }
        for (long g = 0; g < groups; g++) /* groups outermost: one group's weights stay in L1 */
            for (long io = 0; io < Ho; io++)
                for (long jo = 0; jo < Wo; jo++) {
                    phase_grads(gout, mask, scratch, b, io, jo, g * cout_g, (g + 1) * cout_g, cout, ph, pw, Ho, Wo, opad);
                    backward_vector(scratch, wf, wb, gxp, b, g, io, jo, Hp, Wp, cin, cout, groups);
                }
    }
}

/* ---------------------------------------------------------------- entry points */

/* Rows b0 <= b < b1. Built with OpenMP, `threads` > 1 splits them over that many threads of the
 * process's OpenMP runtime: the one torch already runs, so no second pool competes with its
 * spinning workers. Without OpenMP the caller splits rows itself (threads = 1 here). */
#if defined(_OPENMP)
#define SPLIT_ROWS(call_rows)                                                              \
    if (threads > 1) {                                                                     \
        _Pragma("omp parallel num_threads(threads)")                                       \
        {                                                                                  \
            float local[4 * cout];                                                         \
            const long n = omp_get_num_threads(), i = omp_get_thread_num();               \
            call_rows(local, b0 + (b1 - b0) * i / n, b0 + (b1 - b0) * (i + 1) / n);        \
        }                                                                                  \
        return;                                                                            \
    }
#else
#define SPLIT_ROWS(call_rows) (void)threads;
#endif

int crp_openmp(void) {
#if defined(_OPENMP)
    return 1;
#else
    return 0;
#endif
}

void crp_forward(const float *restrict xp, const float *restrict wf, float *restrict out, unsigned char *restrict mask,
                 float *restrict scratch, long b0, long b1, long H, long W, long cin, long cout, long groups,
                 long ph, long pw, long opad, long threads) {
#define FORWARD_ROWS(buf, r0, r1) forward_rows(xp, wf, out, mask, buf, r0, r1, H, W, cin, cout, groups, ph, pw, opad)
    SPLIT_ROWS(FORWARD_ROWS)
    FORWARD_ROWS(scratch, b0, b1);
}

void crp_backward(const float *restrict gout, const unsigned char *restrict mask, const float *restrict wf,
                  const float *restrict wb, float *restrict gxp, float *restrict scratch, long b0, long b1, long H,
                  long W, long cin, long cout, long groups, long ph, long pw, long opad, long threads) {
#define BACKWARD_ROWS(buf, r0, r1) backward_rows(gout, mask, wf, wb, gxp, buf, r0, r1, H, W, cin, cout, groups, ph, pw, opad)
    SPLIT_ROWS(BACKWARD_ROWS)
    BACKWARD_ROWS(scratch, b0, b1);
}
