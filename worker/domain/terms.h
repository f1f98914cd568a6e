/*  terms.h: the in-memory medical terminology: ICD-10 codes with their hierarchy,
 *  names and aliases in two code systems, and the medical knowledge graph.
 *
 *  Sources (TSV, UTF-8, one header line, tab-separated; see ../shared/data/README.md):
 *    icd10.tsv          code, parent_code, level, name_zh, name_en_icd10cm,
 *                       dagger_asterisk_or_mark, morphology_code, source
 *                       chapter → block → category → subcategory (shared ICD-10 levels)
 *                       → clinical → extension (国家临床版 2.0), plus asterisk codes
 *    icd10_bj_v601.tsv  code, name_zh (北京临床版 v601; its codes hang under the shared
 *                       category/subcategory their code string starts with)
 *    icd10_synonyms.tsv code, code_system, standard_name, alias, alias_type, source
 *    kg_nodes.tsv       name, type, source
 *    kg_edges.tsv       head, relation, tail, head_type, tail_type, source
 *
 *  Concepts.  A concept is one code in one code system, identified by a dense
 *  assay_term_id_t. Chapters, blocks, categories and subcategories are shared by
 *  both clinical systems (system ASSAY_SYS_ICD10); clinical and extension codes
 *  belong to clin2.0 or bj_v601. The same code string may name different things in
 *  clin2.0 and bj_v601, so every code lookup takes a system; asking for a specific
 *  system also finds the shared levels.
 *
 *  Knowledge graph.  Nodes are (name, type) pairs (疾病, 症状, 药物, 检查, ...);
 *  edges carry a relation (别名, 症状, 药物, 治疗方式, 并发症, ...). Neighbours are
 *  available in both directions. Concepts and KG nodes are linked by name: a KG
 *  node and a concept are linked when the node's name equals the concept's standard
 *  name or one of its aliases (after assay_terms_normkey()).
 *
 *  Storage.  The whole terminology is one contiguous, pointer-free image (arrays of
 *  fixed-size records, hash tables and a string pool). Loading TSVs builds the image
 *  in memory; assay_terms_write_snapshot() writes it to a file, and
 *  assay_terms_open_snapshot() maps that file read-only (mmap, MAP_SHARED) so that
 *  every worker process on a machine shares the same physical pages and startup is
 *  a validation pass. Snapshot file format (version ASSAY_TERMS_FORMAT_VERSION,
 *  host byte order, refused on a byte-order mismatch):
 *
 *    offset 0   header (512 bytes, zero-padded):
 *               char magic[8] = "ASSAYTRM"; u32 format_version; u32 byte_order
 *               (0x01020304 as written); u64 image_size (whole file); char
 *               version[80] (NUL-terminated terminology version); u32 n_sections;
 *               u32 reserved; then n_sections × {u64 offset, u64 size} (bytes from
 *               the start of the file, each 8-aligned), in the section order below.
 *    sections   STRINGS   string pool; every string is a u32 offset, NUL-terminated
 *               CONCEPTS  n × 40-byte records (code, name, name_en, morphology,
 *                         parent, child range, alias range, system, level, depth, flags)
 *               CHILDREN  u32 concept ids grouped by parent
 *               ALIASES   n × 16-byte records (text, concept, type, source) by concept
 *               CODEHASH  open-addressing table of u32 concept ids keyed by
 *                         (system, code); size a power of two, UINT32_MAX = empty
 *               NAMES     n × 12-byte records (normalised key, concept, alias index
 *                         or UINT32_MAX for the standard name), grouped by key
 *               NAMEHASH  open-addressing table of u32 indices of the first NAMES
 *                         record of each key
 *               KGNODES   n × 24-byte records (name, type label, out range, in range),
 *                         sorted so nodes with the same name are adjacent
 *               KGOUT     n × 8-byte edges (other node, relation label, source label)
 *               KGIN      the same edges seen from the tail
 *               KGHASH    open-addressing table of the first KGNODES index per
 *                         normalised name
 *               LABELS    u32 string offsets of the label vocabulary (node types,
 *                         relations, alias types, sources), indexed by label id
 *               EXAMPLES  known mentions, u32 words: mention, n, then n standard
 *                         names (string offsets), one record after the other
 *    Any change to a record layout or a section bumps ASSAY_TERMS_FORMAT_VERSION.
 *
 *  Version.  assay_terms_version() is "t1-" + the first 16 hex digits of the
 *  SHA-256 of the image's sections: the same input rows in the same order give the
 *  same version whether built from TSVs, from the database or read from a snapshot.
 *  Scores record it.
 *
 *  Thread safety: a built or opened terminology is immutable; any number of threads
 *  may query it concurrently. Every returned string is owned by the terminology and
 *  lives as long as it.
 */
#ifndef ASSAY_TERMS_H
#define ASSAY_TERMS_H

#include <stddef.h>
#include <stdint.h>

#define ASSAY_TERMS_FORMAT_VERSION 2
#define ASSAY_TERMS_VERSION_MAX 80

typedef struct assay_terms assay_terms_t;
typedef struct assay_runtime assay_runtime_t;

/* a concept (code in a system) or a KG node; ASSAY_TERM_NONE means "none" */
typedef uint32_t assay_term_id_t;
#define ASSAY_TERM_NONE UINT32_MAX

typedef enum {
    ASSAY_SYS_ICD10 = 0,  /* shared levels: chapter, block, category, subcategory */
    ASSAY_SYS_CLIN20 = 1, /* 国家临床版 2.0 clinical and extension codes */
    ASSAY_SYS_BJV601 = 2, /* 北京临床版 v601 clinical codes (CHIP-CDN labels) */
    ASSAY_SYS_COUNT = 3,
    ASSAY_SYS_ANY = 255 /* in lookups: any system */
} assay_code_system_t;

typedef enum {
    ASSAY_LEVEL_CHAPTER = 1,
    ASSAY_LEVEL_BLOCK = 2,
    ASSAY_LEVEL_CATEGORY = 3,
    ASSAY_LEVEL_SUBCATEGORY = 4,
    ASSAY_LEVEL_CLINICAL = 5,
    ASSAY_LEVEL_EXTENSION = 6
} assay_term_level_t;

/* concept flags */
#define ASSAY_TERM_DAGGER 0x01     /* etiology code (†, "+") */
#define ASSAY_TERM_ASTERISK 0x02   /* manifestation code (*) */
#define ASSAY_TERM_MORPHOLOGY 0x04 /* a morphology (M) code, outside the hierarchy */

/* a concept, as filled in by assay_terms_concept(); strings are never NULL ("" when
 * absent) */
typedef struct {
    assay_term_id_t id;
    const char *code;
    const char *name;       /* standard Chinese name */
    const char *name_en;    /* ICD-10-CM title of the same code string (may differ) */
    const char *morphology; /* morphology code of a tumour, or "" */
    assay_term_id_t parent; /* ASSAY_TERM_NONE for a chapter or a morphology code */
    uint8_t system;         /* assay_code_system_t */
    uint8_t level;          /* assay_term_level_t */
    uint8_t depth;          /* 1 for a chapter, parent's depth + 1 below */
    uint8_t flags;          /* ASSAY_TERM_* */
} assay_concept_t;

/* one alias of a concept */
typedef struct {
    const char *text;
    const char *type;   /* e.g. kg39_disease_alias, chip_cdn_mention, icd_name_bracket_synonym */
    const char *source; /* e.g. kg39, chip_cdn, icd_name, cmeie_dev */
} assay_alias_t;

/* one name hit: a concept whose standard name or alias equals the query */
typedef struct {
    assay_term_id_t concept;
    uint32_t alias; /* index into the concept's aliases, or UINT32_MAX: the standard name */
} assay_name_hit_t;

/* a KG node */
typedef struct {
    assay_term_id_t id;
    const char *name;
    const char *type; /* 疾病, 症状, 药物, 检查, 治疗, 部位, ... */
} assay_kg_node_t;

/* one KG edge seen from a node */
typedef struct {
    assay_term_id_t node; /* the node at the other end */
    const char *relation; /* 别名, 症状, 药物, 治疗方式, 并发症, 检查, 就诊科室, ... */
    const char *source; /* kg39, cmeie_dev */
} assay_kg_edge_t;

typedef enum {
    ASSAY_KG_OUT = 1, /* edges where the node is the head */
    ASSAY_KG_IN = 2,  /* edges where the node is the tail */
    ASSAY_KG_BOTH = 3
} assay_kg_dir_t;

typedef struct {
    size_t concepts;
    size_t per_system[ASSAY_SYS_COUNT];
    size_t aliases;
    size_t names; /* entries of the name index */
    size_t kg_nodes;
    size_t kg_edges;
    size_t examples; /* known mentions (mention → standard names) */
    size_t strings_bytes;
    size_t image_bytes;
    int mapped; /* 1 when opened from a snapshot with mmap */
} assay_terms_stats_t;

/* ---------------------------------------------------------------- loading */

/* load the five TSV files from dir (kg_* files are optional: an absent file means
 * an empty graph), and the known mentions of the optional JSONL files named by
 * assay_terms_example_files() (chip_cdn_train.jsonl, known_mentions.jsonl: one
 * {"text": mention, "normalized": [standard names]} per line, "names" accepted
 * for "normalized"), which the normaliser and the verifier learn from by default.
 * Returns NULL and writes `FILE:LINE:COLUMN: what was wrong` (COLUMN: the 1-based
 * tab-separated field of a TSV, the character of a JSONL line), or the reason a
 * file could not be read, into err on failure. */
assay_terms_t *assay_terms_load_dir(const char *dir, char *err, size_t errlen);
/* the same without the known mentions (the rows the database stores) */
assay_terms_t *assay_terms_load_tsv(const char *dir, char *err, size_t errlen);
/* map a snapshot file read-only; validates the header, section bounds and every
 * stored offset so a damaged file is an error, never a crash */
assay_terms_t *assay_terms_open_snapshot(const char *path, char *err, size_t errlen);
/* a terminology from a copy of a snapshot image held in memory (validated like a
 * file; for tests and fuzzing) */
assay_terms_t *assay_terms_from_image(const void *image, size_t size, char *err, size_t errlen);
/* a directory of TSVs or a snapshot file, whichever path is */
assay_terms_t *assay_terms_open(const char *path, char *err, size_t errlen);
/* write the image to path (via a temporary file and rename, so readers never see a
 * half-written snapshot); 0 or ASSAY_EIO with err filled */
int assay_terms_write_snapshot(const assay_terms_t *self, const char *path, char *err,
                               size_t errlen);
/* a synthetic terminology of about n_concepts concepts (chapters, blocks, categories,
 * subcategories, clinical codes with 1-2 aliases each, and a KG with one disease node
 * and three edges per clinical code), deterministic for a given seed; for benchmarks */
assay_terms_t *assay_terms_synthetic(size_t n_concepts, uint64_t seed);
/* unmaps or frees and nulls *self_p; safe on NULL and twice */
void assay_terms_destroy(assay_terms_t **self_p);

/* the content version ("t1-" + 16 hex digits) */
const char *assay_terms_version(const assay_terms_t *self);
void assay_terms_stats(const assay_terms_t *self, assay_terms_stats_t *out);
/* the raw image (the exact bytes a snapshot holds) */
const void *assay_terms_image(const assay_terms_t *self, size_t *size);

/*  The terminology of this process, shared by every handler through the runtime
 *  (assay_runtime_shared under the name "terms"). The runtime setting "terms" names
 *  a TSV directory or a snapshot file. NULL with err filled when it is not set or
 *  cannot be loaded. Defined in terms_shared.c so that this module links without
 *  the executor. */
const assay_terms_t *assay_terms_shared(assay_runtime_t *rt, char *err, size_t errlen);

/* ------------------------------------------------------- building by rows */

/* The TSV files in the order they are read, and their column counts. */
typedef enum {
    ASSAY_TERMS_ICD10 = 0,    /* icd10.tsv, 8 columns */
    ASSAY_TERMS_BJV601 = 1,   /* icd10_bj_v601.tsv, 2 columns */
    ASSAY_TERMS_SYNONYMS = 2, /* icd10_synonyms.tsv, 6 columns */
    ASSAY_TERMS_KG_NODES = 3, /* kg_nodes.tsv, 3 columns */
    ASSAY_TERMS_KG_EDGES = 4, /* kg_edges.tsv, 6 columns */
    ASSAY_TERMS_FILE_COUNT = 5
} assay_terms_file_t;

/* the file name of f, e.g. "icd10.tsv" */
const char *assay_terms_file_name(assay_terms_file_t f);

/*  Read one TSV file of the terminology: checks the header, then calls row() for
 *  every line with its fields (NUL-terminated, borrowed for the call) and its line
 *  number. row() returns 0 to go on or a negative code to stop (that code is
 *  returned). Errors name file, line and field. A missing file gives ASSAY_ENOTFOUND. */
typedef int (*assay_terms_row_fn)(void *arg, assay_terms_file_t f, size_t line, char **fields,
                                  size_t nfields, char *err, size_t errlen);
int assay_terms_read_tsv(const char *dir, assay_terms_file_t f, assay_terms_row_fn row, void *arg,
                         char *err, size_t errlen);

/*  A builder takes rows of the five files (as parsed from TSV or read back from the
 *  database in their original order) and produces a terminology. Rows of
 *  ASSAY_TERMS_ICD10 must come before ASSAY_TERMS_BJV601, which come before
 *  ASSAY_TERMS_SYNONYMS; KG rows may come at any time. `where` (e.g. "icd10.tsv:12")
 *  prefixes error messages. */
typedef struct assay_terms_builder assay_terms_builder_t;
assay_terms_builder_t *assay_terms_builder_new(void);
void assay_terms_builder_destroy(assay_terms_builder_t **self_p);
/* 0, or ASSAY_EPARSE / ASSAY_EINVAL with `where: field "F": ...` in err */
int assay_terms_builder_add(assay_terms_builder_t *self, assay_terms_file_t f,
                            const char *const *fields, size_t nfields, const char *where, char *err,
                            size_t errlen);
/* add a known mention: a physician-written mention and the standard names it was
 * normalised to (names need not exist: users of the examples skip unknown ones).
 * 0, or ASSAY_EINVAL with `where: ...` in err for an empty mention */
int assay_terms_builder_add_example(assay_terms_builder_t *self, const char *mention,
                                    const char *const *names, size_t n_names, const char *where,
                                    char *err, size_t errlen);
/* read a JSONL file of known mentions into b (fname names it in errors). *added
 * (may be NULL) gets the number kept. 0, ASSAY_ENOTFOUND when the file does not
 * exist, ASSAY_EIO, or ASSAY_EPARSE with `FNAME:LINE:COLUMN: ...` in err */
int assay_terms_read_examples(const char *path, const char *fname, assay_terms_builder_t *b,
                              size_t *added, char *err, size_t errlen);
/* the NULL-terminated names of the known-mention files a terminology directory may hold */
const char *const *assay_terms_example_files(void);

/* build the image; the builder is consumed (destroyed, *self_p nulled) either way */
assay_terms_t *assay_terms_builder_finish(assay_terms_builder_t **self_p, char *err, size_t errlen);

/* ------------------------------------------------------------ concepts */

/* names of systems ("icd10", "clin2.0", "bj_v601") and levels ("chapter", ...) */
const char *assay_terms_system_name(assay_code_system_t sys);
/* parse "clin2.0" / "bj_v601" / "icd10"; 0 or ASSAY_EINVAL */
int assay_terms_system_parse(const char *s, assay_code_system_t *out);
const char *assay_terms_level_name(assay_term_level_t level);

size_t assay_terms_concept_count(const assay_terms_t *self);
/* fill *out for id; 0 or ASSAY_ENOTFOUND */
int assay_terms_concept(const assay_terms_t *self, assay_term_id_t id, assay_concept_t *out);
/* quick accessors; "" / ASSAY_TERM_NONE / 0 for an unknown id */
const char *assay_terms_code(const assay_terms_t *self, assay_term_id_t id);
const char *assay_terms_name(const assay_terms_t *self, assay_term_id_t id);
assay_term_id_t assay_terms_parent(const assay_terms_t *self, assay_term_id_t id);
int assay_terms_depth(const assay_terms_t *self, assay_term_id_t id);
int assay_terms_level(const assay_terms_t *self, assay_term_id_t id);
int assay_terms_system(const assay_terms_t *self, assay_term_id_t id);

/* the concept with this code in sys (a clinical system also finds the shared
 * levels; ASSAY_SYS_ANY tries clin2.0, then bj_v601, then the shared levels).
 * Codes are matched case-insensitively after trimming spaces; a trailing "+"/"*"
 * mark is part of the code. ASSAY_TERM_NONE when absent. */
assay_term_id_t assay_terms_find_code(const assay_terms_t *self, assay_code_system_t sys,
                                      const char *code);
/* concepts whose standard name or an alias equals name after assay_terms_normkey(),
 * restricted to sys (a clinical system includes the shared levels). Writes up to max
 * hits (standard names first, then aliases, each in concept order) and returns the
 * total number of hits. */
size_t assay_terms_find_name(const assay_terms_t *self, const char *name, assay_code_system_t sys,
                             assay_name_hit_t *out, size_t max);
/* the preferred concept for name in sys: a standard-name hit at the deepest level,
 * else among alias hits the concept whose standard name shares most characters with
 * name (冠心病 → 冠状动脉粥样硬化性心脏病 rather than 心绞痛), then the deepest;
 * ASSAY_TERM_NONE when none */
assay_term_id_t assay_terms_lookup(const assay_terms_t *self, const char *name,
                                   assay_code_system_t sys);

/* the normalised form used by every name index: full-width ASCII and punctuation
 * folded to half-width (，→, （→( ［→[ ...), ASCII lower-cased, white space removed,
 * 〔〕【】 folded to []. Writes at most outlen-1 bytes + NUL; returns the length
 * the full key needs (like snprintf). */
size_t assay_terms_normkey(const char *s, char *out, size_t outlen);

size_t assay_terms_alias_count(const assay_terms_t *self, assay_term_id_t id);
/* alias i of concept id; 0 or ASSAY_ENOTFOUND */
int assay_terms_alias(const assay_terms_t *self, assay_term_id_t id, size_t i, assay_alias_t *out);

size_t assay_terms_child_count(const assay_terms_t *self, assay_term_id_t id);
assay_term_id_t assay_terms_child(const assay_terms_t *self, assay_term_id_t id, size_t i);
/* ancestors of id from its parent up to the chapter; writes up to max, returns how
 * many there are */
size_t assay_terms_ancestors(const assay_terms_t *self, assay_term_id_t id, assay_term_id_t *out,
                             size_t max);
/* 1 when anc is id or one of its ancestors */
int assay_terms_is_ancestor(const assay_terms_t *self, assay_term_id_t anc, assay_term_id_t id);
/* lowest common ancestor (a itself when a is an ancestor of b); ASSAY_TERM_NONE when
 * they share no ancestor (different chapters, morphology codes) */
assay_term_id_t assay_terms_lca(const assay_terms_t *self, assay_term_id_t a, assay_term_id_t b);
/* number of hierarchy edges on the path a → lca → b, or -1 without a common ancestor */
int assay_terms_path_distance(const assay_terms_t *self, assay_term_id_t a, assay_term_id_t b);

/* ------------------------------------------------------- knowledge graph */

size_t assay_terms_kg_node_count(const assay_terms_t *self);
size_t assay_terms_kg_edge_count(const assay_terms_t *self);
/* 0 or ASSAY_ENOTFOUND */
int assay_terms_kg_node(const assay_terms_t *self, assay_term_id_t node, assay_kg_node_t *out);
const char *assay_terms_kg_name(const assay_terms_t *self, assay_term_id_t node);
const char *assay_terms_kg_type(const assay_terms_t *self, assay_term_id_t node);
/* nodes named name (normalised) of type (NULL: any type); writes up to max, returns
 * the total */
size_t assay_terms_kg_find(const assay_terms_t *self, const char *name, const char *type,
                           assay_term_id_t *out, size_t max);
/* neighbours of node over edges with relation (NULL: any) in direction dir; writes up
 * to max edges in file order, returns the total */
size_t assay_terms_kg_neighbors(const assay_terms_t *self, assay_term_id_t node,
                                const char *relation, assay_kg_dir_t dir, assay_kg_edge_t *out,
                                size_t max);
/* the number of such edges (e.g. how many diseases a drug treats: relation 药物,
 * ASSAY_KG_IN — a small number means the drug is specific to few diseases) */
size_t assay_terms_kg_degree(const assay_terms_t *self, assay_term_id_t node, const char *relation,
                             assay_kg_dir_t dir);
/* KG nodes of type 疾病 linked to concept (by its standard name or aliases) */
size_t assay_terms_kg_for_concept(const assay_terms_t *self, assay_term_id_t concept,
                                  assay_term_id_t *out, size_t max);
/* concepts in sys linked to a KG node (its name, and the names of its 别名 and 同义词
 * neighbours); writes up to max distinct concepts, returns how many were written */
size_t assay_terms_concepts_for_kg(const assay_terms_t *self, assay_term_id_t node,
                                   assay_code_system_t sys, assay_term_id_t *out, size_t max);

/* the name index, for building matchers over every name: entry i is a normalised
 * key and the concept (and alias) it names; entries with the same key are adjacent.
 * 0 or ASSAY_ENOTFOUND */
size_t assay_terms_name_entry_count(const assay_terms_t *self);
int assay_terms_name_entry(const assay_terms_t *self, size_t i, const char **key,
                           assay_name_hit_t *hit);

/* known mentions carried by the terminology (see assay_terms_load_dir): mention i
 * (NULL past the end) with *n_names its number of standard names, and name j of it */
size_t assay_terms_example_count(const assay_terms_t *self);
const char *assay_terms_example(const assay_terms_t *self, size_t i, size_t *n_names);
const char *assay_terms_example_name(const assay_terms_t *self, size_t i, size_t j);

/* the size of the label vocabulary (node types, relations, alias types, sources) */
size_t assay_terms_label_count(const assay_terms_t *self);

#endif
