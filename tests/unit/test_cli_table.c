/*  test_cli_table.c: ops/cli/table.c: display widths of mixed-width text, tables
 *  and JSON from query results (built with libpq's result constructors, no server).
 *  The CLI is a program, not a library, so the module's source is compiled in. */
#include "ops/cli/table.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void test_display_width(void **state)
{
    (void)state;
    assert_int_equal(assay_cli_display_width(""), 0);
    assert_int_equal(assay_cli_display_width("abc"), 3);
    assert_int_equal(assay_cli_display_width("药物"), 4);
    assert_int_equal(assay_cli_display_width("a药b"), 4);
    assert_int_equal(assay_cli_display_width("é"), 1);
    /* a truncated sequence and a stray continuation byte count, never overrun */
    assert_int_equal(assay_cli_display_width("\xe8\x8d"), 1);
    assert_int_equal(assay_cli_display_width("\x80x"), 2);
}

/* a result with columns name (text), n (int8), share (numeric), ok (bool) */
static PGresult *s_result(void)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc att[4] = {
        {.name = "name", .typid = 25, .typlen = -1, .atttypmod = -1},
        {.name = "n", .typid = 20, .typlen = 8, .atttypmod = -1},
        {.name = "share", .typid = 1700, .typlen = -1, .atttypmod = -1},
        {.name = "ok", .typid = 16, .typlen = 1, .atttypmod = -1},
    };
    assert_int_equal(PQsetResultAttrs(res, 4, att), 1);
    const char *rows[2][4] = {{"药物", "12", "0.5", "t"}, {"other", "3", NULL, "f"}};
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 4; c++)
            assert_int_equal(PQsetvalue(res, r, c, (char *)rows[r][c],
                                        rows[r][c] ? (int)strlen(rows[r][c]) : -1),
                             1);
    return res;
}

static void test_json(void **state)
{
    (void)state;
    PGresult *res = s_result();
    json_t *j = assay_cli_table_json(res);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "[{\"name\":\"药物\",\"n\":12,\"share\":0.5,\"ok\":true},"
                           "{\"name\":\"other\",\"n\":3,\"share\":null,\"ok\":false}]");
    free(s);
    json_decref(j);
    PQclear(res);
}

static void test_table(void **state)
{
    (void)state;
    PGresult *res = s_result();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assay_cli_table_print(f, res, "T", 0);
    fclose(f);
    /* text left-aligned to the widest cell (药物 is 4 columns), numbers right-aligned */
    assert_string_equal(buf, "T\n"
                             "  name    n  share  ok\n"
                             "  药物   12    0.5  t\n"
                             "  other   3      -  f\n"
                             "\n");
    free(buf);
    PQclear(res);

    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    f = open_memstream(&buf, &len);
    assay_cli_table_print(f, res, "Empty", 1);
    fclose(f);
    assert_string_equal(buf, "\033[1mEmpty\033[0m\n  (none)\n\n");
    free(buf);
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
