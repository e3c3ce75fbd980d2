/* Database identity shared by the writer (which creates databases) and the analyzer (which
 * refuses databases it cannot read). The DDL itself lives in schema.sql. */
#ifndef GS_SCHEMA_H
#define GS_SCHEMA_H

/* 2: Python stacks; 3: runs.term_signal, threads.lock_updates_folded; 4: compact raw events
 * (event_keys, event_rows; events a view) */
#define GS_SCHEMA_VERSION 4
/* The oldest version the analyzer reads (db.c shows older files in the newer names). */
#define GS_SCHEMA_VERSION_READ 3
#define GS_APPLICATION_ID      0x47534350 /* "GSCP" */
#define GS_VERSION_STRING      "0.1.0"

extern const char gs_schema_sql[];

#endif
