/*
 * Siaga serial frame protocol v1: reference codec (see siaga_frame.h).
 *
 * Checks run in the same order as the Python codec's strict parser, so both give
 * the same reason for the same bad line (firmware_bridge/vectors/frames.json):
 * too_long, bad_prefix ('$'), non_ascii / control_char, bad_crc, crc_mismatch,
 * bad_prefix ("SG"), bad_type, bad_node, bad_seq, then per field bad_field,
 * bad_key, duplicate_key, bad_value, then the frame type's rules.
 */
#include "siaga_frame.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const error_names[] = {
    "ok",           "too_long",     "non_ascii",     "control_char", "bad_crc",
    "crc_mismatch", "bad_prefix",   "bad_type",      "bad_node",     "bad_seq",
    "bad_field",    "bad_key",      "duplicate_key", "bad_value",    "missing_field",
    "no_terminator", "garbage",     "too_many_fields", "buffer_too_small",
};

const char *siaga_error_name(siaga_error_t err) {
    if ((unsigned)err < sizeof error_names / sizeof error_names[0]) {
        return error_names[err];
    }
    return "unknown";
}

uint16_t siaga_crc16_update(uint16_t crc, uint8_t byte) {
    uint8_t bit;
    /* unsigned arithmetic throughout: on AVR an int is 16 bits, and 0xFF << 8
       would overflow a signed one */
    crc ^= (uint16_t)((unsigned)byte << 8);
    for (bit = 0; bit < 8; bit++) {
        crc = (crc & 0x8000u) ? (uint16_t)(((unsigned)crc << 1) ^ 0x1021u)
                              : (uint16_t)((unsigned)crc << 1);
    }
    return crc;
}

uint16_t siaga_crc16(const uint8_t *data, size_t len) {
    uint16_t crc = 0xFFFFu;
    size_t i;
    for (i = 0; i < len; i++) {
        crc = siaga_crc16_update(crc, data[i]);
    }
    return crc;
}

/* ------------------------------------------------------------------ grammar */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }

static int is_node(const char *s, size_t len) {
    size_t i;
    if (len < 1 || len > 16) return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_')) return 0;
    }
    return 1;
}

static int is_key(const char *s, size_t len) {
    size_t i;
    if (len < 1 || len > 16 || !is_lower(s[0])) return 0;
    for (i = 1; i < len; i++) {
        if (!(is_lower(s[i]) || is_digit(s[i]) || s[i] == '_')) return 0;
    }
    return 1;
}

static int is_token(const char *s, size_t len) {
    size_t i;
    if (len < 1 || len > 32) return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!(is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_' || c == '|')) {
            return 0;
        }
    }
    return 1;
}

static size_t digits_at(const char *s, size_t i, size_t len) {
    size_t start = i;
    while (i < len && is_digit(s[i])) i++;
    return i - start;
}

/*
 * Classifies a value: SIAGA_VALUE_INT / _FLOAT / _TOKEN, or 0 when the grammar
 * forbids it. A float whose magnitude reaches 1e309 is refused (it cannot be a
 * double); the test is on the text, so it needs no libm and no double range.
 */
static int classify_value(const char *s, size_t len) {
    size_t i = 0, n, int_start, int_digits, frac_start = 0, frac_digits = 0;
    long exponent = 0;
    int exp_negative = 0, is_float = 0;
    if (i < len && s[i] == '-') i++;
    int_start = i;
    int_digits = digits_at(s, i, len);
    if (int_digits == 0) goto token;
    i += int_digits;
    if (i < len && s[i] == '.') {
        frac_start = i + 1;
        frac_digits = digits_at(s, frac_start, len);
        if (frac_digits == 0) goto token;
        i = frac_start + frac_digits;
        is_float = 1;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            exp_negative = s[i] == '-';
            i++;
        }
        n = digits_at(s, i, len);
        if (n == 0) goto token;
        for (; n > 0; n--, i++) {
            if (exponent < 100000L) exponent = exponent * 10 + (s[i] - '0');
        }
        if (exp_negative) exponent = -exponent;
        is_float = 1;
    }
    if (i != len) goto token;
    if (!is_float) return SIAGA_VALUE_INT;
    {
        /* decimal exponent of the leading significant digit */
        long lead;
        size_t k = int_start;
        while (k < int_start + int_digits && s[k] == '0') k++;
        if (k < int_start + int_digits) {
            lead = (long)(int_start + int_digits - k) - 1;
        } else {
            size_t z = frac_start;
            while (z < frac_start + frac_digits && s[z] == '0') z++;
            if (frac_digits == 0 || z == frac_start + frac_digits) return SIAGA_VALUE_FLOAT;
            lead = -(long)(z - frac_start) - 1;
        }
        if (lead + exponent > 308) return 0;
    }
    return SIAGA_VALUE_FLOAT;
token:
    return is_token(s, len) ? SIAGA_VALUE_TOKEN : 0;
}

/* An INT field's value, clamped to +-1000000: enough for every range the rules check. */
static long clamped_int(const char *s, size_t len) {
    size_t i = 0;
    long v = 0;
    int negative = 0;
    if (len > 0 && s[0] == '-') {
        negative = 1;
        i = 1;
    }
    for (; i < len; i++) {
        if (v < 1000000L) v = v * 10 + (s[i] - '0');
    }
    if (v > 1000000L) v = 1000000L;
    return negative ? -v : v;
}

static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ------------------------------------------------------------------ frame rules */

static int find_key(const siaga_frame_t *f, const char *key, size_t key_len) {
    int i;
    for (i = 0; i < f->field_count; i++) {
        const siaga_field_t *fld = &f->fields[i];
        if (fld->key_len == key_len && memcmp(f->line + fld->key_off, key, key_len) == 0) {
            return i;
        }
    }
    return -1;
}

int siaga_find_field(const siaga_frame_t *frame, const char *key) {
    return find_key(frame, key, strlen(key));
}

static long field_int(const siaga_frame_t *f, int i) {
    return clamped_int(f->line + f->fields[i].value_off, f->fields[i].value_len);
}

static siaga_error_t check_rules(const siaga_frame_t *f) {
    int i, has_channel = 0;
    switch (f->type) {
    case 'D':
        for (i = 0; i < f->field_count; i++) {
            const siaga_field_t *fld = &f->fields[i];
            if (fld->kind == SIAGA_VALUE_TOKEN) return SIAGA_ERR_BAD_VALUE;
            if (!(fld->key_len == 2 && memcmp(f->line + fld->key_off, "up", 2) == 0)) {
                has_channel = 1;
            }
        }
        return has_channel ? SIAGA_OK : SIAGA_ERR_MISSING_FIELD;
    case 'H':
        if (siaga_find_field(f, "fw") < 0 || siaga_find_field(f, "ch") < 0) {
            return SIAGA_ERR_MISSING_FIELD;
        }
        i = siaga_find_field(f, "int");
        if (i < 0) return SIAGA_ERR_MISSING_FIELD;
        if (f->fields[i].kind != SIAGA_VALUE_INT || field_int(f, i) < 1) return SIAGA_ERR_BAD_VALUE;
        return SIAGA_OK;
    case 'E':
        return siaga_find_field(f, "code") < 0 ? SIAGA_ERR_MISSING_FIELD : SIAGA_OK;
    case 'C':
        if (siaga_find_field(f, "cmd") < 0) return SIAGA_ERR_MISSING_FIELD;
        i = siaga_find_field(f, "v");
        if (i >= 0 && f->fields[i].kind == SIAGA_VALUE_TOKEN) return SIAGA_ERR_BAD_VALUE;
        return SIAGA_OK;
    default: { /* 'A' */
        int c = siaga_find_field(f, "cseq"), k = siaga_find_field(f, "ok");
        long v;
        if (c < 0 || k < 0) return SIAGA_ERR_MISSING_FIELD;
        v = field_int(f, c);
        if (f->fields[c].kind != SIAGA_VALUE_INT || v < 0 || v > 65535) return SIAGA_ERR_BAD_VALUE;
        v = field_int(f, k);
        if (f->fields[k].kind != SIAGA_VALUE_INT || (v != 0 && v != 1)) return SIAGA_ERR_BAD_VALUE;
        return SIAGA_OK;
    }
    }
}

/* ------------------------------------------------------------------ parse */

siaga_error_t siaga_parse_frame(const char *line, size_t len, siaga_frame_t *out) {
    size_t n = len, limit, i, body_end, start, end, part;
    uint16_t want = 0;
    out->line = line;
    out->field_count = 0;
    if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n') {
        n -= 2;
        limit = SIAGA_MAX_FRAME - 2;
    } else if (n >= 1 && line[n - 1] == '\n') {
        n -= 1;
        limit = SIAGA_MAX_FRAME - 1;
    } else if (n >= 1 && line[n - 1] == '\r') { /* CR LF whose LF was split off */
        n -= 1;
        limit = SIAGA_MAX_FRAME - 2;
    } else {
        limit = SIAGA_MAX_FRAME - 1;
    }
    if (n > limit) return SIAGA_ERR_TOO_LONG;
    if (n == 0 || line[0] != '$') return SIAGA_ERR_BAD_PREFIX;
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)line[i];
        if (c >= 0x80) return SIAGA_ERR_NON_ASCII;
        if (c < 0x20 || c == 0x7F) return SIAGA_ERR_CONTROL_CHAR;
    }
    if (n < 6 || line[n - 5] != '*') return SIAGA_ERR_BAD_CRC;
    for (i = n - 4; i < n; i++) {
        int h = hex_value(line[i]);
        if (h < 0) return SIAGA_ERR_BAD_CRC;
        want = (uint16_t)(((unsigned)want << 4) | (unsigned)h);
    }
    body_end = n - 5;
    if (siaga_crc16((const uint8_t *)line + 1, body_end - 1) != want) {
        return SIAGA_ERR_CRC_MISMATCH;
    }
    /* Walk the comma-separated parts of the body: SG, type, node, seq, fields. */
    start = 1;
    for (part = 0;; part++) {
        end = start;
        while (end < body_end && line[end] != ',') end++;
        if (part == 0) {
            if (end - start != 2 || line[start] != 'S' || line[start + 1] != 'G') {
                return SIAGA_ERR_BAD_PREFIX;
            }
        } else if (part == 1) {
            if (end - start != 1 || !strchr("DHECA", line[start])) return SIAGA_ERR_BAD_TYPE;
            out->type = line[start];
        } else if (part == 2) {
            if (!is_node(line + start, end - start)) return SIAGA_ERR_BAD_NODE;
            out->node_off = (uint8_t)start;
            out->node_len = (uint8_t)(end - start);
        } else if (part == 3) {
            long seq;
            if (end - start < 1 || end - start > 5 || digits_at(line, start, end) != end - start) {
                return SIAGA_ERR_BAD_SEQ;
            }
            seq = clamped_int(line + start, end - start);
            if (seq > 65535) return SIAGA_ERR_BAD_SEQ;
            out->seq = (uint16_t)seq;
        } else {
            size_t eq = start;
            int kind;
            siaga_field_t *fld;
            while (eq < end && line[eq] != '=') eq++;
            if (eq == end) return SIAGA_ERR_BAD_FIELD;
            if (!is_key(line + start, eq - start)) return SIAGA_ERR_BAD_KEY;
            if (find_key(out, line + start, eq - start) >= 0) return SIAGA_ERR_DUPLICATE_KEY;
            kind = classify_value(line + eq + 1, end - eq - 1);
            if (kind == 0) return SIAGA_ERR_BAD_VALUE;
            if (out->field_count >= SIAGA_MAX_FIELDS) return SIAGA_ERR_TOO_MANY_FIELDS;
            fld = &out->fields[out->field_count++];
            fld->key_off = (uint8_t)start;
            fld->key_len = (uint8_t)(eq - start);
            fld->value_off = (uint8_t)(eq + 1);
            fld->value_len = (uint8_t)(end - eq - 1);
            fld->kind = (uint8_t)kind;
        }
        if (end >= body_end) break;
        start = end + 1;
    }
    if (part < 1) return SIAGA_ERR_BAD_TYPE;
    if (part < 2) return SIAGA_ERR_BAD_NODE;
    if (part < 3) return SIAGA_ERR_BAD_SEQ;
    return check_rules(out);
}

int siaga_field_long(const siaga_frame_t *frame, int index, long *out) {
    const siaga_field_t *fld;
    const char *s;
    size_t i = 0;
    unsigned long v = 0, limit;
    int negative;
    if (index < 0 || index >= frame->field_count) return 0;
    fld = &frame->fields[index];
    if (fld->kind != SIAGA_VALUE_INT) return 0;
    s = frame->line + fld->value_off;
    negative = s[0] == '-';
    if (negative) i = 1;
    limit = negative ? (unsigned long)LONG_MAX + 1ul : (unsigned long)LONG_MAX;
    for (; i < fld->value_len; i++) {
        unsigned long d = (unsigned long)(s[i] - '0');
        if (v > (limit - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = negative ? (v == 0 ? 0 : -(long)(v - 1) - 1) : (long)v;
    return 1;
}

int siaga_field_double(const siaga_frame_t *frame, int index, double *out) {
    const siaga_field_t *fld;
    if (index < 0 || index >= frame->field_count) return 0;
    fld = &frame->fields[index];
    if (fld->kind == SIAGA_VALUE_TOKEN) return 0;
    /* The value is followed by ',' or '*', where strtod stops. */
    *out = strtod(frame->line + fld->value_off, NULL);
    return 1;
}

int siaga_field_equals(const siaga_frame_t *frame, int index, const char *text) {
    const siaga_field_t *fld;
    if (index < 0 || index >= frame->field_count) return 0;
    fld = &frame->fields[index];
    return strlen(text) == fld->value_len &&
           memcmp(frame->line + fld->value_off, text, fld->value_len) == 0;
}

int siaga_copy_text(const siaga_frame_t *frame, uint8_t off, uint8_t len, char *dst, size_t cap) {
    if ((size_t)len + 1 > cap) return 0;
    memcpy(dst, frame->line + off, len);
    dst[len] = '\0';
    return 1;
}

/* ------------------------------------------------------------------ streaming decoder */

enum { BETWEEN = 0, IN_FRAME = 1, SKIPPING = 2 };

void siaga_decoder_init(siaga_decoder_t *dec) {
    dec->len = 0;
    dec->state = BETWEEN;
    dec->garbage_visible = 0;
    dec->error = SIAGA_OK;
    dec->frame.field_count = 0;
}

static siaga_event_t fail(siaga_decoder_t *dec, siaga_error_t err) {
    dec->error = err;
    return SIAGA_ERROR;
}

/* A garbage line ended (LF or '$'): report it if it held more than blanks. */
static siaga_event_t end_garbage(siaga_decoder_t *dec) {
    int visible = dec->garbage_visible;
    dec->garbage_visible = 0;
    return visible ? fail(dec, SIAGA_ERR_GARBAGE) : SIAGA_NONE;
}

static siaga_event_t start_frame(siaga_decoder_t *dec) {
    dec->buf[0] = '$';
    dec->len = 1;
    dec->state = IN_FRAME;
    return SIAGA_NONE;
}

siaga_event_t siaga_decoder_push(siaga_decoder_t *dec, uint8_t byte) {
    siaga_error_t err;
    switch (dec->state) {
    case IN_FRAME:
        if (byte == '$') {
            start_frame(dec);
            return fail(dec, SIAGA_ERR_NO_TERMINATOR);
        }
        if (byte == '\n') {
            dec->state = BETWEEN;
            if (dec->len >= SIAGA_MAX_FRAME) return fail(dec, SIAGA_ERR_TOO_LONG);
            dec->buf[dec->len++] = '\n';
            err = siaga_parse_frame(dec->buf, dec->len, &dec->frame);
            return err == SIAGA_OK ? SIAGA_FRAME : fail(dec, err);
        }
        if (dec->len >= SIAGA_MAX_FRAME) {
            dec->state = SKIPPING;
            return fail(dec, SIAGA_ERR_TOO_LONG);
        }
        dec->buf[dec->len++] = (char)byte;
        return SIAGA_NONE;
    case SKIPPING:
        if (byte == '$') return start_frame(dec);
        if (byte == '\n') dec->state = BETWEEN;
        return SIAGA_NONE;
    default:
        if (byte == '$') {
            siaga_event_t ev = end_garbage(dec);
            start_frame(dec);
            return ev;
        }
        if (byte == '\n') return end_garbage(dec);
        if (byte != ' ' && byte != '\t' && byte != '\r') dec->garbage_visible = 1;
        return SIAGA_NONE;
    }
}

siaga_event_t siaga_decoder_flush(siaga_decoder_t *dec) {
    siaga_error_t err = SIAGA_OK;
    if (dec->state == IN_FRAME) {
        err = SIAGA_ERR_NO_TERMINATOR;
    } else if (dec->garbage_visible) {
        err = SIAGA_ERR_GARBAGE;
    }
    siaga_decoder_init(dec);
    return err == SIAGA_OK ? SIAGA_NONE : fail(dec, err);
}

/* ------------------------------------------------------------------ encoder */

/* Room for "*XXXX\r\n" is kept back; the line must end up within SIAGA_MAX_FRAME. */
#define TAIL_LEN 7

static void put(siaga_encoder_t *enc, const char *s, size_t n) {
    if (enc->error != SIAGA_OK) return;
    if (enc->len + n + TAIL_LEN > SIAGA_MAX_FRAME) {
        enc->error = SIAGA_ERR_TOO_LONG;
    } else if (enc->len + n + TAIL_LEN + 1 > enc->cap) {
        enc->error = SIAGA_ERR_BUFFER_TOO_SMALL;
    } else {
        memcpy(enc->buf + enc->len, s, n);
        enc->len += n;
    }
}

/* Writes an unsigned decimal into the end of tmp; returns where it starts. */
static char *format_unsigned(unsigned long v, char *tmp_end) {
    char *p = tmp_end;
    do {
        *--p = (char)('0' + (v % 10));
        v /= 10;
    } while (v != 0);
    return p;
}

static int begin_field(siaga_encoder_t *enc, const char *key) {
    size_t key_len = strlen(key);
    if (enc->error != SIAGA_OK) return 0;
    if (!is_key(key, key_len)) {
        enc->error = SIAGA_ERR_BAD_KEY;
        return 0;
    }
    put(enc, ",", 1);
    put(enc, key, key_len);
    put(enc, "=", 1);
    return enc->error == SIAGA_OK;
}

void siaga_encode_begin(siaga_encoder_t *enc, char *buf, size_t cap, char type,
                        const char *node, uint16_t seq) {
    char tmp[8], *digits;
    char head[4] = {'$', 'S', 'G', ','};
    enc->buf = buf;
    enc->cap = cap;
    enc->len = 0;
    enc->error = SIAGA_OK;
    if (type == '\0' || !strchr("DHECA", type)) {
        enc->error = SIAGA_ERR_BAD_TYPE;
        return;
    }
    if (!is_node(node, strlen(node))) {
        enc->error = SIAGA_ERR_BAD_NODE;
        return;
    }
    put(enc, head, 4);
    put(enc, &type, 1);
    put(enc, ",", 1);
    put(enc, node, strlen(node));
    put(enc, ",", 1);
    digits = format_unsigned(seq, tmp + sizeof tmp);
    put(enc, digits, (size_t)(tmp + sizeof tmp - digits));
}

void siaga_encode_uint(siaga_encoder_t *enc, const char *key, unsigned long value) {
    char tmp[24], *digits;
    if (!begin_field(enc, key)) return;
    digits = format_unsigned(value, tmp + sizeof tmp);
    put(enc, digits, (size_t)(tmp + sizeof tmp - digits));
}

void siaga_encode_int(siaga_encoder_t *enc, const char *key, long value) {
    char tmp[24], *digits;
    unsigned long magnitude = value < 0 ? 0ul - (unsigned long)value : (unsigned long)value;
    if (!begin_field(enc, key)) return;
    digits = format_unsigned(magnitude, tmp + sizeof tmp);
    if (value < 0) *--digits = '-';
    put(enc, digits, (size_t)(tmp + sizeof tmp - digits));
}

void siaga_encode_fixed(siaga_encoder_t *enc, const char *key, long scaled, uint8_t decimals) {
    char tmp[32], *p = tmp + sizeof tmp;
    unsigned long magnitude = scaled < 0 ? 0ul - (unsigned long)scaled : (unsigned long)scaled;
    uint8_t d;
    if (!begin_field(enc, key)) return;
    if (decimals > 9) {
        enc->error = SIAGA_ERR_BAD_VALUE;
        return;
    }
    for (d = 0; d < decimals; d++) {
        *--p = (char)('0' + (magnitude % 10));
        magnitude /= 10;
    }
    if (decimals > 0) *--p = '.';
    p = format_unsigned(magnitude, p);
    if (scaled < 0) *--p = '-';
    put(enc, p, (size_t)(tmp + sizeof tmp - p));
}

void siaga_encode_float(siaga_encoder_t *enc, const char *key, double value, uint8_t decimals) {
    double scaled = value;
    uint8_t d;
    if (enc->error != SIAGA_OK) return;
    if (decimals > 9 || isnan(value) || isinf(value)) {
        enc->error = SIAGA_ERR_BAD_VALUE;
        return;
    }
    for (d = 0; d < decimals; d++) scaled *= 10.0;
    scaled += scaled < 0 ? -0.5 : 0.5;
    if (scaled >= (double)LONG_MAX || scaled <= (double)LONG_MIN) {
        enc->error = SIAGA_ERR_BAD_VALUE;
        return;
    }
    siaga_encode_fixed(enc, key, (long)scaled, decimals);
}

void siaga_encode_text(siaga_encoder_t *enc, const char *key, const char *text) {
    size_t len = strlen(text);
    if (!begin_field(enc, key)) return;
    if (classify_value(text, len) == 0) {
        enc->error = SIAGA_ERR_BAD_VALUE;
        return;
    }
    put(enc, text, len);
}

size_t siaga_encode_end(siaga_encoder_t *enc) {
    static const char hex[] = "0123456789ABCDEF";
    siaga_frame_t check;
    uint16_t crc;
    char tail[TAIL_LEN];
    if (enc->error != SIAGA_OK) return 0;
    crc = siaga_crc16((const uint8_t *)enc->buf + 1, enc->len - 1);
    tail[0] = '*';
    tail[1] = hex[(crc >> 12) & 0xF];
    tail[2] = hex[(crc >> 8) & 0xF];
    tail[3] = hex[(crc >> 4) & 0xF];
    tail[4] = hex[crc & 0xF];
    tail[5] = '\r';
    tail[6] = '\n';
    memcpy(enc->buf + enc->len, tail, TAIL_LEN); /* put() kept this room */
    enc->len += TAIL_LEN;
    enc->buf[enc->len] = '\0';
    enc->error = siaga_parse_frame(enc->buf, enc->len, &check);
    return enc->error == SIAGA_OK ? enc->len : 0;
}
