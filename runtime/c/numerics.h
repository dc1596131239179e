/* The numerics of docs/numerics.md in C, bit for bit those of atalla/numerics.py.
 *
 * Every fp32 operation takes the exact result of its (flushed) operands in double, then: NaN -> the
 * canonical quiet NaN; |exact| < 2**-126 -> a zero of the exact result's sign; otherwise round to fp32,
 * nearest even (the C conversion under the default rounding mode), overflowing to infinity. Built with
 * -ffp-contract=off so no multiply-add is fused.
 */
#ifndef ATALLA_NUMERICS_H
#define ATALLA_NUMERICS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "atalla_abi.h"

#define ATALLA_F32_MIN_NORMAL 0x1p-126

static inline uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Denormal -> zero of its sign; NaN -> canonical. Every fp32 that enters an operation goes through it. */
static inline float nu_flush(float x) {
    uint32_t u = f32_bits(x), exponent = u & 0x7f800000u;
    if (exponent == 0) return bits_f32(u & 0x80000000u);
    if (exponent == 0x7f800000u && (u & 0x007fffffu)) return bits_f32(ATALLA_F32_CANONICAL_NAN);
    return x;
}

/* nu_flush without branches, so that loops over it vectorize. */
static inline float flush_fast(float x) {
    uint32_t u = f32_bits(x);
    u = (u & 0x7f800000u) == 0 ? u & 0x80000000u : u;
    u = (u & 0x7fffffffu) > 0x7f800000u ? ATALLA_F32_CANONICAL_NAN : u;
    return bits_f32(u);
}

static inline float nu_finish(double exact) {
    if (exact != exact) return bits_f32(ATALLA_F32_CANONICAL_NAN);
    if (fabs(exact) < ATALLA_F32_MIN_NORMAL) return signbit(exact) ? -0.0f : 0.0f;
    return (float)exact;
}

static inline float nu_add(float a, float b) { return nu_finish((double)nu_flush(a) + (double)nu_flush(b)); }
static inline float nu_sub(float a, float b) { return nu_finish((double)nu_flush(a) - (double)nu_flush(b)); }
static inline float nu_mul(float a, float b) { return nu_finish((double)nu_flush(a) * (double)nu_flush(b)); }
static inline float nu_div(float a, float b) { return nu_finish((double)nu_flush(a) / (double)nu_flush(b)); }

/* NaN if either is NaN; b if b > a; else a (ties, -0 against +0 included, give a). */
static inline float nu_max(float a, float b) {
    a = nu_flush(a), b = nu_flush(b);
    if (a != a || b != b) return bits_f32(ATALLA_F32_CANONICAL_NAN);
    return b > a ? b : a;
}

static inline float nu_min(float a, float b) {
    a = nu_flush(a), b = nu_flush(b);
    if (a != a || b != b) return bits_f32(ATALLA_F32_CANONICAL_NAN);
    return b < a ? b : a;
}

static inline float nu_relu(float a) { return nu_max(a, 0.0f); }

/* Nearest integer, ties to even, the sign of zero kept. */
static inline float nu_round(float a) { return nu_flush(rintf(nu_flush(a))); }

static inline float nu_sqrt(float a) { return nu_finish(sqrt((double)nu_flush(a))); }

/* a * 2**n: n truncated toward zero and saturated to +-LDEXP_LIMIT; a NaN n gives NaN. */
static inline float nu_ldexp(float a, float n) {
    double m = nu_flush(n);
    if (m != m) return bits_f32(ATALLA_F32_CANONICAL_NAN);
    m = trunc(m);
    if (m > ATALLA_LDEXP_LIMIT) m = ATALLA_LDEXP_LIMIT;
    if (m < -ATALLA_LDEXP_LIMIT) m = -ATALLA_LDEXP_LIMIT;
    return nu_finish((double)nu_flush(a) * ldexp(1.0, (int)m));
}

/* EXP: docs/numerics.md's sequence of the operations above, in its order (atalla.numerics.exp). */
#if ATALLA_EXP_POLY_TERMS != 7
#error "nu_exp evaluates 7 polynomial coefficients"
#endif
static inline float nu_exp(float x) {
    const float t = nu_min(nu_max(x, bits_f32(ATALLA_EXP_LO)), bits_f32(ATALLA_EXP_HI));
    const float n = nu_round(nu_mul(t, bits_f32(ATALLA_LOG2E)));
    const float r = nu_sub(nu_sub(t, nu_mul(n, bits_f32(ATALLA_LN2_HI))), nu_mul(n, bits_f32(ATALLA_LN2_LO)));
    const uint32_t poly[] = {ATALLA_EXP_POLY_0, ATALLA_EXP_POLY_1, ATALLA_EXP_POLY_2, ATALLA_EXP_POLY_3,
                             ATALLA_EXP_POLY_4, ATALLA_EXP_POLY_5, ATALLA_EXP_POLY_6};
    float p = bits_f32(poly[0]);
    for (int i = 1; i < ATALLA_EXP_POLY_TERMS; i++) p = nu_add(nu_mul(p, r), bits_f32(poly[i]));
    return nu_ldexp(p, n);
}

/* fp32 -> bf16 bits: flush, then round to nearest even (overflow to infinity); NaN canonical. */
static inline uint16_t nu_to_bf16(float x) {
    uint32_t u = f32_bits(nu_flush(x));
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return ATALLA_BF16_CANONICAL_NAN;
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float nu_from_bf16(uint16_t bits) { return bits_f32((uint32_t)bits << 16); }

#endif /* ATALLA_NUMERICS_H */
