/*
 * notify.h: notifications (the config's `notifications`): events of a pass
 * (rotated, deactivated, deleted, held, stalled, failed, overdue, reminder)
 * sent to a generic JSON webhook (signed with HMAC-SHA256) or a Slack
 * incoming webhook, filtered per sink by event and by manifest labels,
 * deduplicated (the same event for the same manifest not again within the
 * sink's window, across processes: a file in the state directory), retried
 * with back-off, and never in the way of a rotation: a queue and a thread
 * of their own; a sink that is down is logged and counted, nothing else.
 * Messages carry names, key ids, times and rotor's own (redacted) error
 * text, never a secret.
 *
 * Thread rules: rotor_notify_* may be called from any thread; one notifier
 * per process.
 */
#ifndef ROTOR_NOTIFY_H
#define ROTOR_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/config.h"
#include "rotor/engine.h"
#include "rotor/manifest.h"
#include "rotor/observed.h"
#include "rotor/plan.h"

struct rotor_notifier;

/* NULL (and 0) when the config has no sinks. The config is borrowed until
 * rotor_notifier_close. state_dir holds the dedup record. */
int rotor_notifier_open(struct rotor_notifier **out, const struct rotor_config *cfg,
                        const char *state_dir, struct rotor_error *err);

/* The events one reconcile makes (from its plan, what apply did (outcome),
 * and its error, or NULL), queued for the sinks that want them. now is the
 * pass's clock (simulated in tests). Never blocks on a sink. */
void rotor_notify_reconcile(struct rotor_notifier *n, const struct rotor_manifest *m,
                            const struct rotor_manifest_plan *plan,
                            const struct rotor_observed *obs, const struct rotor_engine_state *st,
                            const char *error, int64_t now);

/* Waits up to wait_ms for the queue to drain (each event's retries
 * included), then stops; what is left is logged as not delivered. */
void rotor_notifier_close(struct rotor_notifier *n, int64_t wait_ms);

/* Per sink: sent, failed (after every retry), deduplicated; for /metrics. */
size_t rotor_notifier_sinks(const struct rotor_notifier *n);
const char *rotor_notifier_sink_name(const struct rotor_notifier *n, size_t i);
void rotor_notifier_counts(struct rotor_notifier *n, size_t i, uint64_t *sent, uint64_t *failed,
                           uint64_t *deduplicated);

#endif
