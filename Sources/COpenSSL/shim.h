#ifndef PLAINSIGHT_COPENSSL_SHIM_H
#define PLAINSIGHT_COPENSSL_SHIM_H
/* The system's OpenSSL (Debian's libssl-dev), for syslog over TLS (RFC 5425). Swift cannot call
 * OpenSSL's macros (they expand to SSL_ctrl / SSL_CTX_ctrl with magic numbers), so the few that
 * tls:// targets use get a function each here. */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* SNI: the name the collector may pick its certificate by. */
static inline int plainsight_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/* TLS 1.2 at least (RFC 5425 asks for 1.2 or later since RFC 9662). */
static inline int plainsight_ctx_require_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/* A write may take part of a frame (the rest follows when the socket drains), and a retried
 * write may come from a buffer that has moved (Swift arrays do). */
static inline void plainsight_ctx_set_write_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

#endif
