/*  leak_llm.h: the pure parts of the optional LLM pass of leak removal: reading
 *  a rewrite out of a model reply, deciding whether its length is plausible for
 *  the text it rewrites, and parsing a leak judge's verdict.
 *
 *  No I/O and no state: task_leak_removal.c calls the endpoint and uses these to
 *  judge the replies, so they can be tested on fixed strings.
 */
#ifndef ASSAY_LEAK_LLM_H
#define ASSAY_LEAK_LLM_H

#include <stddef.h>

/* the rewritten text in a model reply (a new string, never NULL): the text inside
 * <rewrite>...</rewrite> when the reply has those tags (the last pair; an opening
 * tag without a closing one takes the rest), else the reply without a
 * surrounding ``` fence; leading and trailing whitespace removed */
char *assay_leak_rewrite_extract(const char *reply);

/* number of UTF-8 characters in s (continuation bytes not counted) */
size_t assay_leak_utf8_chars(const char *s, size_t len);

/* 0 when a rewrite of rewrite_chars characters is plausible for a text of
 * clean_chars characters (min_ratio <= rewrite/clean <= max_ratio, and not
 * empty); else -1 with the reason in why */
int assay_leak_rewrite_length_ok(size_t clean_chars, size_t rewrite_chars, double min_ratio,
                                 double max_ratio, char *why, size_t whylen);

/* A judge verdict. The reply is a JSON object {"leak": true|false, "reason": "..."}
 * (also found inside surrounding text or a ``` fence; "leak" may be a boolean, 0/1,
 * or the strings "true"/"false"/"yes"/"no"), or as a fallback a bare answer: the
 * reply, without trailing punctuation, is one of yes/no/true/false (any case),
 * 是/否/有/无/泄露/未泄露/不泄露, or starts with one of them followed by a
 * punctuation mark or a space and a reason (e.g. "是。诊断直接写在主诉中").
 * Returns 0 with *leak and *reason (a new string, "" when none), or -1 with what
 * is wrong in err. */
int assay_leak_judge_parse(const char *reply, int *leak, char **reason, char *err,
                           size_t errlen);

#endif
