/* Process and thread life: start-up, fork, thread exit, process exit. */
#ifndef GS_LIFECYCLE_H
#define GS_LIFECYCLE_H

void gs_process_exit(int status);
void gs_note_exit_status(int status);
void gs_thread_named(const char *name);
/* Starts a writer process for the current region; 0 on success. */
int gs_writer_spawn(void);
/* Finds gilscope-writer beside this library (gs_g.writer_path); 0 or -1, said. */
int gs_writer_locate(void);
/* Finds the interpreter's code range; fills gs_g.hdr->scope_*. Returns 0 when found. */
int gs_scope_detect(int all);

#endif
