"""The C source of the tree kernel (:mod:`._tree_kernel`): one fixed program for every model,
kept as a string so the installed package needs no data file."""

__all__ = ["C_SOURCE"]

C_SOURCE = r"""/* modelport tree kernel: flat node tables walked for a whole batch (see _tree_kernel.py). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "float32 sums need FLT_EVAL_METHOD == 0 (every float operation rounded to float): the runtimes stay on numpy"
#endif

typedef struct { double thr; int32_t col; int32_t nx[3]; } tk_node;
typedef struct { double thr; int32_t col; int32_t dl; } tk_cnode;

typedef struct {
    int64_t n_nodes, n_trees, n_cols, n_out, leaf_dim, depth;
    const int8_t *kind, *op;
    const int32_t *col, *set_lo, *set_hi, *next, *roots, *tree_out;
    const double *thr, *members, *value, *tree_w, *init, *count, *post;
    int32_t acc_f32, has_sentinel, cat_in_set_left, cat_invalid_left;
    double sentinel;
    const tk_node *fast;
    int32_t fast_op, c_depth;
    const tk_cnode *cnodes;
    const double *cvalue;
} tk_model;

static int tk_in(const double *m, int32_t lo, int32_t hi, double x) {
    int32_t a = lo, b = hi;
    while (a < b) {
        int32_t mid = a + (b - a) / 2;
        if (m[mid] < x) a = mid + 1; else b = mid;
    }
    return a < hi && m[a] == x;
}

static int32_t tk_leaf(const tk_model *M, int32_t nd, const void *row, int x_f32) {
    for (int64_t d = 0; d < M->depth; d++) {
        int k = M->kind[nd];
        if (k == 0) break;
        int32_t c = M->col[nd];
        double x = x_f32 ? (double)((const float *)row)[c] : ((const double *)row)[c];
        int miss = x != x || (M->has_sentinel && x == M->sentinel);
        int slot;
        if (k == 1) {
            int op = M->op[nd];
            double t = M->thr[nd];
            if (op == 6) slot = miss ? 2 : 0;
            else if (op == 7) slot = miss ? 0 : 2;
            else if (miss) slot = 1;
            else {
                int r = op == 2 ? x < t : op == 3 ? x <= t : op == 4 ? x > t : op == 5 ? x >= t : op == 0 ? x == t : x != t;
                slot = r ? 2 : 0;
            }
        } else if (k == 2) {
            if (miss) slot = 1;
            else {
                int in = tk_in(M->members, M->set_lo[nd], M->set_hi[nd], x);
                slot = (in == (M->op[nd] == 0)) ? 2 : 0;
            }
        } else {
            if (miss) slot = 1;
            else if (!(x >= 0.0 && x < 16777216.0)) slot = M->cat_invalid_left ? 2 : 0;
            else {
                int in = tk_in(M->members, M->set_lo[nd], M->set_hi[nd], floor(x));
                slot = (in == M->cat_in_set_left) ? 2 : 0;
            }
        }
        nd = M->next[3 * (int64_t)nd + slot];
    }
    return nd;
}

/* The fast form (every internal node a numeric comparison with one operator, depth <= 64):
   nodes packed as {thr, col, next[3]} (leaves: col 0, next = themselves), TK_B rows walked
   together branch-free for the same tree (independent chains overlap), exactly `depth` steps. */
#define TK_B 16
#define TK_FAST(NAME, XT, CMP, HS)                                                                   \
static void NAME(const tk_model *M, int32_t root, const char *rows, size_t stride, int nb, int32_t *nd) { \
    const tk_node *N = M->fast;                                                                      \
    const int hs = HS; double sv = M->sentinel;                                                      \
    const char *rp[TK_B];                                                                            \
    for (int i = 0; i < TK_B; i++) { nd[i] = root; rp[i] = rows + (size_t)(i < nb ? i : 0) * stride; } \
    int lanes = nb < 4 ? nb : TK_B; /* one row alone does not walk the spare lanes */                 \
    for (int64_t d = 0; d < M->depth; d++) {                                                         \
        for (int i = 0; i < lanes; i++) {                                                            \
            const tk_node *p = N + nd[i];                                                            \
            double x = (double)((const XT *)rp[i])[p->col];                                          \
            int miss = (x != x) | (hs & (x == sv));                                                  \
            int hit = x CMP p->thr;                                                                  \
            nd[i] = p->nx[miss ? 1 : 2 * hit];                                                       \
        }                                                                                            \
    }                                                                                                \
}
TK_FAST(tk_fast_f32_lt, float, <, 0)
TK_FAST(tk_fast_f32_le, float, <=, 0)
TK_FAST(tk_fast_f64_lt, double, <, 0)
TK_FAST(tk_fast_f64_le, double, <=, 0)
TK_FAST(tk_fast_f32_lt_s, float, <, 1)
TK_FAST(tk_fast_f32_le_s, float, <=, 1)
TK_FAST(tk_fast_f64_lt_s, double, <, 1)
TK_FAST(tk_fast_f64_le_s, double, <=, 1)
typedef void (*tk_fast_fn)(const tk_model *, int32_t, const char *, size_t, int, int32_t *);
static const tk_fast_fn tk_fast_fns[8] = {tk_fast_f64_lt, tk_fast_f64_lt_s, tk_fast_f64_le, tk_fast_f64_le_s,
                                          tk_fast_f32_lt, tk_fast_f32_lt_s, tk_fast_f32_le, tk_fast_f32_le_s};

/* The complete form (the fast form's trees at most 12 deep, default child one of the two
   children, thresholds that are not NaN): every tree laid out as a complete binary tree of
   depth c_depth in level order (children of i at 2i+1 left, 2i+2 right; a leaf above the last
   level is copied into both children, so whichever way a copy goes the value is the same),
   leaf values by position.  Missing values are resolved once per row, not per node: each row
   of a block is prepared as two double copies, missing (NaN or the sentinel) as -inf in the
   first and +inf in the second, and a node reads the first copy if its default is left, the
   second if right (its column is offset by n_cols).  With `<`, -inf < thr holds for every
   threshold above -inf and +inf < thr never does; with `<=`, -inf <= thr always holds and
   +inf <= thr holds only at +inf: the lowering keeps this form only when no default-left `<`
   node has threshold -inf and no default-right `<=` node has +inf, so a missing value goes to
   its default child exactly as the other forms send it.  A step is one node load, one input
   load and one comparison.  The fast forms walk all TK_B lanes (a short block repeats its
   first row in the spare lanes, whose results are never read): a constant lane count lets the
   compiler keep the lanes in registers (measured 23% fewer cycles than a variable count); a
   short block (one row) walks only its own lanes. */
static void tk_prepare(const tk_model *M, const char *rows, size_t stride, int x_f32, int nb, double *buf) {
    int64_t C = M->n_cols;
    for (int i = 0; i < nb; i++) {
        const char *r = rows + (size_t)i * stride;
        double *lo = buf + (size_t)i * 2 * (size_t)C, *hi = lo + C;
        for (int64_t c = 0; c < C; c++) {
            double x = x_f32 ? (double)((const float *)r)[c] : ((const double *)r)[c];
            int miss = x != x || (M->has_sentinel && x == M->sentinel);
            lo[c] = miss ? -HUGE_VAL : x;
            hi[c] = miss ? HUGE_VAL : x;
        }
    }
}

#define TK_COMPLETE(NAME, CMP)                                                                       \
static void NAME(const tk_model *M, int64_t t, const double *buf, int nb, const double **vp) {       \
    int D = M->c_depth;                                                                              \
    int64_t inner = ((int64_t)1 << D) - 1;                                                           \
    const tk_cnode *N = M->cnodes + t * inner;                                                       \
    int32_t ix[TK_B];                                                                                \
    const double *bp[TK_B];                                                                          \
    for (int i = 0; i < TK_B; i++) { ix[i] = 0; bp[i] = buf + (size_t)i * 2 * (size_t)M->n_cols; }   \
    if (nb == TK_B) {                                                                                \
        for (int d = 0; d < D; d++) {                                                                \
            _Pragma("GCC unroll 16")                                                                 \
            for (int i = 0; i < TK_B; i++) {                                                         \
                const tk_cnode *p = N + ix[i];                                                       \
                ix[i] = 2 * ix[i] + 2 - (bp[i][p->col] CMP p->thr);                                  \
            }                                                                                        \
        }                                                                                            \
    } else { /* a short block (a single row): only its own lanes */                                  \
        for (int d = 0; d < D; d++) {                                                                \
            for (int i = 0; i < nb; i++) {                                                           \
                const tk_cnode *p = N + ix[i];                                                       \
                ix[i] = 2 * ix[i] + 2 - (bp[i][p->col] CMP p->thr);                                  \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    for (int i = 0; i < nb; i++) vp[i] = M->cvalue + ((t << D) + (ix[i] - inner)) * M->leaf_dim;     \
}
TK_COMPLETE(tk_complete_lt, <)
TK_COMPLETE(tk_complete_le, <=)

/* The value row each of the nb rows reaches in tree t (buf: the block prepared by tk_prepare
   for the complete form). */
static void tk_block(const tk_model *M, int64_t t, const char *rows, size_t stride, int x_f32, int nb, const double *buf,
                     const double **vp) {
    int32_t nd[TK_B];
    if (M->cnodes) {
        (M->fast_op == 2 ? tk_complete_lt : tk_complete_le)(M, t, buf, nb, vp);
        return;
    }
    if (M->fast) {
        int variant = (x_f32 ? 4 : 0) + (M->fast_op == 2 ? 0 : 2) + (M->has_sentinel ? 1 : 0);
        tk_fast_fns[variant](M, M->roots[t], rows, stride, nb, nd);
    } else {
        for (int i = 0; i < nb; i++) nd[i] = tk_leaf(M, M->roots[t], rows + (size_t)i * stride, x_f32);
    }
    for (int i = 0; i < nb; i++) vp[i] = M->value + (int64_t)nd[i] * M->leaf_dim;
}

/* Per-tree values: out[r * n_trees + t] = value[leaf] (leaf_dim 1). */
int modelport_tk_scores(const tk_model *M, const void *X, int x_f32, int64_t n, double *out) {
    size_t stride = (size_t)M->n_cols * (x_f32 ? sizeof(float) : sizeof(double));
    const double *vp[TK_B];
    double *buf = M->cnodes ? (double *)malloc((size_t)TK_B * 2 * (size_t)M->n_cols * sizeof(double)) : 0;
    if (M->cnodes && !buf) return 1;
    for (int64_t r0 = 0; r0 < n; r0 += TK_B) {
        int nb = n - r0 < TK_B ? (int)(n - r0) : TK_B;
        const char *rows = (const char *)X + (size_t)r0 * stride;
        if (buf) tk_prepare(M, rows, stride, x_f32, nb, buf);
        for (int64_t t = 0; t < M->n_trees; t++) {
            tk_block(M, t, rows, stride, x_f32, nb, buf, vp);
            for (int i = 0; i < nb; i++) out[(r0 + i) * M->n_trees + t] = vp[i][0];
        }
    }
    free(buf);
    return 0;
}

/* Sums per output, tree by tree in order; out is float32 (out_f32) or double [n, n_out]. */
int modelport_tk_sums(const tk_model *M, const void *X, int x_f32, int64_t n, void *out, int out_f32) {
    size_t stride = (size_t)M->n_cols * (x_f32 ? sizeof(float) : sizeof(double));
    int64_t K = M->n_out, L = M->leaf_dim, BK = TK_B * K;
    float s32[TK_B * 4]; double s64[TK_B * 4]; unsigned char s8[TK_B * 4];
    int heap = K > 4;
    float *a32 = heap ? (float *)malloc((size_t)BK * sizeof(float)) : s32;
    double *a64 = heap ? (double *)malloc((size_t)BK * sizeof(double)) : s64;
    unsigned char *started = heap ? (unsigned char *)malloc((size_t)BK) : s8;
    double *buf = M->cnodes ? (double *)malloc((size_t)TK_B * 2 * (size_t)M->n_cols * sizeof(double)) : 0;
    if (!a32 || !a64 || !started || (M->cnodes && !buf)) {
        if (heap) { free(a32); free(a64); free(started); }
        free(buf);
        return 1;
    }
    const double *vp[TK_B];
    for (int64_t r0 = 0; r0 < n; r0 += TK_B) {
        int nb = n - r0 < TK_B ? (int)(n - r0) : TK_B;
        const char *rows = (const char *)X + (size_t)r0 * stride;
        if (buf) tk_prepare(M, rows, stride, x_f32, nb, buf);
        for (int64_t q = 0; q < nb * K; q++) {
            int64_t k = q % K;
            started[q] = M->init != 0;
            if (M->init) { a32[q] = (float)M->init[k]; a64[q] = M->init[k]; }
        }
        for (int64_t t = 0; t < M->n_trees; t++) {
            tk_block(M, t, rows, stride, x_f32, nb, buf, vp);
            if (M->acc_f32 && L == 1 && !M->tree_w) {  /* the common case: one float32 value per tree */
                int64_t k = M->tree_out ? M->tree_out[t] : 0;
                for (int i = 0; i < nb; i++) {
                    int64_t q = i * K + k;
                    float s = (float)vp[i][0];
                    if (started[q]) a32[q] = a32[q] + s; else { a32[q] = s; started[q] = 1; }
                }
                continue;
            }
            for (int i = 0; i < nb; i++) {
                const double *v = vp[i];
                for (int64_t j = 0; j < L; j++) {
                    int64_t q = i * K + (M->tree_out ? M->tree_out[t] : j);
                    if (M->acc_f32) {
                        float s = (float)v[j];
                        if (M->tree_w) s = s * (float)M->tree_w[t];
                        if (started[q]) a32[q] = a32[q] + s; else { a32[q] = s; started[q] = 1; }
                    } else {
                        double s = v[j];
                        if (M->tree_w) s = s * M->tree_w[t];
                        if (started[q]) a64[q] = a64[q] + s; else { a64[q] = s; started[q] = 1; }
                    }
                }
            }
        }
        for (int i = 0; i < nb; i++) {
            for (int64_t k = 0; k < K; k++) {
                int64_t q = i * K + k, o = (r0 + i) * K + k;
                double s = M->acc_f32 ? (double)a32[q] : a64[q];
                if (!M->acc_f32) {
                    if (M->count) s = s / M->count[k];
                    if (M->post) s = s + M->post[k];
                }
                if (out_f32) ((float *)out)[o] = M->acc_f32 ? a32[q] : (float)s;
                else ((double *)out)[o] = s;
            }
        }
    }
    if (heap) { free(a32); free(a64); free(started); }
    free(buf);
    return 0;
}
"""
