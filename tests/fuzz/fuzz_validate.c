/* libFuzzer harness: request bodies. Any bytes are parsed as the server
 * parses a body (json_loadb, duplicates rejected), then validated against
 * rules that use every field type, merged as a merge patch and written as
 * CSV. Nothing may crash, leak or read out of bounds. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include "g1p/csv.h"
#include "g1p/merge_patch.h"
#include "g1p/validate.h"

static const char *const KINDS[] = {"a", "b", NULL};
static const struct field_rule INNER[] = {
  {.name = "kind", .type = FT_ENUM, .flags = F_REQUIRED, .values = KINDS},
  {.name = "n", .type = FT_INT, .min = -5, .max = 5},
  {.name = "on", .type = FT_DATE, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule RULES[] = {
  {.name = "s", .type = FT_STRING, .min = 1, .max = 20},
  {.name = "t", .type = FT_TEXT, .min = 0, .max = 100},
  {.name = "id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = "d", .type = FT_DATE},
  {.name = "e", .type = FT_EMAIL},
  {.name = "k", .type = FT_KBO},
  {.name = "r", .type = FT_REGION_CODE},
  {.name = "rs", .type = FT_REGION_CODES, .min = 0, .max = 5},
  {.name = "o", .type = FT_OBJECT, .fields = INNER},
  {.name = "oa", .type = FT_OBJECT_ARRAY, .min = 0, .max = 10, .fields = INNER},
  {.name = "sa", .type = FT_STRING_ARRAY, .min = 0, .max = 10},
  {.name = NULL},
};
static const char *const COLUMNS[] = {"s", "n", "t", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
  if (!body) return 0;
  struct g1p_problem p = {0};
  validate_object(body, RULES, false, &p);
  problem_clear(&p);
  validate_object(body, RULES, true, &p);
  json_t *pj = problem_to_json(&p);
  json_decref(pj);
  problem_clear(&p);
  json_t *merged = merge_patch_apply(body, body);
  json_decref(merged);
  json_t *rows = json_is_array(body) ? body : json_object_get(body, "oa");
  size_t len = 0;
  free(csv_from_rows(rows, COLUMNS, &len));
  json_decref(body);
  return 0;
}
