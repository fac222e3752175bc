/* --trace: one readable line per T- and R-message. */
#include <inttypes.h>
#include <stdio.h>

#include "server/log.h"
#include "server/trace.h"

/* A client's string, escaped (log_escape): names may hold newlines or
 * terminal escapes that would forge or garble log lines. */
#define S(x) log_escape((char[1024]){0}, 1024, (x).s, (x).len)

static int fmt_qid(char *b, size_t n, const struct np_qid *q)
{
	return snprintf(b, n, "(%02x %" PRIu32 " %" PRIx64 ")", q->type, q->version, q->path);
}

static void fmt_body(char *b, size_t n, const struct np_msg *m)
{
	const __typeof__(m->u) *u = &m->u;
	switch (m->type) {
	case NP_TVERSION:
	case NP_RVERSION:
		snprintf(b, n, "msize=%u version=%s", u->tversion.msize, S(u->tversion.version));
		break;
	case NP_TATTACH:
		snprintf(b, n, "fid=%u afid=%d uname='%s' aname='%s' n_uname=%d", u->tattach.fid,
			 (int)u->tattach.afid, S(u->tattach.uname), S(u->tattach.aname),
			 (int)u->tattach.n_uname);
		break;
	case NP_RLERROR:
		snprintf(b, n, "ecode=%u", u->rlerror.ecode);
		break;
	case NP_TWALK: {
		int k = snprintf(b, n, "fid=%u newfid=%u nwname=%u", u->twalk.fid, u->twalk.newfid,
				 u->twalk.nwname);
		for (unsigned i = 0; i < u->twalk.nwname && k > 0 && (size_t)k < n; i++)
			k += snprintf(b + k, n - (size_t)k, " '%s'", S(u->twalk.wnames[i]));
		break;
	}
	case NP_RWALK: {
		int k = snprintf(b, n, "nwqid=%u", u->rwalk.nwqid);
		for (unsigned i = 0; i < u->rwalk.nwqid && k > 0 && (size_t)k < n; i++) {
			b[k++] = ' ';
			k += fmt_qid(b + k, n - (size_t)k, &u->rwalk.wqids[i]);
		}
		break;
	}
	case NP_RATTACH:
	case NP_RMKDIR:
	case NP_RSYMLINK:
	case NP_RMKNOD:
		fmt_qid(b, n, &u->rattach.qid);
		break;
	case NP_RLOPEN:
	case NP_RLCREATE: {
		int k = fmt_qid(b, n, &u->rlopen.qid);
		snprintf(b + k, n - (size_t)k, " iounit=%u", u->rlopen.iounit);
		break;
	}
	case NP_TLOPEN:
		snprintf(b, n, "fid=%u flags=0%o", u->tlopen.fid, u->tlopen.flags);
		break;
	case NP_TLCREATE:
		snprintf(b, n, "fid=%u name='%s' flags=0%o mode=0%o gid=%u", u->tlcreate.fid,
			 S(u->tlcreate.name), u->tlcreate.flags, u->tlcreate.mode, u->tlcreate.gid);
		break;
	case NP_TREAD:
	case NP_TREADDIR:
		snprintf(b, n, "fid=%u offset=%" PRIu64 " count=%u", u->tread.fid, u->tread.offset,
			 u->tread.count);
		break;
	case NP_TWRITE:
		snprintf(b, n, "fid=%u offset=%" PRIu64 " count=%u", u->twrite.fid, u->twrite.offset,
			 u->twrite.count);
		break;
	case NP_RREAD:
	case NP_RREADDIR:
	case NP_RWRITE:
		snprintf(b, n, "count=%u", u->rread.count);
		break;
	case NP_TMKDIR:
		snprintf(b, n, "dfid=%u name='%s' mode=0%o gid=%u", u->tmkdir.dfid, S(u->tmkdir.name),
			 u->tmkdir.mode, u->tmkdir.gid);
		break;
	case NP_TSYMLINK:
		snprintf(b, n, "dfid=%u name='%s' target='%s'", u->tsymlink.dfid,
			 S(u->tsymlink.name), S(u->tsymlink.target));
		break;
	case NP_TMKNOD:
		snprintf(b, n, "dfid=%u name='%s' mode=0%o %u:%u", u->tmknod.dfid, S(u->tmknod.name),
			 u->tmknod.mode, u->tmknod.major, u->tmknod.minor);
		break;
	case NP_TRENAMEAT:
		snprintf(b, n, "olddirfid=%u '%s' newdirfid=%u '%s'", u->trenameat.olddirfid,
			 S(u->trenameat.oldname), u->trenameat.newdirfid, S(u->trenameat.newname));
		break;
	case NP_TUNLINKAT:
		snprintf(b, n, "dirfid=%u name='%s' flags=0x%x", u->tunlinkat.dirfid,
			 S(u->tunlinkat.name), u->tunlinkat.flags);
		break;
	case NP_TRENAME:
		snprintf(b, n, "fid=%u dfid=%u name='%s'", u->trename.fid, u->trename.dfid,
			 S(u->trename.name));
		break;
	case NP_TLINK:
		snprintf(b, n, "dfid=%u fid=%u name='%s'", u->tlink.dfid, u->tlink.fid,
			 S(u->tlink.name));
		break;
	case NP_TGETATTR:
		snprintf(b, n, "fid=%u mask=0x%" PRIx64, u->tgetattr.fid, u->tgetattr.request_mask);
		break;
	case NP_RGETATTR: {
		int k = fmt_qid(b, n, &u->rgetattr.qid);
		snprintf(b + k, n - (size_t)k, " mode=0%o uid=%u gid=%u size=%" PRIu64,
			 u->rgetattr.mode, u->rgetattr.uid, u->rgetattr.gid, u->rgetattr.size);
		break;
	}
	case NP_TSETATTR:
		snprintf(b, n, "fid=%u valid=0x%x mode=0%o uid=%u gid=%u size=%" PRIu64,
			 u->tsetattr.fid, u->tsetattr.valid, u->tsetattr.mode, u->tsetattr.uid,
			 u->tsetattr.gid, u->tsetattr.size);
		break;
	case NP_TXATTRWALK:
		snprintf(b, n, "fid=%u newfid=%u name='%s'", u->txattrwalk.fid, u->txattrwalk.newfid,
			 S(u->txattrwalk.name));
		break;
	case NP_RXATTRWALK:
		snprintf(b, n, "size=%" PRIu64, u->rxattrwalk.size);
		break;
	case NP_TXATTRCREATE:
		snprintf(b, n, "fid=%u name='%s' size=%" PRIu64 " flags=%u", u->txattrcreate.fid,
			 S(u->txattrcreate.name), u->txattrcreate.attr_size, u->txattrcreate.flags);
		break;
	case NP_TLOCK:
		snprintf(b, n, "fid=%u type=%u flags=%u start=%" PRIu64 " length=%" PRIu64,
			 u->tlock.fid, u->tlock.type, u->tlock.flags, u->tlock.start, u->tlock.length);
		break;
	case NP_RLOCK:
		snprintf(b, n, "status=%u", u->rlock.status);
		break;
	case NP_TFLUSH:
		snprintf(b, n, "oldtag=%u", u->tflush.oldtag);
		break;
	case NP_RREADLINK:
		snprintf(b, n, "target='%s'", S(u->rreadlink.target));
		break;
	case NP_TCLUNK:
	case NP_TREMOVE:
	case NP_TSTATFS:
	case NP_TREADLINK:
	case NP_TFSYNC:
	case NP_TGETLOCK:
		snprintf(b, n, "fid=%u", u->tclunk.fid);
		break;
	default:
		b[0] = '\0';
		break;
	}
}

void trace_msg(uint64_t conn_id, const struct np_msg *m, bool reply)
{
	char body[1024];
	fmt_body(body, sizeof body, m);
	const char *name = np_type_name(m->type);
	log_trace("client %llu %s %s tag=%u %s", (unsigned long long)conn_id, reply ? "<-" : "->",
		  name ? name : "?", m->tag, body);
}
