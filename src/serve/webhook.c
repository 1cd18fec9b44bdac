/* webhook.c — JSON POSTs with libcurl's easy interface (see webhook.h). */
#include "serve/webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_ANSWER (64 << 10)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

kstatus kwebhook_init(kerr *e)
{
    pthread_once(&once, global_init);
    return init_rc == CURLE_OK ? K_OK
                               : kerr_set(e, K_IO, "libcurl: %s", curl_easy_strerror(init_rc));
}

static size_t drop(char *p, size_t size, size_t n, void *ctx)
{
    size_t *seen = ctx;
    *seen += size * n;
    return *seen > MAX_ANSWER ? 0 : size * n; /* 0 stops the transfer */
}

/* The URL as messages may show it: scheme, host and path, without userinfo or query. */
static void safe_url(const char *url, char *out, size_t size)
{
    const char *sep = strstr(url, "://");
    size_t scheme = sep ? (size_t)(sep - url) + 3 : 0;
    const char *host = url + scheme;
    const char *at = memchr(host, '@', strcspn(host, "/?#"));
    if (at) host = at + 1;
    snprintf(out, size, "%.*s%.*s", (int)scheme, url, (int)strcspn(host, "?#"), host);
}

kstatus kwebhook_post(const char *url, const char *body, size_t len, double timeout_s, int *status,
                      kerr *e)
{
    *status = 0;
    char shown[300];
    safe_url(url, shown, sizeof shown);
    CURL *h = curl_easy_init();
    if (!h) return kerr_set(e, K_NOMEM, "webhook %s: cannot start a transfer", shown);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    size_t seen = 0;
    long ms = (long)(timeout_s * 1000);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kiln-alerts");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, drop);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &seen);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    *status = (int)code;
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code >= 200 && code < 300))
        return kerr_set(e, K_IO, "webhook %s: %s", shown, curl_easy_strerror(rc));
    if (code < 200 || code > 299) return kerr_set(e, K_IO, "webhook %s answered %ld", shown, code);
    return K_OK;
}
