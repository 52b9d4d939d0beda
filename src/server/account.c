/* account.c: account secrets with libsodium: password hashing, session secrets and their
 * hashes, and the base64 session token Appwrite clients carry. */
#include "server/account.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "util/error.h"
#include "util/id.h"
#include "util/json.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ready;

static void sodium_start(void)
{
	sodium_ready = sodium_init() >= 0;
}

int cairn__account_crypto_init(void)
{
	pthread_once(&sodium_once, sodium_start);
	return sodium_ready ? 0 : cairn__error_set(CAIRN_ERROR, "libsodium failed to initialise");
}

static void cost_limits(cairn_password_cost cost, unsigned long long *ops, size_t *mem)
{
	if (cost == CAIRN_PASSWORD_COST_MIN) {
		*ops = crypto_pwhash_OPSLIMIT_MIN;
		*mem = crypto_pwhash_MEMLIMIT_MIN;
	} else {
		*ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		*mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	}
}

int cairn__account_password_hash(char out[CAIRN_ACCOUNT_HASH_MAX], const char *password,
	cairn_password_cost cost)
{
	unsigned long long ops;
	size_t mem;
	int rc = cairn__account_crypto_init();

	if (rc < 0)
		return rc;
	cost_limits(cost, &ops, &mem);
	/* crypto_pwhash_str always uses argon2id in libsodium >= 1.0.15. */
	if (crypto_pwhash_str(out, password, strlen(password), ops, mem) != 0)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory hashing a password");
	return 0;
}

int cairn__account_password_verify(const char *hash, const char *password)
{
	if (cairn__account_crypto_init() < 0 || !hash || !password)
		return 0;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void cairn__account_password_burn(const char *password, cairn_password_cost cost)
{
	char hash[CAIRN_ACCOUNT_HASH_MAX];

	(void)cairn__account_password_hash(hash, password ? password : "", cost);
}

static void to_hex(char *out, const unsigned char *bytes, size_t count)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < count; i++) {
		out[i * 2] = digits[bytes[i] >> 4];
		out[i * 2 + 1] = digits[bytes[i] & 15];
	}
	out[count * 2] = '\0';
}

void cairn__account_secret_new(char out[CAIRN_ACCOUNT_SECRET_TEXT])
{
	unsigned char bytes[CAIRN_ACCOUNT_SECRET_BYTES];

	(void)cairn__account_crypto_init(); /* randombytes_buf works (and aborts) regardless */
	randombytes_buf(bytes, sizeof(bytes));
	to_hex(out, bytes, sizeof(bytes));
	sodium_memzero(bytes, sizeof(bytes));
}

void cairn__account_secret_hash(char out[CAIRN_ACCOUNT_HASH_TEXT], const char *secret)
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, (const unsigned char *)secret, strlen(secret));
	to_hex(out, digest, sizeof(digest));
}

char *cairn__account_token_encode(const char *user_id, const char *secret)
{
	json_object *object = json_object_new_object();
	char *text = NULL;
	char *token = NULL;
	size_t size;

	if (!object)
		goto cleanup;
	json_object_object_add(object, "id", json_object_new_string(user_id));
	json_object_object_add(object, "secret", json_object_new_string(secret));
	text = cairn__json_dump(object);
	if (!text)
		goto cleanup;
	size = sodium_base64_ENCODED_LEN(strlen(text), sodium_base64_VARIANT_ORIGINAL);
	token = malloc(size);
	if (token)
		sodium_bin2base64(token, size, (const unsigned char *)text, strlen(text),
			sodium_base64_VARIANT_ORIGINAL);
cleanup:
	if (!token)
		cairn__error_set(CAIRN_ENOMEM, "out of memory making a session token");
	if (text)
		sodium_memzero(text, strlen(text));
	free(text);
	json_object_put(object);
	return token;
}

/* Decodes standard base64, with or without padding. Returns the length or -1. */
static long base64_decode(unsigned char *out, size_t out_size, const char *text)
{
	size_t length = 0;
	size_t text_length = strlen(text);

	if (sodium_base642bin(out, out_size, text, text_length, NULL, &length, NULL,
		sodium_base64_VARIANT_ORIGINAL) == 0)
		return (long)length;
	if (sodium_base642bin(out, out_size, text, text_length, NULL, &length, NULL,
		sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
		return (long)length;
	return -1;
}

int cairn__account_token_decode(const char *token, char user_id[CAIRN_ID_MAX + 1],
	char secret[CAIRN_ACCOUNT_TOKEN_MAX + 1])
{
	unsigned char decoded[CAIRN_ACCOUNT_TOKEN_MAX];
	json_object *object = NULL;
	const char *id = NULL;
	const char *value = NULL;
	long length;
	int rc = CAIRN_EAUTH;

	user_id[0] = '\0';
	secret[0] = '\0';
	if (cairn__account_crypto_init() < 0)
		return CAIRN_ERROR;
	if (strlen(token) > CAIRN_ACCOUNT_TOKEN_MAX)
		return cairn__error_set(CAIRN_EAUTH, "the session token is too long");
	length = base64_decode(decoded, sizeof(decoded), token);
	if (length <= 0)
		return cairn__error_set(CAIRN_EAUTH, "the session token is not base64");
	object = cairn__json_parse_object((const char *)decoded, (size_t)length, 2);
	if (!object || !cairn__json_get_string(object, "id", &id) ||
		!cairn__json_get_string(object, "secret", &value)) {
		cairn__error_set(CAIRN_EAUTH, "the session token is not {\"id\",\"secret\"}");
		goto cleanup;
	}
	if (!cairn__id_valid(id) || !value[0] || strlen(value) > CAIRN_ACCOUNT_TOKEN_MAX) {
		cairn__error_set(CAIRN_EAUTH, "the session token holds an invalid id or secret");
		goto cleanup;
	}
	strcpy(user_id, id);
	strcpy(secret, value);
	rc = 0;
cleanup:
	json_object_put(object);
	sodium_memzero(decoded, sizeof(decoded));
	return rc;
}
