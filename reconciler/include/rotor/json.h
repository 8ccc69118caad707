/*
 * json.h: jansson set up for secrets. Store replies list every secret of a
 * folder, and request bodies carry the new pair; rotor_json_init makes
 * jansson wipe every block it frees, so no secret value is left behind in
 * freed memory. Call once at start (the CLI and the store do).
 */
/* Thread rules: rotor_json_init once (rotor_engine_new calls it); then any thread. */
#ifndef ROTOR_JSON_H
#define ROTOR_JSON_H

void rotor_json_init(void);

#endif
