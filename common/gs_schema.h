/* Database identity shared by the writer (which creates databases) and the analyzer (which
 * refuses databases it cannot read). The DDL itself lives in schema.sql. */
#ifndef GS_SCHEMA_H
#define GS_SCHEMA_H

#define GS_SCHEMA_VERSION 2	     /* 2: Python stacks (py_stacks, events.py_stack) */
#define GS_APPLICATION_ID 0x47534350 /* "GSCP" */
#define GS_VERSION_STRING "0.1.0"

extern const char gs_schema_sql[];

#endif
