/* account.h: account secrets: argon2id password hashes, session secrets and their SHA-256
 * hashes, and Appwrite's session token ({"id","secret"} in base64). No HTTP here. */
#ifndef CAIRN_SERVER_ACCOUNT_H
#define CAIRN_SERVER_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

#define CAIRN_ACCOUNT_SECRET_BYTES 32                  /* random bytes in a session secret */
#define CAIRN_ACCOUNT_SECRET_TEXT (CAIRN_ACCOUNT_SECRET_BYTES * 2 + 1) /* hex + NUL */
#define CAIRN_ACCOUNT_HASH_TEXT 65                     /* SHA-256 hex + NUL */
#define CAIRN_ACCOUNT_TOKEN_MAX 1024                   /* longer tokens are refused unread */
#define CAIRN_ACCOUNT_PASSWORD_MIN 8
#define CAIRN_ACCOUNT_PASSWORD_MAX 256                 /* Appwrite's limit */
#define CAIRN_ACCOUNT_HASH_MAX 128                     /* crypto_pwhash_STRBYTES */
#define CAIRN_ACCOUNT_DEFAULT_SESSION_SECONDS (365LL * 24 * 3600) /* Appwrite: 1 year */

/* Password hashing cost. INTERACTIVE is libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE
 * (2 passes, 64 MiB); MIN (1 pass, 8 KiB) exists for tests only. */
typedef enum {
	CAIRN_PASSWORD_COST_INTERACTIVE = 0,
	CAIRN_PASSWORD_COST_MIN
} cairn_password_cost;

/* Initialises libsodium once (thread-safe). 0 or CAIRN_ERROR. */
int cairn__account_crypto_init(void);

/* Hashes `password` with argon2id into `out` (crypto_pwhash_str). CAIRN_ENOMEM when the
 * memory limit cannot be allocated. */
int cairn__account_password_hash(char out[CAIRN_ACCOUNT_HASH_MAX], const char *password,
	cairn_password_cost cost);
/* 1 when `password` matches the stored argon2id `hash`, else 0. */
int cairn__account_password_verify(const char *hash, const char *password);
/* Hashes a dummy password so a login for an unknown email costs as much as a real one. */
void cairn__account_password_burn(const char *password, cairn_password_cost cost);

/* A new random session secret as lower-case hex (randombytes_buf). */
void cairn__account_secret_new(char out[CAIRN_ACCOUNT_SECRET_TEXT]);
/* SHA-256 of `secret` as lower-case hex: what storage keeps instead of the secret. */
void cairn__account_secret_hash(char out[CAIRN_ACCOUNT_HASH_TEXT], const char *secret);

/* The session token: standard base64 of {"id":user_id,"secret":secret}. malloc'd. */
char *cairn__account_token_encode(const char *user_id, const char *secret);
/* Splits a token into its user id and secret. CAIRN_EAUTH (with a message) when it is too
 * long, not base64, not that JSON object, or holds an invalid id or an empty or overlong
 * secret. */
int cairn__account_token_decode(const char *token, char user_id[CAIRN_ID_MAX + 1],
	char secret[CAIRN_ACCOUNT_TOKEN_MAX + 1]);

#endif
