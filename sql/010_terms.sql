-- 010_terms.sql: the medical terminology (ICD-10 codes in two clinical code systems,
-- aliases, knowledge graph), as loaded by `assay terms load DIR`.
--
-- The tables hold the current version only: a load replaces every row in one
-- transaction and records the version in terms_versions. Rows keep their source
-- order (ord), so `assay terms snapshot` rebuilds exactly the terminology that was
-- loaded and the snapshot carries the same version string.

CREATE TABLE IF NOT EXISTS terms_versions (
    version      text PRIMARY KEY,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    is_current   boolean NOT NULL DEFAULT false,
    n_codes      integer NOT NULL,
    n_aliases    integer NOT NULL,
    n_kg_nodes   integer NOT NULL,
    n_kg_edges   integer NOT NULL
);
COMMENT ON TABLE terms_versions IS
    'Every terminology version ever loaded; exactly one row is current. Scores record the version they used.';
COMMENT ON COLUMN terms_versions.version IS
    'Content version: "t1-" + 16 hex digits of the SHA-256 of the terminology image (same rows, same version).';
COMMENT ON COLUMN terms_versions.source IS 'Directory the TSV files were loaded from.';
COMMENT ON COLUMN terms_versions.is_current IS 'True for the version the terms_* tables hold now.';
COMMENT ON COLUMN terms_versions.n_codes IS 'Counts of the loaded version: concepts (codes in their systems), aliases, graph nodes and edges.';
CREATE UNIQUE INDEX IF NOT EXISTS terms_versions_one_current
    ON terms_versions (is_current) WHERE is_current;

CREATE TABLE IF NOT EXISTS terms_codes (
    origin          text NOT NULL CHECK (origin IN ('icd10', 'bj_v601')),
    ord             integer NOT NULL,
    code_system     text NOT NULL CHECK (code_system IN ('icd10', 'clin2.0', 'bj_v601')),
    code            text NOT NULL,
    parent_code     text,
    level           text,
    depth           smallint,
    name_zh         text NOT NULL,
    name_en         text,
    mark            text,
    morphology_code text,
    source          text,
    PRIMARY KEY (origin, ord)
);
COMMENT ON TABLE terms_codes IS
    'ICD-10 codes: chapters, blocks, categories and subcategories shared by both clinical systems, 国家临床版2.0 clinical and extension codes, 北京临床版 v601 codes. One row per line of icd10.tsv (origin icd10) or icd10_bj_v601.tsv (origin bj_v601).';
COMMENT ON COLUMN terms_codes.origin IS 'Source file: icd10 (icd10.tsv) or bj_v601 (icd10_bj_v601.tsv).';
COMMENT ON COLUMN terms_codes.ord IS 'Line order within the source file (rebuilding a snapshot reads rows in this order).';
COMMENT ON COLUMN terms_codes.code_system IS
    'System of the concept: icd10 (shared levels), clin2.0 or bj_v601. The same code string can mean different things in clin2.0 and bj_v601: always filter on it. A v601 row whose code is a shared category or subcategory has code_system icd10.';
COMMENT ON COLUMN terms_codes.code IS 'The code, e.g. I25.103, A00.000x001, M80000/3.';
COMMENT ON COLUMN terms_codes.parent_code IS
    'Hierarchy: the parent concept''s code (in the same system or the shared levels); NULL for chapters, morphology codes and orphans.';
COMMENT ON COLUMN terms_codes.level IS 'Hierarchy: chapter, block, category, subcategory, clinical, extension or asterisk_code.';
COMMENT ON COLUMN terms_codes.depth IS 'Hierarchy: 1 for a chapter, parent''s depth + 1 below.';
COMMENT ON COLUMN terms_codes.name_zh IS 'Standard Chinese name (may be empty for a few derived parents).';
COMMENT ON COLUMN terms_codes.name_en IS 'ICD-10-CM English title of the same code string (can differ in meaning).';
COMMENT ON COLUMN terms_codes.mark IS 'Dagger/asterisk mark (+ or *) of icd10.tsv.';
COMMENT ON COLUMN terms_codes.morphology_code IS 'Morphology code of a tumour (M....../.).';
COMMENT ON COLUMN terms_codes.source IS 'Provenance column of icd10.tsv.';
CREATE INDEX IF NOT EXISTS terms_codes_code ON terms_codes (code_system, code);
CREATE INDEX IF NOT EXISTS terms_codes_parent ON terms_codes (parent_code);
CREATE INDEX IF NOT EXISTS terms_codes_name ON terms_codes (name_zh);

CREATE TABLE IF NOT EXISTS terms_aliases (
    ord           integer PRIMARY KEY,
    code          text NOT NULL,
    code_system   text NOT NULL CHECK (code_system IN ('clin2.0', 'bj_v601')),
    standard_name text,
    alias         text NOT NULL,
    alias_type    text,
    source        text
);
COMMENT ON TABLE terms_aliases IS
    'Aliases of codes, one row per line of icd10_synonyms.tsv. Evidence, not an official synonym table: bracketed ICD synonyms, CHIP-CDN mentions, 39健康网 and CMeIE synonyms.';
COMMENT ON COLUMN terms_aliases.ord IS 'Line order in icd10_synonyms.tsv.';
COMMENT ON COLUMN terms_aliases.code IS 'The code the alias names, in code_system (or a shared level).';
COMMENT ON COLUMN terms_aliases.standard_name IS 'The standard name of the code as given in the file.';
COMMENT ON COLUMN terms_aliases.alias IS 'The alias text.';
COMMENT ON COLUMN terms_aliases.alias_type IS
    'How the alias was obtained: kg39_disease_alias, chip_cdn_mention, icd_name_bracket_synonym, icd_name_without_bracket, cmeie_synonym.';
COMMENT ON COLUMN terms_aliases.source IS 'Source data set: kg39, chip_cdn, icd_name, cmeie_dev.';
CREATE INDEX IF NOT EXISTS terms_aliases_alias ON terms_aliases (alias);
CREATE INDEX IF NOT EXISTS terms_aliases_code ON terms_aliases (code_system, code);

CREATE TABLE IF NOT EXISTS terms_kg_nodes (
    ord    integer PRIMARY KEY,
    name   text NOT NULL,
    type   text NOT NULL,
    source text
);
COMMENT ON TABLE terms_kg_nodes IS
    'Knowledge-graph nodes, one row per line of kg_nodes.tsv. A node is a (name, type) pair; some names are noisy.';
COMMENT ON COLUMN terms_kg_nodes.type IS 'Node type: 疾病, 症状, 药物, 检查, 治疗, 部位, 科室, ...';
COMMENT ON COLUMN terms_kg_nodes.source IS 'Provenance (kg39, cmeie_dev, lh_dict_*), "|"-separated.';
CREATE INDEX IF NOT EXISTS terms_kg_nodes_name ON terms_kg_nodes (name, type);

CREATE TABLE IF NOT EXISTS terms_kg_edges (
    ord       integer PRIMARY KEY,
    head      text NOT NULL,
    relation  text NOT NULL,
    tail      text NOT NULL,
    head_type text NOT NULL,
    tail_type text NOT NULL,
    source    text
);
COMMENT ON TABLE terms_kg_edges IS
    'Knowledge-graph edges, one row per line of kg_edges.tsv: disease → 别名 / 症状 / 检查 / 并发症 / 就诊科室 / 药物 / 发病部位 / 治疗方式, plus CMeIE relations. Endpoints are (name, type) nodes.';
COMMENT ON COLUMN terms_kg_edges.relation IS 'Edge type, e.g. 症状, 药物, 治疗方式, 并发症, 别名.';
COMMENT ON COLUMN terms_kg_edges.head IS 'Head node name (with head_type).';
COMMENT ON COLUMN terms_kg_edges.tail IS 'Tail node name (with tail_type).';
COMMENT ON COLUMN terms_kg_edges.source IS 'Provenance: kg39 or cmeie_dev.';
CREATE INDEX IF NOT EXISTS terms_kg_edges_head ON terms_kg_edges (head, relation);
CREATE INDEX IF NOT EXISTS terms_kg_edges_tail ON terms_kg_edges (tail, relation);
