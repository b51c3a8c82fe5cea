/* lrlab's native kernel: a cohort of small MLPs, one member in each lane of a vector.
 *
 * Every arithmetic operation below is one vector operation on L members at once (GCC/Clang
 * vector extensions; L = 16 with AVX-512, 8 with AVX, 4 otherwise): member c of a group is
 * lane c % L, its weights are gathered into a lane-interleaved copy ``thT[p][lane]`` and its
 * gradient scattered back from ``gT``. A training step streams the batch S samples at a time
 * through the whole network (forward, loss, backward, gradient accumulation), so the hidden
 * activations never leave the registers and the L1 cache: the step reads the weights and
 * writes the gradient once per S samples, never a [C, width, B] tensor. Each lane computes
 * exactly the scalar formula of one member in a fixed order, so a member's numbers do not
 * depend on the cohort's size, its place in it, the thread count or L.
 *
 * Layout (lrlab.lab.models.MLP.slots): for each layer l, W_l [out, in] row-major then
 * b_l [out], in one flat row of P floats per member.
 * Hidden activations: 0 relu, 1 tanh, 2 sigmoid, 3 linear.
 * Losses: 0 categorical cross-entropy on softmax, 1 binary cross-entropy on a sigmoid,
 * 2 mean squared error; targets are dense [N, K] (one-hot for the categorical loss).
 * Gradients are of the batch mean loss, as in the torch and NumPy kernels.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif

/* lanes: members per vector, the width of the CPU's vector registers (a wider generic vector
 * than the registers would be split, and passed through memory between functions), or
 * LRLAB_LANES where the build asks for fewer (8 on an AVX-512 CPU: a small cohort's group
 * then carries no idle lanes) */
#if defined(LRLAB_LANES)
#define L LRLAB_LANES
#elif defined(__AVX512F__)
#define L 16
#elif defined(__AVX__)
#define L 8
#else
#define L 4
#endif
typedef float vf __attribute__((vector_size(4 * L)));
typedef int32_t vi __attribute__((vector_size(4 * L)));
typedef double vd __attribute__((vector_size(8 * L)));

#define VF(x) ((vf){0} + (float)(x))
#define VI(x) ((vi){0} + (int32_t)(x))

static inline vf sel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }

/* exp(x) for every float: Cephes' expf polynomial after x = n ln2 + r, |r| <= ln2 / 2, with
 * 2^n applied in two halves so that results up to FLT_MAX and down to the subnormals are
 * right; +inf above 88.72, 0 below -103.97, NaN kept. */
static inline vf vexp(vf x) {
  vf xc = sel(x > VF(88.7228391f), VF(88.7228391f), x);
  xc = sel(xc < VF(-103.972084f), VF(-103.972084f), xc);
  xc = sel(x != x, VF(0.0f), xc);
  vf t = xc * VF(1.44269504088896341f) + VF(12582912.0f);
  vf n = t - VF(12582912.0f);
  vf r = xc - n * VF(0.693359375f);
  r = r + n * VF(2.12194440e-4f);
  vf p = VF(1.9875691500E-4f);
  p = p * r + VF(1.3981999507E-3f);
  p = p * r + VF(8.3334519073E-3f);
  p = p * r + VF(4.1665795894E-2f);
  p = p * r + VF(1.6666665459E-1f);
  p = p * r + VF(5.0000001201E-1f);
  vf y = p * (r * r) + r + VF(1.0f);
  vi ni = __builtin_convertvector(n, vi);
  vi n1 = ni >> 1;
  vi n2 = ni - n1;
  vf s1 = (vf)((n1 + VI(127)) << 23);
  vf s2 = (vf)((n2 + VI(127)) << 23);
  y = y * s1 * s2;
  y = sel(x > VF(88.7228391f), VF(INFINITY), y);
  y = sel(x < VF(-103.972084f), VF(0.0f), y);
  return sel(x != x, x, y);
}

/* log(x) for x >= the smallest normal float (Cephes' logf polynomial on the mantissa); +inf
 * and NaN kept. The kernel takes logs of sums in [1, K] and of 1 + exp(-|z|) only. */
static inline vf vlog(vf x) {
  vi bits = (vi)x;
  vi e = ((bits >> 23) & VI(0xff)) - VI(126);
  vf m = (vf)((bits & VI(0x807fffff)) | VI(0x3f000000)); /* in [0.5, 1) */
  vi small = m < VF(0.707106781186547524f);
  e = e + (small & VI(-1)); /* e - 1 where small */
  m = sel(small, m + m, m) - VF(1.0f);
  vf z = m * m;
  vf y = VF(7.0376836292E-2f);
  y = y * m + VF(-1.1514610310E-1f);
  y = y * m + VF(1.1676998740E-1f);
  y = y * m + VF(-1.2420140846E-1f);
  y = y * m + VF(1.4249322787E-1f);
  y = y * m + VF(-1.6668057665E-1f);
  y = y * m + VF(2.0000714765E-1f);
  y = y * m + VF(-2.4999993993E-1f);
  y = y * m + VF(3.3333331174E-1f);
  y = y * m * z;
  vf ef = __builtin_convertvector(e, vf);
  y = y + ef * VF(-2.12194440e-4f);
  y = y - VF(0.5f) * z;
  vf r = m + y + ef * VF(0.693359375f);
  r = sel(x == VF(INFINITY), x, r);
  return sel(x != x, x, r);
}

/* log(1 + u) for u in [0, 1]: log(1 + u) * u / ((1 + u) - 1) corrects the rounding of 1 + u */
static inline vf vlog1p(vf u) {
  vf w = VF(1.0f) + u;
  vf d = w - VF(1.0f);
  vf q = vlog(w) * (u / sel(d == VF(0.0f), VF(1.0f), d));
  return sel(d == VF(0.0f), u, q);
}

static inline vf vsigmoid(vf x) { return VF(1.0f) / (VF(1.0f) + vexp(-x)); }

/* tanh: Cephes' odd polynomial below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1) above */
static inline vf vtanh(vf x) {
  vi neg = x < VF(0.0f);
  vf a = sel(neg, -x, x);
  vf z = x * x;
  vf p = VF(-5.70498872745E-3f);
  p = p * z + VF(2.06390887954E-2f);
  p = p * z + VF(-5.37397155531E-2f);
  p = p * z + VF(1.33314422036E-1f);
  p = p * z + VF(-3.33332819422E-1f);
  vf small = p * z * x + x;
  vf big = VF(1.0f) - VF(2.0f) / (vexp(a + a) + VF(1.0f));
  big = sel(neg, -big, big);
  vf y = sel(a < VF(0.625f), small, big);
  return sel(x != x, x, y);
}

/* max(0, z), NaN kept (as torch.relu): one maxps with 0 first on x86 */
static inline vf relu(vf z) {
#if L == 16 && defined(__AVX512F__)
  return (vf)_mm512_max_ps(_mm512_setzero_ps(), (__m512)z);
#elif L == 8 && defined(__AVX__)
  return (vf)_mm256_max_ps(_mm256_setzero_ps(), (__m256)z);
#elif L == 4 && defined(__SSE__)
  return (vf)_mm_max_ps(_mm_setzero_ps(), (__m128)z);
#else
  return sel(VF(0.0f) > z, VF(0.0f), z);
#endif
}

static inline vf activate(vf z, int act) {
  switch (act) {
    case 0: return relu(z);
    case 1: return vtanh(z);
    case 2: return vsigmoid(z);
    default: return z;
  }
}

/* dL/dz from dL/da and a = act(z) */
static inline vf activate_grad(vf g, vf a, int act) {
  switch (act) {
    case 0: return sel(a <= VF(0.0f), VF(0.0f), g);
    case 1: return g * (VF(1.0f) - a * a);
    case 2: return g * a * (VF(1.0f) - a);
    default: return g;
  }
}

typedef struct {
  int64_t P, D, K, nl;
  const int32_t *widths; /* nl + 1: inputs, hidden..., outputs */
  int act, loss;
  unsigned int csr; /* the caller's MXCSR (x86) */
} Net;

/* the loss and correct flag of one sample for every lane, and dL/dz of the batch mean into
 * dz (when not NULL); z, y and dz hold element k at [k * stride] */
static inline void loss_of(const Net *net, const vf *z, const vf *y, vf *dz, int64_t stride,
                           vf inv_b, vf *loss, vf *correct) {
  const int64_t K = net->K;
  if (net->loss == 0) {
    vf zmax = z[0];
    for (int64_t k = 1; k < K; k++) zmax = sel(z[k * stride] > zmax, z[k * stride], zmax);
    vf s = VF(0.0f);
    for (int64_t k = 0; k < K; k++) {
      const vf e = vexp(z[k * stride] - zmax);
      if (dz) dz[k * stride] = e;
      s += e;
    }
    vf lse = zmax + vlog(s);
    vf picked = VF(0.0f);
    for (int64_t k = 0; k < K; k++) picked += y[k * stride] * (z[k * stride] - lse);
    *loss = -picked;
    *correct = sel(picked >= zmax - lse, VF(1.0f), VF(0.0f));
    if (dz) /* softmax as torch computes it, exp(z - max) / sum */
      for (int64_t k = 0; k < K; k++)
        dz[k * stride] = (dz[k * stride] / s - y[k * stride]) * inv_b;
  } else if (net->loss == 1) {
    vf x = z[0], t = y[0];
    vf ax = sel(x < VF(0.0f), -x, x);
    vf relu = sel(x <= VF(0.0f), VF(0.0f), x);
    *loss = relu - x * t + vlog1p(vexp(-ax));
    vi pos = x > VF(0.0f), hit = t > VF(0.5f);
    *correct = sel(~(pos ^ hit), VF(1.0f), VF(0.0f));
    if (dz) dz[0] = (vsigmoid(x) - t) * inv_b;
  } else {
    vf s = VF(0.0f);
    for (int64_t k = 0; k < K; k++) {
      vf d = z[k * stride] - y[k * stride];
      s += d * d;
      if (dz) dz[k * stride] = d * (VF(2.0f) * inv_b / VF((float)K));
    }
    *loss = s / VF((float)K);
    *correct = VF(NAN);
  }
}

/* samples go through the network S at a time: each weight is loaded once for S samples and
 * each gradient element loaded and stored once, with S independent multiply-add chains */
#define S 4

/* out = W in + b for a layer of NO <= 4 outputs: inputs in the outer loop, the NO x S sums
 * in registers (each input loaded once, not once per output) */
static inline void small_layer_n(const vf *W, const vf *bias, const vf *in, vf *out,
                                 int64_t ni, const int64_t NO) {
  vf a[4][S];
  for (int64_t j = 0; j < NO; j++)
    for (int64_t s = 0; s < S; s++) a[j][s] = bias[j];
  for (int64_t i = 0; i < ni; i++)
    for (int64_t j = 0; j < NO; j++) {
      const vf wji = W[j * ni + i];
      for (int64_t s = 0; s < S; s++) a[j][s] += wji * in[i * S + s];
    }
  for (int64_t j = 0; j < NO; j++)
    for (int64_t s = 0; s < S; s++) out[j * S + s] = a[j][s];
}

static void small_layer(const vf *W, const vf *bias, const vf *in, vf *out, int64_t ni,
                        int64_t no) {
  switch (no) { /* a constant count each, so that the sums stay in registers */
    case 1: small_layer_n(W, bias, in, out, ni, 1); break;
    case 2: small_layer_n(W, bias, in, out, ni, 2); break;
    case 3: small_layer_n(W, bias, in, out, ni, 3); break;
    default: small_layer_n(W, bias, in, out, ni, 4); break;
  }
}

/* small counts as constants, so that their loops unroll: a first layer on a few features, an
 * output layer of a few units, a batch of a few features and targets */
#define SMALL_CASES(n, call) \
  switch (n) {              \
    case 1: call(1); break; \
    case 2: call(2); break; \
    case 3: call(3); break; \
    case 4: call(4); break; \
    default: call(n); break; \
  }
#define INLINE static inline __attribute__((always_inline))

/* out = act(W in + b), act a constant in each instance (no branch in the loops) */
INLINE void layer_act(const vf *W, const vf *bias, const vf *in, vf *out, const int64_t ni,
                      int64_t no, const int act) {
  for (int64_t j = 0; j < no; j++) {
    const vf *Wj = W + j * ni;
    vf a[S];
    for (int64_t s = 0; s < S; s++) a[s] = bias[j];
    for (int64_t i = 0; i < ni; i++) {
      const vf wji = Wj[i];
      for (int64_t s = 0; s < S; s++) a[s] += wji * in[i * S + s];
    }
    for (int64_t s = 0; s < S; s++) out[j * S + s] = activate(a[s], act);
  }
}

static void layer(const vf *W, const vf *bias, const vf *in, vf *out, int64_t ni, int64_t no,
                  int act) {
#define LAYER(act, n) layer_act(W, bias, in, out, n, no, act)
#define LAYER0(n) LAYER(0, n)
#define LAYER1(n) LAYER(1, n)
#define LAYER2(n) LAYER(2, n)
#define LAYER3(n) LAYER(3, n)
  switch (act) {
    case 0: SMALL_CASES(ni, LAYER0); break;
    case 1: SMALL_CASES(ni, LAYER1); break;
    case 2: SMALL_CASES(ni, LAYER2); break;
    default: SMALL_CASES(ni, LAYER3); break;
  }
}

/* one layer's backward pass for S samples: gW += delta in^T and, where prev is not NULL,
 * prev = act'(W^T delta) at the layer's inputs ``in`` (act a constant in each instance) */
INLINE void back_act(const vf *W, vf *gW, const vf *in, const vf *delta, vf *prev,
                     const int64_t ni, const int64_t no, const int act) {
  for (int64_t i = 0; i < ni; i++) {
    vf x[S], p[S];
    for (int64_t s = 0; s < S; s++) {
      x[s] = in[i * S + s];
      p[s] = VF(0.0f);
    }
    for (int64_t j = 0; j < no; j++) {
      const vf wji = W[j * ni + i];
      vf g = gW[j * ni + i];
      for (int64_t s = 0; s < S; s++) {
        const vf d = delta[j * S + s];
        g += d * x[s];
        if (prev) p[s] += wji * d;
      }
      gW[j * ni + i] = g;
    }
    if (prev)
      for (int64_t s = 0; s < S; s++) prev[i * S + s] = activate_grad(p[s], x[s], act);
  }
}

static void back(const vf *W, vf *gW, const vf *in, const vf *delta, vf *prev, int64_t ni,
                 int64_t no, int act) {
#define BACK(p, a, n) back_act(W, gW, in, delta, p, ni, n, a)
#define BACK0(n) BACK(prev, 0, n)
#define BACK1(n) BACK(prev, 1, n)
#define BACK2(n) BACK(prev, 2, n)
#define BACK3(n) BACK(prev, 3, n)
  if (!prev) { /* the first layer: no gradient of the inputs (an instance without it) */
    BACK(NULL, 3, no);
    return;
  }
  switch (act) { /* (the output layer has a few units: its loop over them unrolls) */
    case 0: SMALL_CASES(no, BACK0); break;
    case 1: SMALL_CASES(no, BACK1); break;
    case 2: SMALL_CASES(no, BACK2); break;
    default: SMALL_CASES(no, BACK3); break;
  }
}

/* An L x L block transposed in registers: v[l] lane j becomes v[j] lane l. Stage k swaps bit
 * k of the vector index with bit k of the lane index: for each pair (a, a + k), a's lanes with
 * bit k set take a + k's lanes j ^ k, and the other way round; a permutation within each
 * vector (by j ^ k) and a blend, 2 L log2(L) cheap operations for L * L floats, against one
 * scalar store per float (each to another cache line) of a plain copy. Used with 16 lanes
 * and GCC (its __builtin_shuffle); with 8 lanes the scalar copy was as fast on an Intel Xeon,
 * so narrower vectors, and other compilers, copy. */
#if L == 16 && defined(__GNUC__) && !defined(__clang__) /* __builtin_shuffle is GCC's */
#define TRANSPOSES 1
#define IOTA ((vi){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
#define TRANSPOSE_STAGE(k)                                              \
  do {                                                                  \
    const vi flip = IOTA ^ VI(k), pick = IOTA + (((IOTA & VI(k)) != VI(0)) & VI(L)); \
    for (int a = 0; a < L; a++) {                                       \
      if (a & (k)) continue;                                            \
      const vf x = v[a], y = v[a | (k)];                                \
      const vf yf = __builtin_shuffle(y, flip), xf = __builtin_shuffle(x, flip); \
      v[a] = __builtin_shuffle(x, yf, pick);                            \
      v[a | (k)] = __builtin_shuffle(xf, y, pick);                      \
    }                                                                   \
  } while (0)

static inline void transpose(vf *v) {
  TRANSPOSE_STAGE(1);
  TRANSPOSE_STAGE(2);
  TRANSPOSE_STAGE(4);
  TRANSPOSE_STAGE(8);
}
#else
#define TRANSPOSES 0
#endif

/* rows [c0, c0 + lanes) of src [., P] into the lane-interleaved dst[p][lane] (lanes past
 * ``lanes`` zero) */
static void interleave(vf *dst, const float *src, int64_t P, int64_t c0, int64_t lanes) {
  int64_t p0 = 0;
#if TRANSPOSES
  if (lanes == L)
    for (; p0 + L <= P; p0 += L) {
      vf v[L];
      for (int l = 0; l < L; l++) memcpy(&v[l], src + (c0 + l) * P + p0, sizeof(vf));
      transpose(v);
      memcpy(dst + p0, v, sizeof v);
    }
#endif
  float *d = (float *)dst;
  if (p0 < P && lanes < L) memset(dst + p0, 0, sizeof(vf) * (P - p0));
  for (int64_t l = 0; l < lanes; l++) {
    const float *row = src + (c0 + l) * P;
    for (int64_t p = p0; p < P; p++) d[p * L + l] = row[p];
  }
}

/* the inverse: lanes [0, lanes) of src[p][lane] into rows [c0, c0 + lanes) of dst [., P] */
static void deinterleave(float *dst, const vf *src, int64_t P, int64_t c0, int64_t lanes) {
  int64_t p0 = 0;
#if TRANSPOSES
  if (lanes == L)
    for (; p0 + L <= P; p0 += L) {
      vf v[L];
      memcpy(v, src + p0, sizeof v);
      transpose(v);
      for (int l = 0; l < L; l++) memcpy(dst + (c0 + l) * P + p0, &v[l], sizeof(vf));
    }
#endif
  const float *g = (const float *)src;
  for (int64_t l = 0; l < lanes; l++) {
    float *row = dst + (c0 + l) * P;
    for (int64_t p = p0; p < P; p++) row[p] = g[p * L + l];
  }
}

/* a value the compiler cannot see into: a product stays rounded before it is added (no fused
 * multiply-add under -ffp-contract=fast, which also overrides clang's fp-contract pragma) */
#if defined(__AVX512F__) /* ("v": any of the 32 vector registers, 64 bytes wide) */
#define OPAQUE(v) __asm__("" : "+v"(v))
#elif defined(__SSE__)
#define OPAQUE(v) __asm__("" : "+x"(v))
#elif defined(__aarch64__) || defined(__arm__)
#define OPAQUE(v) __asm__("" : "+w"(v))
#else
#define OPAQUE(v)            \
  do {                       \
    volatile vf opaque_ = v; \
    v = opaque_;             \
  } while (0)
#endif

/* The update a training step applies to theta (lrlab_run's rule), as NumPy computes the
 * optimizer's own update (lrlab.lab.optim.KernelUpdate): each product rounded to float32
 * before it is added (no fused multiply-add), with subnormals kept (the caller's MXCSR); the
 * same bits but a NaN's sign and payload. g is the gradient; the coefficients are rows of
 * coef [rows, C], one value per member (the SGD rules' rows r, m, wd, decay; the Adam rows
 * below):
 *   UPDATE_SGD:            theta -= g * r
 *   UPDATE_MOMENTUM:       b = b * m; b = b + g; theta -= b * r         (torch's heavy ball)
 *   UPDATE_KERAS_MOMENTUM: b = b * m; b = b - g * r; theta = theta + b  (Keras' SGD)
 *   (weight decay and Nesterov momentum: see sgd())
 *   UPDATE_ADAM, UPDATE_KERAS_ADAM, rows size, decay, a, c, near, b2, c2, sc2, eps
 *   (buffers e: exp_avg, v: exp_avg_sq):
 *     theta = theta * decay                            (decoupled weight decay; 1: none)
 *     e = near ? e + a * (g - e) : g - (g - e) * c     (torch: lerp, a = 1 - beta1)
 *     e = e * a + g * c                                (Keras: a = beta1, c = 1 - beta1)
 *     v = v * b2 + (g * g) * c2    [UPDATE_COLUMN_B2: v * b2 + g * (g * c2)]
 *     theta -= (e / (sqrt(v) / sc2 + eps)) * size      (Keras: sqrt(v) + eps) */
enum {
  UPDATE_SGD = 0,
  UPDATE_MOMENTUM = 1,
  UPDATE_KERAS_MOMENTUM = 2,
  UPDATE_ADAM = 3,
  UPDATE_KERAS_ADAM = 4,
  UPDATE_RULE = 15,      /* the rule's bits; above them, flags */
  UPDATE_COLUMN_B2 = 16, /* beta2 one per member: NumPy multiplies g * (g * c2) */
  UPDATE_WD = 32,        /* SGD: coupled weight decay */
  UPDATE_DECAY = 64,     /* SGD: decoupled weight decay */
  UPDATE_NESTEROV = 128, /* SGD: Nesterov momentum */
};

typedef struct {
  const float *coef; /* [rows, C] each member's coefficients */
  float *buf0, *buf1; /* [C, P] the optimizer's buffers (momentum; exp_avg, exp_avg_sq) */
  int rule;
  int64_t C;
} Update;

/* lanes [0, lanes) of row k of u's coefficients, from member c0, in one vector (others 0) */
static inline vf coef_of(const Update *u, int k, int64_t c0, int64_t lanes) {
  float each[L] = {0};
  for (int64_t l = 0; l < lanes; l++) each[l] = u->coef[k * u->C + c0 + l];
  vf r;
  memcpy(&r, each, sizeof r);
  return r;
}

static inline vf vsqrt(vf x) {
  vf r;
  for (int l = 0; l < L; l++) r[l] = __builtin_sqrtf(x[l]);
  return r;
}

static void adam(int64_t P, vf *thT, const vf *gT, vf *eT, vf *vT, const Update *u, int64_t c0,
                 int64_t lanes) {
  const int rule = u->rule & UPDATE_RULE, column = u->rule & UPDATE_COLUMN_B2;
  const vf size = coef_of(u, 0, c0, lanes), decay = coef_of(u, 1, c0, lanes);
  const vf a = coef_of(u, 2, c0, lanes), c = coef_of(u, 3, c0, lanes);
  const vi near = coef_of(u, 4, c0, lanes) != VF(0.0f);
  const vf b2 = coef_of(u, 5, c0, lanes), c2 = coef_of(u, 6, c0, lanes);
  const vf sc2 = coef_of(u, 7, c0, lanes), eps = coef_of(u, 8, c0, lanes);
  for (int64_t p = 0; p < P; p++) {
    vf th = thT[p] * decay, g = gT[p], e = eT[p], v = vT[p];
    OPAQUE(th);
    if (rule == UPDATE_ADAM) {
      const vf diff = g - e;
      vf t = a * diff, f = diff * c;
      OPAQUE(t);
      OPAQUE(f);
      e = sel(near, e + t, g - f);
    } else {
      vf t = e * a, f = g * c;
      OPAQUE(t);
      OPAQUE(f);
      e = t + f;
    }
    vf w = v * b2, q;
    if (column) {
      q = g * c2;
      OPAQUE(q);
      q = g * q;
    } else {
      q = g * g;
      OPAQUE(q);
      q = q * c2;
    }
    OPAQUE(w);
    OPAQUE(q);
    v = w + q;
    vf den = vsqrt(v);
    if (rule == UPDATE_ADAM) den = den / sc2;
    den = den + eps;
    vf d = (e / den) * size;
    OPAQUE(d);
    thT[p] = th - d;
    eT[p] = e;
    vT[p] = v;
  }
}

/* the SGD rules, with rows r, m, wd, decay: the weight decay first (UPDATE_DECAY: decoupled,
 * theta = theta * decay; UPDATE_WD: coupled, g = g + theta * wd), then the rule; with
 * UPDATE_NESTEROV, torch's theta -= (g + b * m) * r and Keras' theta = theta - g * r + b * m
 * in place of the momentum rules' last step */
static void sgd(int64_t P, vf *thT, const vf *gT, vf *bT, const Update *u, int64_t c0,
                int64_t lanes) {
  const int rule = u->rule & UPDATE_RULE, nesterov = u->rule & UPDATE_NESTEROV;
  const int coupled = u->rule & UPDATE_WD, decoupled = u->rule & UPDATE_DECAY;
  const vf r = coef_of(u, 0, c0, lanes), m = coef_of(u, 1, c0, lanes);
  const vf wd = coef_of(u, 2, c0, lanes), decay = coef_of(u, 3, c0, lanes);
  for (int64_t p = 0; p < P; p++) {
    vf th = thT[p], g = gT[p];
    if (decoupled) {
      th = th * decay;
      OPAQUE(th);
    }
    if (coupled) {
      vf t = th * wd;
      OPAQUE(t);
      g = g + t;
    }
    if (rule == UPDATE_SGD) {
      vf d = g * r;
      OPAQUE(d);
      th = th - d;
    } else if (rule == UPDATE_MOMENTUM) {
      vf b = bT[p] * m;
      OPAQUE(b);
      b = b + g;
      bT[p] = b;
      vf e = b;
      if (nesterov) {
        vf t = b * m;
        OPAQUE(t);
        e = g + t;
      }
      vf d = e * r;
      OPAQUE(d);
      th = th - d;
    } else {
      vf b = bT[p] * m, d = g * r;
      OPAQUE(b);
      OPAQUE(d);
      b = b - d;
      bT[p] = b;
      if (nesterov) {
        vf t = b * m;
        OPAQUE(t);
        th = th - d;
        th = th + t;
      } else {
        th = th + b;
      }
    }
    thT[p] = th;
  }
}

static void descend(const Net *net, vf *thT, const vf *gT, vf *b0T, vf *b1T, const Update *u,
                    int64_t c0, int64_t lanes) {
#if defined(__SSE__)
  const unsigned int flushing = _mm_getcsr();
  _mm_setcsr(net->csr);
#endif
  if ((u->rule & UPDATE_RULE) <= UPDATE_KERAS_MOMENTUM)
    sgd(net->P, thT, gT, b0T, u, c0, lanes);
  else
    adam(net->P, thT, gT, b0T, b1T, u, c0, lanes);
#if defined(__SSE__)
  _mm_setcsr(flushing);
#endif
}

/* the number of the rule's buffers */
static inline int buffers_of(int rule) {
  rule &= UPDATE_RULE;
  return rule == UPDATE_SGD ? 0 : rule <= UPDATE_KERAS_MOMENTUM ? 1 : 2;
}

/* F columns of samples b0 .. b0 + S - 1 of src [., F] (samples past B repeat b0) for every
 * lane, column f of sample s at dst[f * S + s]: one row for all lanes (rows NULL: row b;
 * row_stride 0: rows[b]), or lane l's member's own, rows[c * row_stride + b] */
INLINE void batch_rows_n(vf *dst, const float *src, const int64_t *rows, int64_t row_stride,
                         int64_t c0, int64_t lanes, int64_t b0, int64_t ns, const int64_t F) {
  float *df = (float *)dst;
  for (int64_t s = 0; s < S; s++) {
    const int64_t b = b0 + (s < ns ? s : 0);
    if (!rows || !row_stride) {
      const int64_t r = rows ? rows[b] : b;
      for (int64_t f = 0; f < F; f++) dst[f * S + s] = VF(src[r * F + f]);
      continue;
    }
    for (int64_t l = 0; l < L; l++) {
      const int64_t r = rows[(l < lanes ? c0 + l : c0) * row_stride + b];
      for (int64_t f = 0; f < F; f++) df[(f * S + s) * L + l] = src[r * F + f];
    }
  }
}

static void batch_rows(vf *dst, const float *src, const int64_t *rows, int64_t row_stride,
                       int64_t c0, int64_t lanes, int64_t b0, int64_t ns, int64_t F) {
#define ROWS(f) batch_rows_n(dst, src, rows, row_stride, c0, lanes, b0, ns, f)
  SMALL_CASES(F, ROWS);
}

/* The members [c0, c0 + lanes) of one group: a step over rows[c * row_stride + b], b < B
 * (train: the gradient of the batch mean loss into grad, and with u the optimizer's update
 * applied to theta: see descend()), or a pass over rows 0..B-1
 * (rows == NULL: evaluation). Per member: the summed loss into loss_out and the number of
 * correct predictions into correct_out. Arrays of activations hold unit i of sample s at
 * [i * S + s]. */
static void group(const Net *net, float *theta, float *grad, const Update *u, int64_t c0,
                  int64_t lanes, const float *X, const float *Y, const int64_t *rows,
                  int64_t row_stride, int64_t B, int train, double *loss_out,
                  double *correct_out, vf *work) {
  const int64_t P = net->P, D = net->D, K = net->K, nl = net->nl;
  const int32_t *w = net->widths;
  int64_t sumw = 0, maxw = 0;
  for (int64_t l = 0; l <= nl; l++) {
    sumw += w[l];
    if (w[l] > maxw) maxw = w[l];
  }
  vf *thT = work, *gT = thT + P, *acts = gT + P, *y = acts + sumw * S, *d0 = y + K * S;
  vf *d1 = d0 + maxw * S, *b0T = d1 + maxw * S, *b1T = b0T + P;
  interleave(thT, theta, P, c0, lanes);
  if (train) memset(gT, 0, sizeof(vf) * P);
  const vf inv_b = VF(1.0f / (float)B);
  vd lsum = {0};
  vd csum = {0};
  for (int64_t b0 = 0; b0 < B; b0 += S) {
    const int64_t ns = B - b0 < S ? B - b0 : S; /* samples past B repeat b0 and count 0 */
    batch_rows(acts, X, rows, row_stride, c0, lanes, b0, ns, D);
    batch_rows(y, Y, rows, row_stride, c0, lanes, b0, ns, K);
    /* forward: acts holds the inputs, each hidden layer's activations and the logits */
    int64_t off = 0, wo = 0;
    for (int64_t l = 0; l < nl; l++) {
      const int64_t ni = w[l], no = w[l + 1];
      const vf *in = acts + off * S, *W = thT + wo, *bias = W + no * ni;
      vf *out = acts + (off + ni) * S;
      const int last = l == nl - 1;
      if (last && no <= 4)
        small_layer(W, bias, in, out, ni, no);
      else
        layer(W, bias, in, out, ni, no, last ? 3 : net->act);
      off += ni;
      wo += no * ni + no;
    }
    const vf *z = acts + off * S;
    for (int64_t s = 0; s < S; s++) {
      vf loss, correct;
      loss_of(net, z + s, y + s, train ? d0 + s : NULL, S, inv_b, &loss, &correct);
      if (s < ns) {
        lsum += __builtin_convertvector(loss, vd);
        csum += __builtin_convertvector(correct, vd);
      } else if (train) {
        for (int64_t k = 0; k < K; k++) d0[k * S + s] = VF(0.0f);
      }
    }
    if (!train) continue;
    /* backward: delta holds dL/dz of layer l's outputs; gradients accumulate in gT */
    vf *delta = d0, *prev = d1;
    for (int64_t l = nl - 1; l >= 0; l--) {
      const int64_t ni = w[l], no = w[l + 1];
      wo -= no * ni + no;
      off -= ni;
      const vf *in = acts + off * S, *W = thT + wo;
      vf *gW = gT + wo, *gb = gW + no * ni;
      for (int64_t j = 0; j < no; j++) {
        vf t = gb[j];
        for (int64_t s = 0; s < S; s++) t += delta[j * S + s];
        gb[j] = t;
      }
      back(W, gW, in, delta, l > 0 ? prev : NULL, ni, no, net->act);
      vf *t = delta;
      delta = prev;
      prev = t;
    }
  }
  if (train && grad) deinterleave(grad, gT, P, c0, lanes);
  if (train && u) {
    const int nb = buffers_of(u->rule);
    if (nb > 0) interleave(b0T, u->buf0, P, c0, lanes);
    if (nb > 1) interleave(b1T, u->buf1, P, c0, lanes);
    descend(net, thT, gT, b0T, b1T, u, c0, lanes);
    deinterleave(theta, thT, P, c0, lanes);
    if (nb > 0) deinterleave(u->buf0, b0T, P, c0, lanes);
    if (nb > 1) deinterleave(u->buf1, b1T, P, c0, lanes);
  }
  for (int64_t l = 0; l < lanes; l++) {
    loss_out[c0 + l] = lsum[l];
    correct_out[c0 + l] = csum[l];
  }
}

/* floats of work one call needs (one group at a time) */
int64_t lrlab_work_floats(int64_t P, const int32_t *widths, int64_t nl) {
  int64_t sumw = 0, maxw = 0;
  for (int64_t l = 0; l <= nl; l++) {
    sumw += widths[l];
    if (widths[l] > maxw) maxw = widths[l];
  }
  return L * (4 * P + S * (sumw + widths[nl] + 2 * maxw));
}

/* Groups [g0, g1) of a cohort of C members: see group(). A training step writes the gradient
 * into grad where it is not NULL, and with coef applies the update ``rule`` to theta, with
 * each member's coefficients in the rows of coef [rows, C] and the optimizer's buffers
 * buf0, buf1 [C, P] (see descend()).
 * work: lrlab_work_floats() floats aligned to 64 bytes, or NULL to allocate them here.
 * Returns 0, or -1 where the work memory could not be allocated (then nothing was
 * computed). */
int lrlab_run(float *theta, float *grad, const float *coef, float *buf0, float *buf1,
              int32_t rule, int64_t C, int64_t P, const int32_t *widths, int64_t nl, int32_t act,
              int32_t loss, const float *X, const float *Y, const int64_t *rows,
              int64_t row_stride, int64_t B, int32_t train, int64_t g0, int64_t g1,
              double *loss_out, double *correct_out, float *work) {
  const Update update = {coef, buf0, buf1, rule, C}, *u = coef ? &update : NULL;
  Net net = {P, widths[0], widths[nl], nl, widths, act, loss, 0};
  vf *own = NULL;
  if (!work) {
    int64_t floats = lrlab_work_floats(P, widths, nl);
    /* (aligned_alloc wants a multiple of the alignment: macOS returns NULL otherwise) */
    own = aligned_alloc(64, (sizeof(float) * floats + 63) / 64 * 64);
    if (!own) return -1;
  }
  vf *w = own ? own : (vf *)work;
#if defined(__SSE__)
  /* subnormal inputs and results as zero while the kernel runs (each one costs a microcode
   * assist of a hundred cycles; a confident softmax underflows to them every sample) */
  const unsigned int csr = _mm_getcsr();
  net.csr = csr;
  _mm_setcsr(csr | 0x8040);
#endif
  for (int64_t g = g0; g < g1; g++) {
    int64_t c0 = g * L, lanes = C - c0 < L ? C - c0 : L;
    group(&net, theta, grad, u, c0, lanes, X, Y, rows, row_stride, B, train, loss_out,
          correct_out, w);
  }
  free(own);
#if defined(__SSE__)
  _mm_setcsr(csr);
#endif
  return 0;
}

int lrlab_lanes(void) { return L; }

/* the kernel's elementwise functions on n floats, for tests and the load-time check:
 * 0 exp, 1 log, 2 tanh, 3 sigmoid, 4 log1p */
void lrlab_math(int32_t fn, const float *x, float *out, int64_t n) {
  for (int64_t i0 = 0; i0 < n; i0 += L) {
    float in[L], res[L];
    for (int64_t l = 0; l < L; l++) in[l] = i0 + l < n ? x[i0 + l] : 0.0f;
    vf v;
    memcpy(&v, in, sizeof v);
    switch (fn) {
      case 0: v = vexp(v); break;
      case 1: v = vlog(v); break;
      case 2: v = vtanh(v); break;
      case 3: v = vsigmoid(v); break;
      default: v = vlog1p(v); break;
    }
    memcpy(res, &v, sizeof v);
    for (int64_t l = 0; l < L && i0 + l < n; l++) out[i0 + l] = res[l];
  }
}

/* MT19937 (Matsumoto and Nishimura, 1998), the generator behind torch.randperm on the CPU and
 * NumPy's RandomState: the reference twist and tempering, a block of outputs at a time (both
 * loops vectorise). state: 624 words; *pos the index of the next word (624: twist first). */
static void mt_twist(uint32_t *mt) {
  int i = 0;
  for (; i < 624 - 397; i++) {
    const uint32_t y = (mt[i] & 0x80000000u) | (mt[i + 1] & 0x7fffffffu);
    mt[i] = mt[i + 397] ^ (y >> 1) ^ (0x9908b0dfu & -(y & 1u));
  }
  for (; i < 623; i++) {
    const uint32_t y = (mt[i] & 0x80000000u) | (mt[i + 1] & 0x7fffffffu);
    mt[i] = mt[i + 397 - 624] ^ (y >> 1) ^ (0x9908b0dfu & -(y & 1u));
  }
  const uint32_t y = (mt[623] & 0x80000000u) | (mt[0] & 0x7fffffffu);
  mt[623] = mt[396] ^ (y >> 1) ^ (0x9908b0dfu & -(y & 1u));
}

/* the generator's next ``count`` outputs into dst */
static void mt_fill(uint32_t *mt, int32_t *pos, uint32_t *dst, int64_t count) {
  while (count > 0) {
    if (*pos >= 624) {
      mt_twist(mt);
      *pos = 0;
    }
    const int64_t take = 624 - *pos < count ? 624 - *pos : count;
    const uint32_t *src = mt + *pos;
    for (int64_t k = 0; k < take; k++) {
      uint32_t y = src[k];
      y ^= y >> 11;
      y ^= (y << 7) & 0x9d2c5680u;
      y ^= (y << 15) & 0xefc60000u;
      y ^= y >> 18;
      dst[k] = y;
    }
    *pos += (int32_t)take;
    dst += take;
    count -= take;
  }
}

/* the high 64 bits of the 128-bit product lo * d, d < 2^32 */
static inline uint64_t high64(uint64_t lo, uint64_t d) {
#if defined(__SIZEOF_INT128__)
  return (uint64_t)(((__uint128_t)lo * d) >> 64);
#else /* (32-bit targets: exact in two halves, as d < 2^32) */
  return ((lo >> 32) * d + (((lo & 0xffffffffu) * d) >> 32)) >> 32;
#endif
}

/* members shuffled side by side (independent swap chains for the CPU to overlap), and the
 * swaps drawn a chunk at a time (the draws and remainders on the stack) */
#define ORDER_WAYS 8
#define ORDER_CHUNK 1024

/* The next epoch's order of n rows for members [c0, c1), as torch.randperm(n) draws it from
 * each member's generator: rows 0..n-1, then for i = 0 .. n-2 a swap of row i with row
 * i + r % (n - i), r the generator's next 32-bit output. state [C, 624], pos [C],
 * out [C, n]. The remainder r % d is exact by multiplication, ((M r) mod 2^64) d / 2^64 with
 * M = floor((2^64 - 1) / d) + 1, exact for every 32-bit r and d (Lemire, Kaser and Kurz,
 * "Faster remainder by direct computation", 2019), one division per d instead of per draw. */
void lrlab_orders(uint32_t *state, int32_t *pos, int64_t *out, int64_t n, int64_t c0,
                  int64_t c1) {
  uint64_t inv[ORDER_CHUNK];
  uint32_t draws[ORDER_WAYS][ORDER_CHUNK];
  if (n == 1)
    for (int64_t c = c0; c < c1; c++) out[c] = 0;
  for (int64_t i0 = 0; i0 + 1 < n; i0 += ORDER_CHUNK) {
    /* (n - i < 2^32: lrlab.lab.engine._order.MAX_ROWS) */
    const int64_t m = n - 1 - i0 < ORDER_CHUNK ? n - 1 - i0 : ORDER_CHUNK;
    for (int64_t k = 0; k < m; k++) inv[k] = UINT64_MAX / (uint64_t)(n - i0 - k) + 1;
    for (int64_t cb = c0; cb < c1; cb += ORDER_WAYS) {
      const int64_t ways = c1 - cb < ORDER_WAYS ? c1 - cb : ORDER_WAYS;
      for (int64_t w = 0; w < ways; w++) {
        mt_fill(state + (cb + w) * 624, pos + cb + w, draws[w], m);
        if (i0 == 0) /* (here, not in a pass before: the rows stay in the cache) */
          for (int64_t i = 0; i < n; i++) out[(cb + w) * n + i] = i;
      }
      for (int64_t k = 0; k < m; k++) {
        const int64_t i = i0 + k;
        const uint64_t M = inv[k], d = (uint64_t)(n - i);
        for (int64_t w = 0; w < ways; w++) {
          int64_t *rows = out + (cb + w) * n;
          const int64_t j = i + (int64_t)high64(M * draws[w][k], d);
          const int64_t t = rows[i];
          rows[i] = rows[j];
          rows[j] = t;
        }
      }
    }
  }
}

/* each member's generator seeded as torch.Generator().manual_seed(seed) and NumPy's
 * RandomState(seed) seed MT19937 (the reference init_genrand on the low 32 bits) */
void lrlab_seed(uint32_t *state, int32_t *pos, const uint32_t *seeds, int64_t C) {
  for (int64_t c = 0; c < C; c++) {
    uint32_t *mt = state + c * 624;
    mt[0] = seeds[c];
    for (uint32_t i = 1; i < 624; i++) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i;
    pos[c] = 624;
  }
}
