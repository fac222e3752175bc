/* The 9P2000.L handlers: what each request does to the file system,
 * through the backend.  They check nothing the contract table states
 * (dispatch.c has done that: the fids exist, are of the right kind, share
 * one export, the export is writable where the request modifies, and the
 * request's credentials are entered); what they check is the request's own
 * arguments (names, sizes, flags).
 *
 * Two kinds of handler:
 *   op_loop_*  loop thread, no system call that can block: argument checks
 *              and the objects a request creates; OP_REPLY (r->err / r->out
 *              set) or OP_WORK;
 *   op_*       worker thread: the file-system part; 0 or -errno, results
 *              in r->out (or encoded in place in r->outbuf).
 */
#ifndef NINEPD_SERVER_OPS_H
#define NINEPD_SERVER_OPS_H

struct req;

enum { OP_REPLY = 0, OP_WORK = 1 };

int op_loop_auth(struct req *r);
int op_loop_attach(struct req *r);
int op_loop_io(struct req *r);       /* Tread, Treaddir: clamp count to msize */
int op_loop_clunk(struct req *r);
int op_loop_xattrwalk(struct req *r);
int op_loop_xattrcreate(struct req *r);

int op_attach(struct req *r);
int op_walk(struct req *r);
int op_lopen(struct req *r);
int op_lcreate(struct req *r);
int op_read(struct req *r);
int op_write(struct req *r);
int op_clunk(struct req *r);
int op_remove(struct req *r);
int op_statfs(struct req *r);
int op_getattr(struct req *r);
int op_setattr(struct req *r);
int op_readlink(struct req *r);
int op_symlink(struct req *r);
int op_mknod(struct req *r);
int op_mkdir(struct req *r);
int op_link(struct req *r);
int op_rename(struct req *r);
int op_renameat(struct req *r);
int op_unlinkat(struct req *r);
int op_xattrwalk(struct req *r);
int op_readdir(struct req *r);
int op_fsync(struct req *r);
int op_lock(struct req *r);
int op_getlock(struct req *r);

#endif
