/*  http.c: libcurl multi wrapper (see http.h).
 *
 *  Sockets: curl tells us through CURLMOPT_SOCKETFUNCTION which sockets to watch;
 *  we keep them in a flat array (the index is stored with curl_multi_assign so
 *  updates are O(1)) that the loop owner copies into its pollfd set. Timers: curl's
 *  single timer (CURLMOPT_TIMERFUNCTION) plus our own min-heap of first-byte
 *  deadlines, which curl has no option for. Finished transfers are collected with
 *  curl_multi_info_read after every pass and their callbacks run outside any curl
 *  callback, so a completion callback may start new requests.
 */
#include "common/http.h"

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <strings.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define S_FREE_EASY_MAX 256

typedef struct s_req s_req_t;

struct s_req {
    assay_http_t *owner;
    CURL *easy;
    uint64_t id;
    struct curl_slist *headers;
    char *body;
    assay_buf_t resp_body;
    assay_buf_t resp_headers; /* "name\0value\0" pairs, names lower-cased */
    size_t max_body;
    int too_big;
    int receiver_abort;
    int got_first_byte;
    int64_t fb_deadline_ms;
    int heap_idx; /* position in the first-byte heap, -1 when not in it */
    assay_http_data_fn on_data;
    assay_http_done_fn on_done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    s_req_t *prev, *next; /* in-flight list */
};

typedef struct {
    curl_socket_t fd;
    short events;
} s_sock_t;

typedef struct {
    int64_t due_ms;
    uint64_t id;
    void (*fn)(void *arg);
    void *arg;
} s_timer_t;

struct assay_http {
    CURLM *multi;
    CURLSH *share;
    int epfd; /* mirrors socks[] for loops that poll one descriptor */
    s_sock_t *socks;
    int nsocks, capsocks;
    int64_t timer_deadline_ms; /* -1 = no curl timer */
    s_req_t **heap;
    int nheap, capheap;
    s_req_t *inflight;
    int ninflight;
    CURL **free_easy;
    int nfree;
    uint64_t next_id;
    char *proxy;
    char *ca_file;
    char *user_agent;
    long max_host_connections;
    s_timer_t *timers; /* unordered: few at a time (retry backoffs) */
    int closing;       /* in assay_http_destroy: no new requests or timers */
    int ntimers, captimers;
};

/* ---- first-byte deadline heap ------------------------------------------------ */

static void s_heap_swap(assay_http_t *self, int a, int b)
{
    s_req_t *t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
    self->heap[a]->heap_idx = a;
    self->heap[b]->heap_idx = b;
}

static void s_heap_up(assay_http_t *self, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (self->heap[p]->fb_deadline_ms <= self->heap[i]->fb_deadline_ms) break;
        s_heap_swap(self, p, i);
        i = p;
    }
}

static void s_heap_down(assay_http_t *self, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->nheap && self->heap[l]->fb_deadline_ms < self->heap[m]->fb_deadline_ms) m = l;
        if (r < self->nheap && self->heap[r]->fb_deadline_ms < self->heap[m]->fb_deadline_ms) m = r;
        if (m == i) break;
        s_heap_swap(self, i, m);
        i = m;
    }
}

static void s_heap_push(assay_http_t *self, s_req_t *r)
{
    if (self->nheap == self->capheap) {
        self->capheap = self->capheap ? self->capheap * 2 : 64;
        self->heap = assay_realloc(self->heap, (size_t)self->capheap * sizeof *self->heap);
    }
    r->heap_idx = self->nheap;
    self->heap[self->nheap++] = r;
    s_heap_up(self, r->heap_idx);
}

static void s_heap_remove(assay_http_t *self, s_req_t *r)
{
    int i = r->heap_idx;
    if (i < 0) return;
    r->heap_idx = -1;
    self->nheap--;
    if (i == self->nheap) return;
    self->heap[i] = self->heap[self->nheap];
    self->heap[i]->heap_idx = i;
    s_heap_down(self, i);
    s_heap_up(self, i);
}

/* ---- curl callbacks ------------------------------------------------------------ */

static void s_epoll(assay_http_t *self, int op, curl_socket_t fd, short events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((events & POLLIN) ? EPOLLIN : 0) | ((events & POLLOUT) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    if (epoll_ctl(self->epfd, op, fd, &ev) != 0 && op != EPOLL_CTL_DEL)
        log_warn("http", "could not watch socket %d: %s", (int)fd, strerror(errno));
}

static int s_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    assay_http_t *self = userp;
    intptr_t slot = (intptr_t)socketp; /* index + 1, 0 = not tracked yet */
    if (what == CURL_POLL_REMOVE) {
        if (slot > 0) {
            s_epoll(self, EPOLL_CTL_DEL, fd, 0);
            int i = (int)slot - 1;
            self->nsocks--;
            if (i != self->nsocks) {
                self->socks[i] = self->socks[self->nsocks];
                curl_multi_assign(self->multi, self->socks[i].fd, (void *)(intptr_t)(i + 1));
            }
            curl_multi_assign(self->multi, fd, NULL);
        }
        return 0;
    }
    short events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= POLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= POLLOUT;
    if (slot > 0) {
        if (self->socks[slot - 1].events != events) s_epoll(self, EPOLL_CTL_MOD, fd, events);
        self->socks[slot - 1].events = events;
        return 0;
    }
    s_epoll(self, EPOLL_CTL_ADD, fd, events);
    if (self->nsocks == self->capsocks) {
        self->capsocks = self->capsocks ? self->capsocks * 2 : 64;
        self->socks = assay_realloc(self->socks, (size_t)self->capsocks * sizeof *self->socks);
    }
    self->socks[self->nsocks].fd = fd;
    self->socks[self->nsocks].events = events;
    self->nsocks++;
    curl_multi_assign(self->multi, fd, (void *)(intptr_t)self->nsocks);
    return 0;
}

static int s_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    assay_http_t *self = userp;
    self->timer_deadline_ms = timeout_ms < 0 ? -1 : assay_clock_ms() + timeout_ms;
    return 0;
}

static void s_first_byte(s_req_t *r)
{
    if (r->got_first_byte) return;
    r->got_first_byte = 1;
    s_heap_remove(r->owner, r);
}

static size_t s_header_cb(char *data, size_t size, size_t nitems, void *userp)
{
    s_req_t *r = userp;
    size_t len = size * nitems;
    s_first_byte(r);
    /* a new status line starts a new header block (after 100 Continue, redirects) */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        assay_buf_reset(&r->resp_headers);
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    for (size_t i = 0; i < nlen; i++) {
        char c = data[i];
        assay_buf_addc(&r->resp_headers, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
    }
    assay_buf_addc(&r->resp_headers, '\0');
    assay_buf_add(&r->resp_headers, v, (size_t)(end - v));
    assay_buf_addc(&r->resp_headers, '\0');
    return len;
}

static size_t s_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    s_req_t *r = userp;
    size_t len = size * nmemb;
    s_first_byte(r);
    if (r->on_data) {
        if (r->on_data(data, len, r->arg) != 0) {
            r->receiver_abort = 1;
            return 0;
        }
        return len;
    }
    if (r->resp_body.len + len > r->max_body) {
        r->too_big = 1;
        return 0;
    }
    assay_buf_add(&r->resp_body, data, len);
    return len;
}

/* ---- lifecycle ----------------------------------------------------------------- */

assay_http_t *assay_http_new(const assay_config_t *cfg)
{
    /* reference-counted and thread-safe in the libcurl we require (>= 7.84) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    assay_http_t *self = ASSAY_NEW(assay_http_t);
    self->multi = curl_multi_init();
    if (!self->multi) {
        log_error("http", "could not create the curl multi handle");
        abort();
    }
    self->timer_deadline_ms = -1;
    self->next_id = 1;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        log_error("http", "could not create an epoll set: %s", strerror(errno));
        abort();
    }
    long max_conn = cfg ? assay_config_get_long(cfg, "http.max_connections", 4096) : 4096;
    self->max_host_connections =
        cfg ? assay_config_get_long(cfg, "http.max_host_connections", 0) : 0;
    const char *proxy = cfg ? assay_config_get(cfg, "http.proxy", NULL) : NULL;
    const char *ca = cfg ? assay_config_get(cfg, "http.ca_file", NULL) : NULL;
    const char *ua = cfg ? assay_config_get(cfg, "http.user_agent", NULL) : NULL;
    self->proxy = proxy && *proxy ? assay_strdup(proxy) : NULL;
    self->ca_file = ca && *ca ? assay_strdup(ca) : NULL;
    self->user_agent = assay_strdup(ua && *ua ? ua : "assay/" ASSAY_VERSION);

    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(self->multi, CURLMOPT_MAXCONNECTS, max_conn);
    if (self->max_host_connections > 0)
        curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, self->max_host_connections);
    /* TLS sessions are per easy handle unless shared; sharing lets new
     * connections to the same host resume instead of a full handshake */
    self->share = curl_share_init();
    if (self->share) curl_share_setopt(self->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return self;
}

static void s_req_free(s_req_t *r)
{
    curl_slist_free_all(r->headers);
    free(r->body);
    assay_buf_release(&r->resp_body);
    assay_buf_release(&r->resp_headers);
    free(r);
}

static void s_unlink(assay_http_t *self, s_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        self->inflight = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    self->ninflight--;
    s_heap_remove(self, r);
}

/* detach the easy handle from the multi and keep it for reuse */
static void s_release_easy(assay_http_t *self, s_req_t *r)
{
    curl_multi_remove_handle(self->multi, r->easy);
    if (self->nfree < S_FREE_EASY_MAX) {
        if (!self->free_easy)
            self->free_easy = assay_malloc(S_FREE_EASY_MAX * sizeof *self->free_easy);
        curl_easy_reset(r->easy);
        self->free_easy[self->nfree++] = r->easy;
    } else {
        curl_easy_cleanup(r->easy);
    }
    r->easy = NULL;
}

static void s_complete(assay_http_t *self, s_req_t *r, CURLcode rc, int forced_err,
                       const char *forced_msg, int forced_kind)
{
    assay_http_response_t resp;
    memset(&resp, 0, sizeof resp);
    resp.id = r->id;
    resp.errmsg = "";
    long status = 0, ver = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &ver);
    curl_off_t t_conn = 0, t_app = 0, t_fb = 0, t_total = 0;
    curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &t_conn);
    curl_easy_getinfo(r->easy, CURLINFO_APPCONNECT_TIME_T, &t_app);
    curl_easy_getinfo(r->easy, CURLINFO_STARTTRANSFER_TIME_T, &t_fb);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &t_total);
    resp.status = status;
    resp.http_version = ver == CURL_HTTP_VERSION_2_0 ? 2 : ver ? 1 : 0;
    resp.connect_ms = (double)(t_app > t_conn ? t_app : t_conn) / 1000.0;
    resp.first_byte_ms = (double)t_fb / 1000.0;
    resp.total_ms = (double)t_total / 1000.0;
    resp.body = r->resp_body.data ? r->resp_body.data : "";
    resp.body_len = r->resp_body.len;
    resp.priv = &r->resp_headers;

    char msg[CURL_ERROR_SIZE + 64];
    if (forced_err) {
        resp.err = forced_err;
        resp.errmsg = forced_msg;
        resp.timeout_kind = forced_kind;
    } else if (rc != CURLE_OK) {
        const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            resp.err = ASSAY_ETIMEOUT;
            /* no connection yet means the connect phase ran out */
            resp.timeout_kind = (t_conn == 0) ? 1 : 3;
        } else if (rc == CURLE_WRITE_ERROR && r->too_big) {
            resp.err = ASSAY_ETOOBIG;
            snprintf(msg, sizeof msg, "response body larger than %zu bytes", r->max_body);
            detail = msg;
        } else if (rc == CURLE_WRITE_ERROR && r->receiver_abort) {
            resp.err = ASSAY_EHTTP;
            detail = "aborted by receiver";
        } else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                   rc == CURLE_SSL_CERTPROBLEM) {
            resp.err = ASSAY_EHTTP;
            resp.cert_error = 1;
        } else if (rc == CURLE_PARTIAL_FILE) {
            resp.err = ASSAY_ETRUNC;
        } else {
            resp.err = ASSAY_EHTTP;
        }
        if (detail != msg) {
            snprintf(msg, sizeof msg, "%s", detail);
            /* curl's error buffer ends with a newline on some paths */
            size_t n = strlen(msg);
            while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        }
        resp.errmsg = msg;
    }
    s_unlink(self, r);
    s_release_easy(self, r);
    if (r->on_done) r->on_done(&resp, r->arg);
    s_req_free(r);
}

void assay_http_destroy(assay_http_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_http_t *self = *self_p;
    self->closing = 1;
    /* complete what is in flight, then run what waits on a timer (earliest first)
     * so that everyone waiting on this client hears about the end; neither can
     * start anything new now */
    for (;;) {
        if (self->inflight) {
            s_complete(self, self->inflight, CURLE_OK, ASSAY_ESTATE, "client shut down", 0);
            continue;
        }
        if (self->ntimers == 0) break;
        int first = 0;
        for (int i = 1; i < self->ntimers; i++)
            if (self->timers[i].due_ms < self->timers[first].due_ms) first = i;
        s_timer_t t = self->timers[first];
        self->timers[first] = self->timers[--self->ntimers];
        t.fn(t.arg);
    }
    for (int i = 0; i < self->nfree; i++)
        curl_easy_cleanup(self->free_easy[i]);
    free(self->free_easy);
    curl_multi_cleanup(self->multi);
    if (self->share) curl_share_cleanup(self->share);
    free(self->socks);
    free(self->heap);
    free(self->timers);
    close(self->epfd);
    free(self->proxy);
    free(self->ca_file);
    free(self->user_agent);
    free(self);
    *self_p = NULL;
    curl_global_cleanup();
}

/* ---- requests ------------------------------------------------------------------ */

int assay_http_start(assay_http_t *self, const assay_http_request_t *req, uint64_t *id)
{
    if (!self || !req || !req->url || !req->on_done) return ASSAY_EINVAL;
    if (self->closing) return ASSAY_ESTATE;
    if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)
        return ASSAY_EINVAL;
    s_req_t *r = ASSAY_NEW(s_req_t);
    r->owner = self;
    r->heap_idx = -1;
    r->max_body = req->max_body ? req->max_body : (size_t)64 << 20;
    r->on_data = req->on_data;
    r->on_done = req->on_done;
    r->arg = req->arg;
    r->easy = self->nfree > 0 ? self->free_easy[--self->nfree] : curl_easy_init();
    if (!r->easy) {
        free(r);
        return ASSAY_EHTTP;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, self->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* over TLS, ALPN tells at handshake time whether HTTP/2 can multiplex, so
     * waiting for the first connection pays off; over plain HTTP curl would only
     * learn after a whole response, delaying a burst by one round trip */
    if (strncasecmp(req->url, "https://", 8) == 0) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* verification is never turned off; only the trust anchors can change */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    const char *ca = req->ca_file ? req->ca_file : self->ca_file;
    if (ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    if (self->proxy) curl_easy_setopt(e, CURLOPT_PROXY, self->proxy);
    if (self->share) curl_easy_setopt(e, CURLOPT_SHARE, self->share);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
    if (req->total_timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->total_timeout_ms);

    for (const char *const *h = req->headers; h && *h; h++)
        r->headers = curl_slist_append(r->headers, *h);
    /* an empty Expect: stops curl from waiting for "100 Continue" on large bodies */
    r->headers = curl_slist_append(r->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);

    const char *method = req->method ? req->method : (req->body ? "POST" : "GET");
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        r->body = assay_malloc(req->body_len + 1);
        if (req->body_len) memcpy(r->body, req->body, req->body_len);
        r->body[req->body_len] = '\0';
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }

    r->id = self->next_id++;
    r->next = self->inflight;
    if (self->inflight) self->inflight->prev = r;
    self->inflight = r;
    self->ninflight++;
    if (req->first_byte_timeout_ms > 0) {
        r->fb_deadline_ms = assay_clock_ms() + req->first_byte_timeout_ms;
        s_heap_push(self, r);
    }
    CURLMcode mc = curl_multi_add_handle(self->multi, e);
    if (mc != CURLM_OK) {
        log_warn("http", "could not add request for \"%s\": %s", req->url, curl_multi_strerror(mc));
        s_unlink(self, r);
        curl_easy_cleanup(r->easy);
        s_req_free(r);
        return ASSAY_EHTTP;
    }
    if (id) *id = r->id;
    return 0;
}

int assay_http_cancel(assay_http_t *self, uint64_t id)
{
    for (s_req_t *r = self->inflight; r; r = r->next) {
        if (r->id != id) continue;
        s_unlink(self, r);
        s_release_easy(self, r);
        s_req_free(r);
        return 0;
    }
    return ASSAY_ENOTFOUND;
}

/* ---- the loop ------------------------------------------------------------------ */

int assay_http_pollfds(assay_http_t *self, struct pollfd *fds, int max)
{
    int n = self->nsocks < max ? self->nsocks : max;
    for (int i = 0; i < n; i++) {
        fds[i].fd = self->socks[i].fd;
        fds[i].events = self->socks[i].events;
        fds[i].revents = 0;
    }
    return n;
}

long assay_http_timeout_ms(assay_http_t *self)
{
    int64_t deadline = self->timer_deadline_ms;
    if (self->nheap > 0 && (deadline < 0 || self->heap[0]->fb_deadline_ms < deadline))
        deadline = self->heap[0]->fb_deadline_ms;
    for (int i = 0; i < self->ntimers; i++)
        if (deadline < 0 || self->timers[i].due_ms < deadline) deadline = self->timers[i].due_ms;
    if (deadline < 0) return -1;
    int64_t left = deadline - assay_clock_ms();
    return left < 0 ? 0 : (long)left;
}

static void s_drain(assay_http_t *self)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(self->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        s_req_t *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = m->data.result;
        if (r) s_complete(self, r, rc, 0, NULL, 0);
    }
}

int assay_http_fd(const assay_http_t *self)
{
    return self->epfd;
}

/* the sockets the epoll set says are ready */
static void s_process_epoll(assay_http_t *self)
{
    struct epoll_event evs[256];
    int running = 0;
    for (int round = 0; round < 8; round++) {
        int n = epoll_wait(self->epfd, evs, (int)ASSAY_ARRAY_LEN(evs), 0);
        if (n <= 0) return;
        for (int i = 0; i < n; i++) {
            int ev = 0;
            if (evs[i].events & EPOLLIN) ev |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT) ev |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) ev |= CURL_CSELECT_ERR;
            curl_multi_socket_action(self->multi, evs[i].data.fd, ev, &running);
        }
        if (n < (int)ASSAY_ARRAY_LEN(evs)) return;
    }
}

void assay_http_process(assay_http_t *self, const struct pollfd *fds, int n)
{
    int running = 0;
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents) continue;
        if (fds[i].fd == self->epfd) {
            s_process_epoll(self);
            continue;
        }
        int ev = 0;
        if (fds[i].revents & POLLIN) ev |= CURL_CSELECT_IN;
        if (fds[i].revents & POLLOUT) ev |= CURL_CSELECT_OUT;
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ev |= CURL_CSELECT_ERR;
        curl_multi_socket_action(self->multi, fds[i].fd, ev, &running);
    }
    int64_t now = assay_clock_ms();
    if (self->timer_deadline_ms >= 0 && now >= self->timer_deadline_ms) {
        self->timer_deadline_ms = -1;
        curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    s_drain(self);
    now = assay_clock_ms();
    while (self->nheap > 0 && self->heap[0]->fb_deadline_ms <= now) {
        s_req_t *r = self->heap[0];
        s_complete(self, r, CURLE_OK, ASSAY_ETIMEOUT,
                   "no response byte before the first-byte timeout", 2);
    }
    /* take the due timers out first: their callbacks may add or cancel timers */
    s_timer_t due[32];
    int ndue = 0;
    for (int i = 0; i < self->ntimers && ndue < (int)ASSAY_ARRAY_LEN(due);) {
        if (self->timers[i].due_ms > now) {
            i++;
            continue;
        }
        due[ndue++] = self->timers[i];
        self->timers[i] = self->timers[--self->ntimers];
    }
    for (int i = 0; i < ndue; i++)
        due[i].fn(due[i].arg);
}

uint64_t assay_http_after(assay_http_t *self, long ms, void (*fn)(void *arg), void *arg)
{
    if (self->closing) return 0;
    if (self->ntimers == self->captimers) {
        self->captimers = self->captimers ? self->captimers * 2 : 16;
        self->timers = assay_realloc(self->timers, (size_t)self->captimers * sizeof *self->timers);
    }
    s_timer_t *t = &self->timers[self->ntimers++];
    t->due_ms = assay_clock_ms() + (ms > 0 ? ms : 0);
    t->id = self->next_id++;
    t->fn = fn;
    t->arg = arg;
    return t->id;
}

int assay_http_after_cancel(assay_http_t *self, uint64_t timer_id)
{
    for (int i = 0; i < self->ntimers; i++) {
        if (self->timers[i].id != timer_id) continue;
        self->timers[i] = self->timers[--self->ntimers];
        return 0;
    }
    return ASSAY_ENOTFOUND;
}

int assay_http_inflight(const assay_http_t *self)
{
    return self->ninflight;
}

int assay_http_run(assay_http_t *self, long timeout_ms)
{
    int64_t end = timeout_ms < 0 ? -1 : assay_clock_ms() + timeout_ms;
    while (self->ninflight > 0 || self->ntimers > 0) {
        int64_t now = assay_clock_ms();
        if (end >= 0 && now >= end) break;
        struct pollfd pfd = {self->epfd, POLLIN, 0};
        long t = assay_http_timeout_ms(self);
        if (t < 0 || t > 1000) t = 1000;
        if (end >= 0 && end - now < t) t = (long)(end - now);
        poll(&pfd, 1, (int)t);
        assay_http_process(self, &pfd, 1);
    }
    return self->ninflight + self->ntimers;
}

const char *assay_http_header(const assay_http_response_t *resp, const char *name)
{
    const assay_buf_t *h = resp->priv;
    if (!h || !h->data) return NULL;
    const char *found = NULL;
    const char *p = h->data, *end = h->data + h->len;
    while (p < end) {
        const char *n = p;
        const char *v = n + strlen(n) + 1;
        if (v >= end) break;
        if (strcasecmp(n, name) == 0) found = v;
        p = v + strlen(v) + 1;
    }
    return found;
}
