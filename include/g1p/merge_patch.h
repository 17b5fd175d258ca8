/* JSON Merge Patch (RFC 7396): the PATCH format for plans and families.
 * Pure: unit-tested in tests/unit/test_merge_patch.c. */
#ifndef G1P_MERGE_PATCH_H
#define G1P_MERGE_PATCH_H
#include <jansson.h>

/* Returns a new value: target with patch applied (target is not changed).
 * Objects merge member by member, null removes a member, anything else
 * (arrays included) replaces. */
json_t *merge_patch_apply(const json_t *target, const json_t *patch);

#endif
