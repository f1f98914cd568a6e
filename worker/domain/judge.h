/*  judge.h: reading an LLM judge's reply into scores (pure functions).
 *
 *  Judges are asked for one JSON object {"score": x, <dimension>: x, ...,
 *  "comment": "..."}, and mostly send one, but wrapped in prose, in ```json
 *  fences, with trailing commas or single-quoted strings. The parser, in order:
 *
 *  1. JSON: every balanced {...} in the text (strings of either quote kind are
 *     skipped while balancing) is parsed as JSON; one that fails is parsed again
 *     after safe repairs: outside strings, a comma right before } or ] is dropped
 *     and 'single-quoted' strings become "double-quoted" ones; inside strings, raw
 *     line breaks and tabs become escapes. The last
 *     object holding a score or a known dimension (the names below) wins (judges
 *     reason first and conclude last); its other numeric members are kept as
 *     dimensions too. Numbers may be JSON numbers or strings ("8", "8/10", "80%");
 *     numeric members of a nested object named "dimensions" or "scores" count as
 *     dimensions.
 *  2. Lines, when no object qualifies: "score: 7/10", "**correctness**：0.8",
 *     "总分：8", "逻辑性 = 9" — a name, ':' '：' or '=', a number, an optional
 *     "/D" or "%"; names may sit in “” or 【】. Chinese names map to the English ones
 * (总分/评分/得分 -> score, 正确性 -> correctness, 全面性/完整性 -> comprehensiveness,
 * 有用性/帮助性 -> helpfulness, 无害性/安全性 -> harmlessness, 相关性 -> relevance, 逻辑性 ->
 *     logic, 一致性 -> consistency); a "comment:" / "评语：" / "理由：" line is the
 *     comment.
 *
 *  Scales: a value written with a denominator ("7/10", "7 / 5") is divided by it;
 *  "80%" is 0.8. The other values of one reply share one scale, decided by the
 *  largest of them: all <= 1 -> already 0..1; <= 10 -> divided by 10; <= 100 ->
 *  divided by 100. A negative value, one above 100, or a value above its own
 *  denominator is an error (the reply is not trusted, not clamped).
 *
 *  The overall score is "score" (also "overall", "overall_score", "总分",
 *  "评分", "得分"); without one it is the mean of the dimensions. The comment is
 *  "comment" (also "reason", "explanation", "rationale", "评语", "理由"), "" when
 *  absent.
 */
#ifndef ASSAY_JUDGE_H
#define ASSAY_JUDGE_H

#include <stddef.h>

#define ASSAY_JUDGE_MAX_DIMS 16
#define ASSAY_JUDGE_NAME_MAX 48

typedef struct {
    char name[ASSAY_JUDGE_NAME_MAX];
    double value; /* in [0, 1] */
} assay_judge_dim_t;

typedef struct {
    double score;  /* in [0, 1] */
    int has_score; /* 1: the reply gave it; 0: the mean of the dimensions */
    int ndims;
    assay_judge_dim_t dims[ASSAY_JUDGE_MAX_DIMS];
    char *comment;      /* never NULL after a successful parse */
    const char *method; /* "json", "json_repaired" or "lines" */
} assay_judge_reply_t;

/* Parse a judge's reply. Returns 0 with *out filled (release it), or ASSAY_EPARSE
 * with what was wrong in err (no object or score lines, a value out of range);
 * *out needs no release then. */
int assay_judge_parse(const char *text, size_t len, assay_judge_reply_t *out, char *err,
                      size_t errlen);
void assay_judge_reply_release(assay_judge_reply_t *r);

/* the dimension's value, or -1 when the reply has no such dimension */
double assay_judge_dim(const assay_judge_reply_t *r, const char *name);

#endif
