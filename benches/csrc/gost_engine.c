/*
 * OpenSSL + gost-engine side of the gost_vs_openssl comparison.
 *
 * Loads the engine at run time through the "dynamic" engine (SO_PATH, ID,
 * LOAD), generates keys with EVP_PKEY_keygen on the requested paramset and
 * runs batches of EVP_PKEY_sign / EVP_PKEY_verify over a raw digest and
 * EVP_Digest(md_gost12_256). The Rust binary times the batches.
 *
 * Every function returns 1 on success, 0 on failure (after printing the
 * OpenSSL error queue to stderr).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

static ENGINE *g_engine;

static int fail(const char *what) {
    fprintf(stderr, "openssl: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    return 0;
}

/* Loads and initialises the gost engine from `so_path`. Idempotent. */
int tkb_engine_load(const char *so_path) {
    if (g_engine != NULL)
        return 1;
    ENGINE *e = ENGINE_by_id("dynamic");
    if (e == NULL)
        return fail("ENGINE_by_id(dynamic)");
    if (!ENGINE_ctrl_cmd_string(e, "SO_PATH", so_path, 0) ||
        !ENGINE_ctrl_cmd_string(e, "ID", "gost", 0) ||
        !ENGINE_ctrl_cmd_string(e, "LOAD", NULL, 0)) {
        ENGINE_free(e);
        return fail("loading the gost engine (SO_PATH/ID/LOAD)");
    }
    if (!ENGINE_init(e)) {
        ENGINE_free(e);
        return fail("ENGINE_init(gost)");
    }
    /* Make the engine's methods (pkey, digests) the defaults. */
    if (!ENGINE_set_default(e, ENGINE_METHOD_ALL)) {
        ENGINE_finish(e);
        ENGINE_free(e);
        return fail("ENGINE_set_default(gost)");
    }
    g_engine = e;
    return 1;
}

/* The engine's id and name, for the report. */
const char *tkb_engine_name(void) {
    return g_engine != NULL ? ENGINE_get_name(g_engine) : "";
}

const char *tkb_openssl_version(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}

/* A key pair with contexts ready for sign and verify. */
struct tkb_key {
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *sign_ctx;
    EVP_PKEY_CTX *verify_ctx;
    size_t sig_len;
};

void tkb_key_free(struct tkb_key *k) {
    if (k == NULL)
        return;
    EVP_PKEY_CTX_free(k->sign_ctx);
    EVP_PKEY_CTX_free(k->verify_ctx);
    EVP_PKEY_free(k->pkey);
    OPENSSL_free(k);
}

/* Generates a key: bits 256 or 512, paramset e.g. "A". NULL on failure. */
struct tkb_key *tkb_key_new(int bits, const char *paramset) {
    int nid = bits == 512 ? NID_id_GostR3410_2012_512 : NID_id_GostR3410_2012_256;
    struct tkb_key *k = OPENSSL_zalloc(sizeof(*k));
    if (k == NULL)
        return NULL;
    EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_id(nid, g_engine);
    if (gen == NULL) {
        fail("EVP_PKEY_CTX_new_id");
        goto err;
    }
    if (EVP_PKEY_keygen_init(gen) <= 0 ||
        EVP_PKEY_CTX_ctrl_str(gen, "paramset", paramset) <= 0 ||
        EVP_PKEY_keygen(gen, &k->pkey) <= 0) {
        EVP_PKEY_CTX_free(gen);
        fail("EVP_PKEY_keygen");
        goto err;
    }
    EVP_PKEY_CTX_free(gen);
    k->sign_ctx = EVP_PKEY_CTX_new(k->pkey, g_engine);
    k->verify_ctx = EVP_PKEY_CTX_new(k->pkey, g_engine);
    if (k->sign_ctx == NULL || k->verify_ctx == NULL ||
        EVP_PKEY_sign_init(k->sign_ctx) <= 0 ||
        EVP_PKEY_verify_init(k->verify_ctx) <= 0) {
        fail("EVP_PKEY_sign_init/verify_init");
        goto err;
    }
    k->sig_len = (size_t)(bits / 4);
    return k;
err:
    tkb_key_free(k);
    return NULL;
}

/* `count` signatures over `dgst`; the last one is left in `sig` (`*sig_len`
 * in: capacity, out: length). */
int tkb_sign(struct tkb_key *k, const unsigned char *dgst, size_t dgst_len,
             unsigned char *sig, size_t *sig_len, unsigned long count) {
    size_t cap = *sig_len;
    for (unsigned long i = 0; i < count; i++) {
        size_t len = cap;
        if (EVP_PKEY_sign(k->sign_ctx, sig, &len, dgst, dgst_len) <= 0)
            return fail("EVP_PKEY_sign");
        *sig_len = len;
    }
    return 1;
}

/* `count` verifications of `sig` over `dgst`; 0 if any does not verify. */
int tkb_verify(struct tkb_key *k, const unsigned char *dgst, size_t dgst_len,
               const unsigned char *sig, size_t sig_len, unsigned long count) {
    for (unsigned long i = 0; i < count; i++) {
        if (EVP_PKEY_verify(k->verify_ctx, sig, sig_len, dgst, dgst_len) != 1)
            return fail("EVP_PKEY_verify");
    }
    return 1;
}

/* `count` one-shot md_gost12_256 (or _512 when bits = 512) digests of `data`. */
int tkb_digest(int bits, const unsigned char *data, size_t len, unsigned char *out,
               unsigned long count) {
    const EVP_MD *md = ENGINE_get_digest(
        g_engine, bits == 512 ? NID_id_GostR3411_2012_512 : NID_id_GostR3411_2012_256);
    if (md == NULL)
        return fail("ENGINE_get_digest(md_gost12)");
    for (unsigned long i = 0; i < count; i++) {
        unsigned int out_len = 0;
        if (!EVP_Digest(data, len, out, &out_len, md, g_engine))
            return fail("EVP_Digest");
    }
    return 1;
}
