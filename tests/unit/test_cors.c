/* Unit tests for api/cors.c: the CORS_ALLOWED_ORIGINS list and matching. */
#include "check.h"
#include "g1p/cors.h"

static bool parses(const char *text) {
  struct cors_origins o;
  char err[256];
  int rc = cors_parse(text, &o, err, sizeof err);
  cors_free(&o);
  return rc == 0;
}

int main(void) {
  struct cors_origins o;
  char err[256];
  CHECK(cors_parse("https://coach.example.be, http://localhost:5173,http://127.0.0.1:8081 ,http://[::1]:3000", &o, err, sizeof err) == 0);
  CHECK(o.n == 4);
  CHECK(cors_allows(&o, "https://coach.example.be"));
  CHECK(cors_allows(&o, "http://localhost:5173"));
  CHECK(cors_allows(&o, "http://[::1]:3000"));
  CHECK(!cors_allows(&o, "http://localhost:5174"));
  CHECK(!cors_allows(&o, "https://coach.example.be.evil.com"));
  CHECK(!cors_allows(&o, "http://coach.example.be"));
  CHECK(!cors_allows(&o, "null"));
  CHECK(!cors_allows(&o, NULL));
  cors_free(&o);
  CHECK(cors_parse(NULL, &o, err, sizeof err) == 0 && o.n == 0);
  CHECK(cors_parse("", &o, err, sizeof err) == 0 && o.n == 0);
  CHECK(!parses("*"));
  CHECK(!parses("https://coach.example.be/"));
  CHECK(!parses("https://coach.example.be/app"));
  CHECK(!parses("HTTPS://coach.example.be"));
  CHECK(!parses("https://Coach.example.be"));
  CHECK(!parses("ftp://coach.example.be"));
  CHECK(!parses("https://user@coach.example.be"));
  CHECK(!parses("https://coach.example.be:0"));
  CHECK(!parses("https://coach.example.be:65536"));
  CHECK(!parses("https://coach.example.be:"));
  CHECK(!parses("https://"));
  CHECK(!parses("coach.example.be"));
  CHECK(!parses("https://a.be,,https://b.be"));
  CHECK(!parses("https://a.be,"));
  CHECK(!parses("https://a b.be"));
  CHECK(!parses("https://[::1"));
  CHECK(parses("https://a.be:443"));
  CHECK(cors_parse("https://x.be,bad", &o, err, sizeof err) == -1);
  CHECK(strstr(err, "\"bad\"") != NULL);
  CHECK(o.n == 0);
  return CHECK_DONE();
}
