/* notify.c: notifications to webhooks and Slack (rotor/notify.h). */
#include "rotor/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "rotor/version.h"
#include "util/digest.h"
#include "util/http.h"

#define QUEUE_MAX 512
#define ATTEMPTS 4
#define SEND_TIMEOUT_MS 10000

struct sink {
	char name[64];
	int slack;
	struct rotor_secret *url, *secret;
	unsigned events;
	char **keys, **values;
	size_t nselector;
	int64_t dedup, overdue_grace, remind_before;
	uint64_t sent, failed, deduplicated;
};

struct item {
	size_t sink;
	enum rotor_notify_event kind;
	char manifest[64], user[72], aws[64], key[32];
	char message[ROTOR_ERROR_MSG_MAX];
	int64_t at;
	char dedup_key[200];
};

struct rotor_notifier {
	struct sink *sinks;
	size_t nsinks;
	char dedup_file[4200], lock_file[4200];
	pthread_mutex_t lock;
	pthread_cond_t cond, idle;
	pthread_cond_t stop; /* signalled when stopping changes: cuts a back-off short */
	struct item *queue;  /* ring */
	size_t head, len;
	int stopping, busy, thread_ok;
	int orphan;         /* closed while a send was in flight: the sender frees it all */
	int64_t backoff_ms; /* the first retry's wait; doubles */
	pthread_t thread;
};

/* ---- dedup: "sink\x1fevent\x1fmanifest" -> when it was last sent, in a file
 * shared by every rotor on the machine (flock'd) ---------------------------------- */

static json_t *dedup_read(struct rotor_notifier *n)
{
	json_error_t je;
	json_t *j = json_load_file(n->dedup_file, 0, &je);
	return json_is_object(j) ? j : (json_decref(j), json_object());
}

static void dedup_write(struct rotor_notifier *n, json_t *j)
{
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", n->dedup_file, (int)getpid());
	if (json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, n->dedup_file) == 0)
		return;
	unlink(tmp);
	rotor_log(ROTOR_LOG_WARN, "notify", "cannot write %s: %s (deduplication may repeat)",
	          n->dedup_file, strerror(errno));
}

/* 1 when key was sent within window of now (nothing changed); else records
 * it as sent now (reserve) and returns 0. forget: remove the record. */
static int dedup(struct rotor_notifier *n, const char *key, int64_t now, int64_t window, int forget)
{
	int fd = open(n->lock_file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	json_t *j = dedup_read(n);
	int seen = 0;
	if (forget) {
		json_object_del(j, key);
	} else {
		json_t *t = json_object_get(j, key);
		if (json_is_integer(t) && now - json_integer_value(t) < window &&
		    now >= json_integer_value(t))
			seen = 1;
		else
			json_object_set_new(j, key, json_integer(now));
	}
	if (forget || !seen)
		dedup_write(n, j);
	json_decref(j);
	if (fd >= 0)
		close(fd); /* releases the lock */
	return seen;
}

/* The real-time moment ms from now, for pthread_cond_timedwait. */
static struct timespec in_ms(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* ---- sending -------------------------------------------------------------------------- */

static char *payload(const struct sink *s, const struct item *it, const char *delivery)
{
	char t[32];
	rotor_time_format(t, sizeof(t), it->at);
	json_t *j;
	if (s->slack) {
		char text[1400];
		snprintf(text, sizeof(text), "rotor: *%s* `%s` (IAM user %s on %s)%s%s%s: %s",
		         rotor_notify_event_name(it->kind), it->manifest, it->user, it->aws,
		         it->key[0] ? ", key " : "", it->key, "", it->message);
		char esc[4200];
		size_t o = 0;
		for (const char *p = text; *p && o + 6 < sizeof(esc); p++) {
			const char *e = *p == '&'   ? "&amp;"
			                : *p == '<' ? "&lt;"
			                : *p == '>' ? "&gt;"
			                            : NULL;
			if (e) {
				memcpy(esc + o, e, strlen(e));
				o += strlen(e);
			} else {
				esc[o++] = *p;
			}
		}
		esc[o] = '\0';
		j = json_pack("{s:s}", "text", esc);
	} else {
		j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "event",
		              rotor_notify_event_name(it->kind), "manifest", it->manifest, "user",
		              it->user, "aws", it->aws, "keyId",
		              it->key[0] ? json_string(it->key) : json_null(), "message",
		              it->message, "time", t, "delivery", delivery, "rotor",
		              rotor_version());
	}
	char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return out;
}

static int post(const struct sink *s, const char *body, const struct item *it, const char *delivery,
                char *why, size_t wlen)
{
	struct rotor_http_options o;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char sig[80] = "", url[2048];
	rotor_http_options_init(&o);
	o.max_attempts = 1;
	o.timeout_ms = SEND_TIMEOUT_MS;
	o.deadline_ms = SEND_TIMEOUT_MS;
	o.max_response = 64 * 1024;
	o.classify = rotor_http_classify_none;
	rotor_error_clear(&err);
	if (rotor_http_new(&h, &o, &err) != 0) {
		snprintf(why, wlen, "%s", err.message);
		return -1;
	}
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	snprintf(url, sizeof(url), "%s", rotor_secret_bytes(s->url));
	req.method = "POST";
	req.url = url;
	req.what = "notification";
	req.body = body;
	req.body_len = strlen(body);
	rotor_http_request_header(&req, "Content-Type", "application/json");
	if (!s->slack) {
		rotor_http_request_header(&req, "X-Rotor-Event", rotor_notify_event_name(it->kind));
		rotor_http_request_header(&req, "X-Rotor-Delivery", delivery);
		if (s->secret) {
			char hex[65];
			rotor_hmac_sha256_hex(s->secret, body, strlen(body), hex);
			snprintf(sig, sizeof(sig), "sha256=%s", hex);
			rotor_http_request_header(&req, "X-Rotor-Signature-256", sig);
		}
	}
	int rc = rotor_http_do(h, &req, &res, &err);
	if (rc)
		snprintf(why, wlen, "%s", err.message);
	else if (res.status < 200 || res.status >= 300)
		snprintf(why, wlen, "HTTP %ld", res.status), rc = -1;
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
	rotor_wipe(url, sizeof(url)); /* a Slack URL is a credential */
	return rc;
}

static void deliver(struct rotor_notifier *n, struct item *it)
{
	struct sink *s = &n->sinks[it->sink];
	unsigned char r[8];
	char delivery[40], why[ROTOR_ERROR_MSG_MAX] = "";
	RAND_bytes(r, sizeof(r));
	snprintf(delivery, sizeof(delivery), "%02x%02x%02x%02x-%02x%02x-%02x%02x", r[0], r[1], r[2],
	         r[3], r[4], r[5], r[6], r[7]);
	char *body = payload(s, it, delivery);
	int ok = 0;
	for (int attempt = 1; body && attempt <= ATTEMPTS && !ok; attempt++) {
		if (post(s, body, it, delivery, why, sizeof(why)) == 0) {
			ok = 1;
			break;
		}
		if (attempt < ATTEMPTS) { /* 1, 2, 4 s; a stop cuts the wait short */
			struct timespec ts = in_ms(n->backoff_ms << (attempt - 1));
			pthread_mutex_lock(&n->lock);
			if (n->stopping != 2) /* a drain still waits out the back-off */
				pthread_cond_timedwait(&n->stop, &n->lock, &ts);
			int stop = n->stopping == 2;
			pthread_mutex_unlock(&n->lock);
			if (stop)
				break;
		}
	}
	free(body);
	pthread_mutex_lock(&n->lock);
	if (ok)
		s->sent++;
	else
		s->failed++;
	pthread_mutex_unlock(&n->lock);
	if (ok) {
		rotor_log(ROTOR_LOG_DEBUG, "notify", "%s: %s %s sent", s->name,
		          rotor_notify_event_name(it->kind), it->manifest);
	} else {
		/* not sent: let the next pass try again */
		dedup(n, it->dedup_key, 0, 0, 1);
		rotor_log(ROTOR_LOG_WARN, "notify",
		          "notification %s of %s to %s not delivered after %d attempts: %s (the "
		          "rotation is not affected)",
		          rotor_notify_event_name(it->kind), it->manifest, s->name, ATTEMPTS, why);
	}
}

static void free_notifier(struct rotor_notifier *n);

static void *sender(void *arg)
{
	struct rotor_notifier *n = arg;
	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->len && !n->stopping)
			pthread_cond_wait(&n->cond, &n->lock);
		if (!n->len)
			break;
		struct item it = n->queue[n->head];
		n->head = (n->head + 1) % QUEUE_MAX;
		n->len--;
		n->busy = 1;
		pthread_mutex_unlock(&n->lock);
		deliver(n, &it);
		pthread_mutex_lock(&n->lock);
		n->busy = 0;
		pthread_cond_broadcast(&n->idle);
		if (n->stopping == 2)
			break;
	}
	int orphan = n->orphan;
	pthread_mutex_unlock(&n->lock);
	if (orphan)
		free_notifier(n);
	return NULL;
}

/* ---- events --------------------------------------------------------------------------- */

static int selected(const struct sink *s, const struct rotor_manifest *m)
{
	for (size_t i = 0; i < s->nselector; i++) {
		int found = 0;
		for (size_t j = 0; j < m->nlabels && !found; j++)
			found = strcmp(m->labels[j].key, s->keys[i]) == 0 &&
			        strcmp(m->labels[j].value, s->values[i] ? s->values[i] : "") == 0;
		if (!found)
			return 0;
	}
	return 1;
}

static void enqueue(struct rotor_notifier *n, size_t si, const struct rotor_manifest *m,
                    enum rotor_notify_event kind, const char *key, const char *message, int64_t now)
{
	struct sink *s = &n->sinks[si];
	if ((s->events && !(s->events & (1u << kind))) || !selected(s, m))
		return;
	struct item it;
	memset(&it, 0, sizeof(it));
	it.sink = si;
	it.kind = kind;
	it.at = now;
	snprintf(it.manifest, sizeof(it.manifest), "%s", m->name);
	snprintf(it.user, sizeof(it.user), "%s", m->user);
	snprintf(it.aws, sizeof(it.aws), "%s", m->aws);
	snprintf(it.key, sizeof(it.key), "%s", key ? key : "");
	snprintf(it.message, sizeof(it.message), "%s", message ? message : "");
	snprintf(it.dedup_key, sizeof(it.dedup_key), "%s\x1f%s\x1f%s", s->name,
	         rotor_notify_event_name(kind), m->name);
	if (s->dedup && dedup(n, it.dedup_key, now, s->dedup, 0)) {
		pthread_mutex_lock(&n->lock);
		s->deduplicated++;
		pthread_mutex_unlock(&n->lock);
		return;
	}
	pthread_mutex_lock(&n->lock);
	char dropped[sizeof(it.dedup_key)] = "";
	if (n->len == QUEUE_MAX) { /* never block a pass: the oldest goes */
		struct item *old = &n->queue[n->head];
		n->sinks[old->sink].failed++;
		memcpy(dropped, old->dedup_key, sizeof(dropped));
		n->head = (n->head + 1) % QUEUE_MAX;
		n->len--;
	}
	n->queue[(n->head + n->len) % QUEUE_MAX] = it;
	n->len++;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (dropped[0]) { /* not sent: a later pass may send it */
		dedup(n, dropped, 0, 0, 1);
		rotor_log(ROTOR_LOG_WARN, "notify",
		          "queue full: the oldest notification was dropped");
	}
}

void rotor_notify_reconcile(struct rotor_notifier *n, const struct rotor_manifest *m,
                            const struct rotor_manifest_plan *plan,
                            const struct rotor_observed *obs, const struct rotor_engine_state *st,
                            const char *error, int64_t now)
{
	char msg[ROTOR_ERROR_MSG_MAX];
	if (!n || !m || !plan)
		return;
	const struct rotor_obs_key *stored = rotor_obs_stored_key(obs);
	int64_t created = stored ? stored->created : 0;
	for (size_t si = 0; si < n->nsinks; si++) {
		const struct sink *s = &n->sinks[si];
		for (int i = 0; st && i < plan->nactions; i++) {
			const struct rotor_action *a = &plan->actions[i];
			if (st->outcome[i] != 1)
				continue;
			if (a->kind == ROTOR_ACT_STORE) {
				snprintf(msg, sizeof(msg),
				         "a new key is stored and propagated to %d consumer%s",
				         plan->consumers, plan->consumers == 1 ? "" : "s");
				enqueue(n, si, m, ROTOR_EV_ROTATED, st->new_key, msg, now);
			} else if (a->kind == ROTOR_ACT_DEACTIVATE) {
				enqueue(n, si, m, ROTOR_EV_DEACTIVATED, a->key_id, a->reason, now);
			} else if (a->kind == ROTOR_ACT_DELETE ||
			           a->kind == ROTOR_ACT_DELETE_STRAY) {
				enqueue(n, si, m, ROTOR_EV_DELETED, a->key_id, a->reason, now);
			}
		}
		if (plan->held_use)
			enqueue(n, si, m, ROTOR_EV_HELD, NULL, plan->status_reason, now);
		else if (plan->status == ROTOR_STATUS_STALLED)
			enqueue(n, si, m, ROTOR_EV_STALLED, NULL, plan->status_reason, now);
		if (error && *error)
			enqueue(n, si, m, ROTOR_EV_FAILED, NULL, error, now);
		if (created && m->cadence && now - created > m->cadence + s->overdue_grace) {
			char age[32], cad[32];
			rotor_duration_human(age, sizeof(age), now - created);
			rotor_duration_format(cad, sizeof(cad), m->cadence);
			snprintf(msg, sizeof(msg), "the stored key %s is %s old (cadence %s): %s",
			         obs->store_akid, age, cad, plan->status_reason);
			enqueue(n, si, m, ROTOR_EV_OVERDUE, obs->store_akid, msg, now);
		}
		if (m->mode == ROTOR_MODE_OBSERVE) {
			for (int k = 0; k < plan->nforecast; k++) {
				const struct rotor_forecast *f = &plan->forecast[k];
				if (f->kind != ROTOR_FC_ROTATE || f->at - now > s->remind_before)
					continue;
				char t[32];
				rotor_time_format(t, sizeof(t), f->at);
				snprintf(msg, sizeof(msg),
				         "a rotation is due at %s and the manifest is in observe "
				         "mode: rotor "
				         "will not make it (set mode: enforce, or rotate by hand)",
				         t);
				enqueue(n, si, m, ROTOR_EV_REMINDER, obs ? obs->store_akid : NULL,
				        msg, now);
				break;
			}
			if (plan->rotation_due) {
				snprintf(msg, sizeof(msg),
				         "a rotation is due now and the manifest is in observe "
				         "mode: rotor "
				         "will not make it (%s)",
				         plan->due_reason);
				enqueue(n, si, m, ROTOR_EV_REMINDER, obs ? obs->store_akid : NULL,
				        msg, now);
			}
		}
	}
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* http://127.0.0.1, localhost or [::1], then a port or a path: this machine. */
static int loopback_http(const char *u)
{
	static const char *const hosts[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		size_t n = strlen(hosts[i]);
		if (strncmp(u, hosts[i], n) == 0 && (u[n] == ':' || u[n] == '/' || u[n] == '\0'))
			return 1;
	}
	return 0;
}

static void free_sinks(struct rotor_notifier *n)
{
	for (size_t i = 0; i < n->nsinks; i++) {
		struct sink *s = &n->sinks[i];
		rotor_secret_free(s->url);
		rotor_secret_free(s->secret);
		for (size_t j = 0; j < s->nselector; j++) {
			free(s->keys[j]);
			free(s->values[j]);
		}
		free(s->keys);
		free(s->values);
	}
	free(n->sinks);
}

int rotor_notifier_open(struct rotor_notifier **out, const struct rotor_config *cfg,
                        const char *state_dir, struct rotor_error *err)
{
	*out = NULL;
	if (!cfg || !cfg->nnotifications)
		return 0;
	struct rotor_notifier *n = calloc(1, sizeof(*n));
	if (!n || !(n->sinks = calloc(cfg->nnotifications, sizeof(*n->sinks))) ||
	    !(n->queue = calloc(QUEUE_MAX, sizeof(*n->queue)))) {
		if (n)
			free(n->sinks);
		free(n);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	snprintf(n->dedup_file, sizeof(n->dedup_file), "%s/notifications.json", state_dir);
	/* ROTOR_NOTIFY_BACKOFF_MS: the first retry's wait (tests shorten it) */
	const char *b = getenv("ROTOR_NOTIFY_BACKOFF_MS");
	n->backoff_ms = b && atoll(b) > 0 ? atoll(b) : 1000;
	snprintf(n->lock_file, sizeof(n->lock_file), "%s/notifications.lock", state_dir);
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	pthread_cond_init(&n->idle, NULL);
	pthread_cond_init(&n->stop, NULL);
	int rc = 0;
	for (size_t i = 0; i < cfg->nnotifications && !rc; i++, n->nsinks++) {
		const struct rotor_notify_sink *c = &cfg->notifications[i];
		struct sink *s = &n->sinks[i];
		snprintf(s->name, sizeof(s->name), "%s", c->name ? c->name : "");
		s->slack = c->slack;
		s->events = c->events;
		s->dedup = c->dedup;
		s->overdue_grace = c->overdue_grace;
		s->remind_before = c->remind_before;
		if (!c->url.value) {
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "notifications.%s: the url reference is empty",
			                     s->name);
			break;
		}
		const char *u = rotor_secret_bytes(c->url.value);
		if (strncmp(u, "https://", 8) != 0 && !loopback_http(u)) {
			rc = rotor_error_set(
			    err, ROTOR_EINVALID,
			    "notifications.%s: the url must be https:// (plain http "
			    "only on this machine)",
			    s->name);
			break;
		}
		rc = rotor_secret_dup(&s->url, c->url.value, err);
		if (!rc && c->secret.value)
			rc = rotor_secret_dup(&s->secret, c->secret.value, err);
		if (!rc && c->nselector) {
			s->keys = calloc(c->nselector, sizeof(char *));
			s->values = calloc(c->nselector, sizeof(char *));
			for (size_t j = 0; s->keys && s->values && j < c->nselector;
			     j++, s->nselector++) {
				s->keys[j] = strdup(c->selector_keys[j]);
				s->values[j] =
				    strdup(c->selector_values[j] ? c->selector_values[j] : "");
			}
		}
	}
	if (!rc && pthread_create(&n->thread, NULL, sender, n) != 0)
		rc = rotor_error_set(err, ROTOR_EINTERNAL, "cannot start the notification sender");
	if (rc) {
		free_sinks(n);
		free(n->queue);
		free(n);
		return rc;
	}
	n->thread_ok = 1;
	*out = n;
	return 0;
}

void rotor_notifier_close(struct rotor_notifier *n, int64_t wait_ms)
{
	if (!n)
		return;
	struct timespec ts = in_ms(wait_ms);
	pthread_mutex_lock(&n->lock);
	n->stopping = 1; /* deliver what is queued ... */
	pthread_cond_broadcast(&n->cond);
	while ((n->len || n->busy) && pthread_cond_timedwait(&n->idle, &n->lock, &ts) != ETIMEDOUT)
		;
	size_t left = n->len + (size_t)n->busy;
	int in_flight = n->busy, thread_ok = n->thread_ok;
	pthread_t thread = n->thread;
	/* what was never sent gives its dedup slot back: a later pass sends it */
	size_t nleft = n->len;
	struct item *unsent = nleft ? malloc(nleft * sizeof(*unsent)) : NULL;
	for (size_t i = 0; unsent && i < nleft; i++)
		unsent[i] = n->queue[(n->head + i) % QUEUE_MAX];
	n->len = 0;
	n->stopping = 2; /* ... then stop, mid-retry if need be */
	/* a send still in flight (a slow sink) is not waited for: the sender
	 * thread frees everything when it returns (never, if the process
	 * exits first); nothing of n is read here after the unlock */
	n->orphan = in_flight && thread_ok;
	for (size_t i = 0; unsent && i < nleft; i++)
		dedup(n, unsent[i].dedup_key, 0, 0, 1); /* files only: n's lock is not taken */
	pthread_cond_broadcast(&n->cond);
	pthread_cond_broadcast(&n->stop);
	if (in_flight && thread_ok)
		pthread_detach(thread);
	pthread_mutex_unlock(&n->lock);
	free(unsent);
	if (left)
		rotor_log(
		    ROTOR_LOG_WARN, "notify",
		    "%zu notification%s not delivered before exit (the sinks were slow or down)",
		    left, left == 1 ? "" : "s");
	if (in_flight && thread_ok)
		return;
	if (thread_ok)
		pthread_join(thread, NULL);
	free_notifier(n);
}

static void free_notifier(struct rotor_notifier *n)
{
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	pthread_cond_destroy(&n->idle);
	pthread_cond_destroy(&n->stop);
	free_sinks(n);
	free(n->queue);
	free(n);
}

size_t rotor_notifier_sinks(const struct rotor_notifier *n)
{
	return n ? n->nsinks : 0;
}

const char *rotor_notifier_sink_name(const struct rotor_notifier *n, size_t i)
{
	return n && i < n->nsinks ? n->sinks[i].name : "";
}

void rotor_notifier_counts(struct rotor_notifier *n, size_t i, uint64_t *sent, uint64_t *failed,
                           uint64_t *deduplicated)
{
	*sent = *failed = *deduplicated = 0;
	if (!n || i >= n->nsinks)
		return;
	pthread_mutex_lock(&n->lock);
	*sent = n->sinks[i].sent;
	*failed = n->sinks[i].failed;
	*deduplicated = n->sinks[i].deduplicated;
	pthread_mutex_unlock(&n->lock);
}
