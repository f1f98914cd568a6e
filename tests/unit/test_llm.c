/*  test_llm.c: unit tests for worker/llm (parsing, SSE, classification, cost, keys)
 *  from fixture strings; no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/error.h"
#include "common/util.h"
#include "worker/llm/endpoint.h"
#include "worker/llm/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_r1_reasoning_content(void **state)
{
    (void)state;
    const char *body =
        "{\"id\":\"x1\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"答案：C\",\"reasoning_content\":\"首先，..."
        "\\n因此，C。\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":30,"
        "\"completion_tokens_details\":{\"reasoning_tokens\":25}}}";
    assay_llm_result_t r;
    char err[256];
    assert_int_equal(assay_llm_parse_response(body, strlen(body), &r, err, sizeof err), 0);
    assert_int_equal(r.nchoices, 1);
    assert_string_equal(r.choices[0].content, "答案：C");
    assert_string_equal(r.choices[0].reasoning, "首先，...\n因此，C。");
    assert_int_equal(r.choices[0].reasoning_source, ASSAY_REASONING_FIELD);
    assert_string_equal(r.choices[0].finish_reason, "stop");
    assert_null(r.choices[0].refusal);
    assert_string_equal(r.model, "deepseek-reasoner");
    assert_int_equal(r.prompt_tokens, 10);
    assert_int_equal(r.completion_tokens, 30);
    assert_int_equal(r.reasoning_tokens, 25);
    assay_llm_result_release(&r);
}

static void test_reasoning_field_and_blank_lines(void **state)
{
    (void)state;
    /* keep-alive blank lines before the body, "reasoning" instead of reasoning_content */
    const char *body =
        "\n\n\n{\"choices\":[{\"message\":{\"content\":\"A\",\"reasoning\":\"think\"},"
        "\"finish_reason\":\"stop\"}]}\n";
    assay_llm_result_t r;
    char err[256];
    assert_int_equal(assay_llm_parse_response(body, strlen(body), &r, err, sizeof err), 0);
    assert_string_equal(r.choices[0].reasoning, "think");
    assert_string_equal(r.choices[0].content, "A");
    assert_int_equal(r.has_usage, 0);
    assay_llm_result_release(&r);
}

static void test_think_tags(void **state)
{
    (void)state;
    char *rs, *as;
    /* no opening tag: the chat template opened it */
    assert_int_equal(assay_llm_split_think("首先……\n因此 C。\n</think>\n\n答案：C", &rs, &as), 1);
    assert_string_equal(rs, "首先……\n因此 C。");
    assert_string_equal(as, "答案：C");
    free(rs), free(as);
    assert_int_equal(assay_llm_split_think("<think>\nabc\n</think>def", &rs, &as), 1);
    assert_string_equal(rs, "abc");
    assert_string_equal(as, "def");
    free(rs), free(as);
    /* cut off while thinking */
    assert_int_equal(assay_llm_split_think("<think>still going", &rs, &as), 1);
    assert_string_equal(rs, "still going");
    assert_string_equal(as, "");
    free(rs), free(as);
    assert_int_equal(assay_llm_split_think("  just an answer ", &rs, &as), 0);
    assert_string_equal(rs, "");
    assert_string_equal(as, "just an answer");
    free(rs), free(as);

    const char *body = "{\"choices\":[{\"message\":{\"content\":\"r1 r2</think>\\n\\nfinal\"},"
                       "\"finish_reason\":\"stop\"}]}";
    assay_llm_result_t r;
    char err[256];
    assert_int_equal(assay_llm_parse_response(body, strlen(body), &r, err, sizeof err), 0);
    assert_string_equal(r.choices[0].reasoning, "r1 r2");
    assert_string_equal(r.choices[0].content, "final");
    assert_int_equal(r.choices[0].reasoning_source, ASSAY_REASONING_THINK_TAGS);
    assay_llm_result_release(&r);
}

static void test_o3_hidden(void **state)
{
    (void)state;
    const char *body =
        "{\"choices\":[{\"message\":{\"content\":\"C\",\"refusal\":null},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
        "\"completion_tokens\":405,\"completion_tokens_details\":{\"reasoning_tokens\":400}}}";
    assay_llm_result_t r;
    char err[256];
    assert_int_equal(assay_llm_parse_response(body, strlen(body), &r, err, sizeof err), 0);
    assert_string_equal(r.choices[0].reasoning, "");
    assert_int_equal(r.choices[0].reasoning_source, ASSAY_REASONING_HIDDEN);
    assert_int_equal(r.reasoning_tokens, 400);
    assert_null(r.choices[0].refusal);
    assay_llm_result_release(&r);
}

static void test_malformed(void **state)
{
    (void)state;
    assay_llm_result_t r;
    char err[256];
    const char *garbage = "{\"choices\": [{\"message\": {\"content\": tru<html>";
    assert_int_equal(assay_llm_parse_response(garbage, strlen(garbage), &r, err, sizeof err),
                     ASSAY_EPARSE);
    assert_non_null(strstr(err, "malformed JSON"));
    const char *eobj = "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}";
    assert_int_equal(assay_llm_parse_response(eobj, strlen(eobj), &r, err, sizeof err),
                     ASSAY_EPARSE);
    assert_non_null(strstr(err, "overloaded"));
    const char *nochoices = "{\"id\":\"x\"}";
    assert_int_equal(assay_llm_parse_response(nochoices, strlen(nochoices), &r, err, sizeof err),
                     ASSAY_EPARSE);
    assert_non_null(strstr(err, "choices"));
    const char *badmsg = "{\"choices\":[{\"message\":3}]}";
    assert_int_equal(assay_llm_parse_response(badmsg, strlen(badmsg), &r, err, sizeof err),
                     ASSAY_EPARSE);
    const char *empty = "{\"choices\":[]}";
    assert_int_equal(assay_llm_parse_response(empty, strlen(empty), &r, err, sizeof err), 0);
    assert_int_equal(r.nchoices, 0);
    assay_llm_result_release(&r);
}

static const char *s_sse =
    ": keep-alive\r\n\r\n"
    "\n"
    "data: "
    "{\"id\":\"s1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"}}]}\r\n\r\n"
    ": keep-alive\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"首先，\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"因此。\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"答案：\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"C\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":9,"
    "\"completion_tokens_details\":{\"reasoning_tokens\":4}}}\n\n"
    "data: [DONE]\n\n";

static void s_check_sse_result(const assay_llm_result_t *r)
{
    assert_int_equal(r->nchoices, 2);
    assert_string_equal(r->choices[0].reasoning, "首先，因此。");
    assert_string_equal(r->choices[0].content, "答案：C");
    assert_string_equal(r->choices[0].finish_reason, "stop");
    assert_string_equal(r->choices[1].content, "B");
    assert_string_equal(r->choices[1].finish_reason, "length");
    assert_int_equal(r->prompt_tokens, 7);
    assert_int_equal(r->reasoning_tokens, 4);
    assert_string_equal(r->id, "s1");
}

static void test_sse_whole_and_bytewise(void **state)
{
    (void)state;
    char err[256];
    assay_llm_result_t r;
    assay_llm_sse_t *p = assay_llm_sse_new();
    assert_int_equal(assay_llm_sse_feed(p, s_sse, strlen(s_sse)), 0);
    assert_int_equal(assay_llm_sse_finish(p, &r, err, sizeof err), 0);
    s_check_sse_result(&r);
    assay_llm_result_release(&r);
    assay_llm_sse_destroy(&p);

    /* every event split at every possible byte */
    p = assay_llm_sse_new();
    for (size_t i = 0; i < strlen(s_sse); i++)
        assert_int_equal(assay_llm_sse_feed(p, s_sse + i, 1), 0);
    assert_int_equal(assay_llm_sse_finish(p, &r, err, sizeof err), 0);
    s_check_sse_result(&r);
    assay_llm_result_release(&r);
    assay_llm_sse_destroy(&p);
    assay_llm_sse_destroy(&p); /* safe twice */
}

static void test_sse_think_and_faults(void **state)
{
    (void)state;
    char err[256];
    assay_llm_result_t r;
    const char *think =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abc</thi\"}}]}\n\n"
        "data: "
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nk>C\"},\"finish_reason\":\"stop\"}]}"
        "\n\n"
        "data: [DONE]\n\n";
    assay_llm_sse_t *p = assay_llm_sse_new();
    assay_llm_sse_feed(p, think, strlen(think));
    assert_int_equal(assay_llm_sse_finish(p, &r, err, sizeof err), 0);
    assert_string_equal(r.choices[0].reasoning, "abc");
    assert_string_equal(r.choices[0].content, "C");
    assay_llm_result_release(&r);
    assay_llm_sse_destroy(&p);

    /* truncated: no finish_reason and no [DONE] */
    const char *trunc = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"}}]}\n\n"
                        "data: {\"choices\":[{\"index\":0,\"del";
    p = assay_llm_sse_new();
    assay_llm_sse_feed(p, trunc, strlen(trunc));
    int rc = assay_llm_sse_finish(p, &r, err, sizeof err);
    assert_true(rc == ASSAY_ETRUNC || rc == ASSAY_EPARSE);
    assay_llm_sse_destroy(&p);

    const char *trunc2 = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"}}]}\n\n";
    p = assay_llm_sse_new();
    assay_llm_sse_feed(p, trunc2, strlen(trunc2));
    assert_int_equal(assay_llm_sse_finish(p, &r, err, sizeof err), ASSAY_ETRUNC);
    assert_non_null(strstr(err, "DONE"));
    assay_llm_sse_destroy(&p);

    const char *garbage = "data: {\"choices\": [{\"delta\": {\"content\": tru\n\n";
    p = assay_llm_sse_new();
    assert_int_equal(assay_llm_sse_feed(p, garbage, strlen(garbage)), ASSAY_EPARSE);
    assert_int_equal(assay_llm_sse_finish(p, &r, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "malformed"));
    assay_llm_sse_destroy(&p);

    const char *eev = "data: {\"error\":{\"message\":\"boom\"}}\n\n";
    p = assay_llm_sse_new();
    assay_llm_sse_feed(p, eev, strlen(eev));
    assert_int_equal(assay_llm_sse_finish(p, &r, err, sizeof err), ASSAY_EPARSE);
    assert_non_null(strstr(err, "boom"));
    assay_llm_sse_destroy(&p);
}

/* a response as http.c would hand it over, with headers "name\0value\0..." */
static assay_http_response_t s_resp(long status, const char *body, assay_buf_t *h, ...)
{
    assay_http_response_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.body = body;
    r.body_len = strlen(body);
    r.errmsg = "";
    va_list ap;
    va_start(ap, h);
    const char *name;
    while ((name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        assay_buf_add(h, name, strlen(name) + 1);
        assay_buf_add(h, value, strlen(value) + 1);
    }
    va_end(ap);
    r.priv = h;
    return r;
}

static assay_endpoint_t *s_endpoint(const char *key)
{
    assay_config_t *cfg = assay_config_new();
    assay_config_set(cfg, "endpoint.t.base_url", "http://127.0.0.1:1/v1/");
    assay_config_set(cfg, "endpoint.t.model", "m");
    assay_config_set(cfg, "endpoint.t.price_in_per_mtok", "2");
    assay_config_set(cfg, "endpoint.t.price_out_per_mtok", "8");
    if (key) {
        setenv("ASSAY_TEST_LLM_KEY", key, 1);
        assay_config_set(cfg, "endpoint.t.api_key_env", "ASSAY_TEST_LLM_KEY");
    }
    char err[256];
    assay_endpoint_t *ep = assay_endpoint_load(cfg, "t", err, sizeof err);
    assert_non_null(ep);
    assay_config_destroy(&cfg);
    return ep;
}

static void test_classify(void **state)
{
    (void)state;
    assay_endpoint_t *ep = s_endpoint("sk-secret-123456");
    assert_string_equal(ep->url, "http://127.0.0.1:1/v1/chat/completions");
    assay_llm_status_t st;
    assay_buf_t h = ASSAY_BUF_INIT;

    assay_http_response_t r =
        s_resp(429, "{\"error\":{\"message\":\"slow down\"}}", &h, "retry-after", "2", NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RATELIMIT);
    assert_int_equal(st.retry_after_ms, 2000);
    assert_non_null(strstr(st.reason, "slow down"));
    assay_buf_reset(&h);

    r = s_resp(429, "", &h, "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests",
               "1m30s", "x-ratelimit-remaining-tokens", "500", "x-ratelimit-reset-tokens", "10ms",
               NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RATELIMIT);
    assert_int_equal(st.retry_after_ms, 90000);
    assay_buf_reset(&h);

    /* an HTTP date 5 s after "now" */
    r = s_resp(429, "", &h, "retry-after", "Sun, 06 Nov 1994 08:49:42 GMT", NULL);
    assert_int_equal(assay_llm_retry_after_ms(&r, 784111777000LL), 5000);
    assay_buf_reset(&h);

    r = s_resp(503, "<html>busy</html>", &h, NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RETRY);
    assert_non_null(strstr(st.reason, "503"));
    r = s_resp(500, "{}", &h, NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RETRY);
    r = s_resp(400, "{\"error\":{\"message\":\"bad param\"}}", &h, NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_FATAL);
    assert_non_null(strstr(st.reason, "bad param"));
    /* the server echoes the key: it must not reach the reason */
    r = s_resp(401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-secret-123456\"}}",
               &h, NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_FATAL);
    assert_null(strstr(st.reason, "sk-secret-123456"));
    assert_non_null(strstr(st.reason, "[redacted]"));
    r = s_resp(200, "{}", &h, NULL);
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_OK);

    r = s_resp(0, "", &h, NULL);
    r.err = ASSAY_ETIMEOUT;
    r.timeout_kind = 2;
    r.errmsg = "no response byte";
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RETRY);
    assert_non_null(strstr(st.reason, "first byte timeout"));
    r.err = ASSAY_ETRUNC;
    r.errmsg = "transfer closed with 100 bytes remaining to read";
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RETRY);
    assert_non_null(strstr(st.reason, "truncated"));
    r.err = ASSAY_EHTTP;
    r.cert_error = 1;
    r.errmsg = "SSL certificate problem: unable to get local issuer certificate";
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_FATAL);
    assert_non_null(strstr(st.reason, "certificate"));
    r.cert_error = 0;
    r.errmsg = "Failed to connect to 127.0.0.1 port 1: Connection refused";
    assay_llm_classify_http(ep, &r, &st);
    assert_int_equal(st.verdict, ASSAY_LLM_RETRY);
    assay_buf_release(&h);
    assay_endpoint_destroy(&ep);
}

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(assay_llm_parse_duration_ms("20ms"), 20);
    assert_int_equal(assay_llm_parse_duration_ms("1.5s"), 1500);
    assert_int_equal(assay_llm_parse_duration_ms("6m0s"), 360000);
    assert_int_equal(assay_llm_parse_duration_ms("1h2m3s"), 3723000);
    assert_int_equal(assay_llm_parse_duration_ms("7"), 7000);
    assert_int_equal(assay_llm_parse_duration_ms("abc"), -1);
    assert_int_equal(assay_llm_parse_duration_ms(""), -1);
    assert_int_equal(assay_llm_parse_duration_ms("5x"), -1);
}

static void test_request_json(void **state)
{
    (void)state;
    assay_endpoint_t *ep = s_endpoint(NULL);
    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
    assay_llm_params_t p;
    assay_llm_params_init(&p);
    p.temperature = 0.7;
    p.max_tokens = 100;
    p.reasoning_effort = "high";
    p.n = 4;
    p.has_seed = 1;
    p.seed = 42;
    ep->style = ASSAY_STYLE_R1;
    json_t *j = assay_llm_request_json(ep, msgs, &p);
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 100);
    assert_true(json_real_value(json_object_get(j, "temperature")) > 0.69);
    assert_null(json_object_get(j, "reasoning_effort"));
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "seed")), 42);
    assert_null(json_object_get(j, "stream"));
    json_decref(j);
    ep->style = ASSAY_STYLE_O3;
    p.stream = 1;
    j = assay_llm_request_json(ep, msgs, &p);
    assert_int_equal(json_integer_value(json_object_get(j, "max_completion_tokens")), 100);
    assert_null(json_object_get(j, "max_tokens"));
    assert_null(json_object_get(j, "temperature"));
    assert_string_equal(json_string_value(json_object_get(j, "reasoning_effort")), "high");
    assert_true(
        json_is_true(json_object_get(json_object_get(j, "stream_options"), "include_usage")));
    json_decref(j);
    json_decref(msgs);
    assay_endpoint_destroy(&ep);
}

static void test_cost_and_cache_key(void **state)
{
    (void)state;
    assay_endpoint_t *ep = s_endpoint(NULL);
    /* 1M prompt tokens at 2 + 0.5M completion at 8 */
    double c = assay_llm_cost(ep, 1000000, 500000);
    assert_true(c > 5.999 && c < 6.001);
    assay_endpoint_destroy(&ep);

    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "问题");
    json_t *p1 = json_pack("{s:f,s:i}", "temperature", 0.7, "seed", 1);
    json_t *p2 = json_pack("{s:i,s:f}", "seed", 1, "temperature", 0.7);
    json_t *p3 = json_pack("{s:f,s:i}", "temperature", 0.8, "seed", 1);
    char k1[65], k2[65], k3[65], k4[65], k5[65];
    assay_llm_cache_key("m", msgs, p1, 0, k1);
    assay_llm_cache_key("m", msgs, p2, 0, k2);
    assay_llm_cache_key("m", msgs, p3, 0, k3);
    assay_llm_cache_key("m", msgs, p1, 1, k4);
    assay_llm_cache_key("other", msgs, p1, 0, k5);
    assert_int_equal(strlen(k1), 64);
    assert_string_equal(k1, k2); /* key order does not matter */
    assert_string_not_equal(k1, k3);
    assert_string_not_equal(k1, k4);
    assert_string_not_equal(k1, k5);
    json_decref(msgs), json_decref(p1), json_decref(p2), json_decref(p3);
}

static void test_refusal_parse(void **state)
{
    (void)state;
    const char *body = "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"I can't.\"},"
                       "\"finish_reason\":\"stop\"}]}";
    assay_llm_result_t r;
    char err[256];
    assert_int_equal(assay_llm_parse_response(body, strlen(body), &r, err, sizeof err), 0);
    assert_string_equal(r.choices[0].refusal, "I can't.");
    assert_string_equal(r.choices[0].content, "");
    assay_llm_result_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_r1_reasoning_content),
        cmocka_unit_test(test_reasoning_field_and_blank_lines),
        cmocka_unit_test(test_think_tags),
        cmocka_unit_test(test_o3_hidden),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sse_whole_and_bytewise),
        cmocka_unit_test(test_sse_think_and_faults),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_request_json),
        cmocka_unit_test(test_cost_and_cache_key),
        cmocka_unit_test(test_refusal_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
