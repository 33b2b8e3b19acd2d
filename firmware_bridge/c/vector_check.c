/*
 * Test driver for siaga_frame.c; the Python tests build and run it
 * (tests/unit/firmware_bridge/test_c_codec.py) and compare its answers with
 * firmware_bridge/vectors/frames.json.
 *
 *   vector_check parse    stdin: one hex-encoded line per vector. For each, prints
 *                         "OK <type> <node> <seq> <key>=<kind>:<value> ..." or
 *                         "ERR <reason>", then the line re-encoded from the parsed
 *                         fields: "ENC <hex>", "ENCERR <reason>" or "-".
 *   vector_check stream   stdin: raw bytes, pushed one at a time; prints
 *                         "FRAME <type> <node> <seq>" or "ERROR <reason>" per event,
 *                         including what flush gives at the end.
 *   vector_check api      exercises the encoder and field helpers; prints one result
 *                         per line.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "siaga_frame.h"

#define MAX_LINE 2048

static int hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void print_hex(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) printf("%02x", (unsigned)(unsigned char)s[i]);
}

static void print_text(const char *s, size_t n) { fwrite(s, 1, n, stdout); }

static void reencode(const siaga_frame_t *f) {
    char out[SIAGA_FRAME_BUFFER], node[17], key[17], value[SIAGA_FRAME_BUFFER];
    siaga_encoder_t enc;
    size_t n;
    int i;
    siaga_copy_text(f, f->node_off, f->node_len, node, sizeof node);
    siaga_encode_begin(&enc, out, sizeof out, f->type, node, f->seq);
    for (i = 0; i < f->field_count; i++) {
        const siaga_field_t *fld = &f->fields[i];
        siaga_copy_text(f, fld->key_off, fld->key_len, key, sizeof key);
        siaga_copy_text(f, fld->value_off, fld->value_len, value, sizeof value);
        siaga_encode_text(&enc, key, value);
    }
    n = siaga_encode_end(&enc);
    if (n == 0) {
        printf("ENCERR %s\n", siaga_error_name(enc.error));
        return;
    }
    printf("ENC ");
    print_hex(out, n);
    printf("\n");
}

static int run_parse(void) {
    static char hex[MAX_LINE * 2 + 4];
    static char raw[MAX_LINE];
    siaga_frame_t f;
    while (fgets(hex, sizeof hex, stdin)) {
        size_t n = 0, i;
        siaga_error_t err;
        for (i = 0; hex_digit(hex[i]) >= 0 && hex_digit(hex[i + 1]) >= 0; i += 2) {
            raw[n++] = (char)(hex_digit(hex[i]) * 16 + hex_digit(hex[i + 1]));
        }
        err = siaga_parse_frame(raw, n, &f);
        if (err != SIAGA_OK) {
            printf("ERR %s\n-\n", siaga_error_name(err));
            continue;
        }
        printf("OK %c ", f.type);
        print_text(f.line + f.node_off, f.node_len);
        printf(" %u", (unsigned)f.seq);
        for (i = 0; i < f.field_count; i++) {
            const siaga_field_t *fld = &f.fields[i];
            printf(" ");
            print_text(f.line + fld->key_off, fld->key_len);
            printf("=%c:", fld->kind);
            print_text(f.line + fld->value_off, fld->value_len);
        }
        printf("\n");
        reencode(&f);
    }
    return 0;
}

static void print_event(siaga_decoder_t *dec, siaga_event_t ev) {
    if (ev == SIAGA_FRAME) {
        printf("FRAME %c ", dec->frame.type);
        print_text(dec->frame.line + dec->frame.node_off, dec->frame.node_len);
        printf(" %u\n", (unsigned)dec->frame.seq);
    } else if (ev == SIAGA_ERROR) {
        printf("ERROR %s\n", siaga_error_name(dec->error));
    }
}

static int run_stream(void) {
    static siaga_decoder_t dec;
    int c;
    siaga_decoder_init(&dec);
    while ((c = getchar()) != EOF) {
        print_event(&dec, siaga_decoder_push(&dec, (uint8_t)c));
    }
    print_event(&dec, siaga_decoder_flush(&dec));
    return 0;
}

static void show(const char *label, siaga_encoder_t *enc, size_t n) {
    if (n == 0) {
        printf("%s error %s\n", label, siaga_error_name(enc->error));
    } else {
        printf("%s ", label);
        print_text(enc->buf, n - 2); /* without CR LF */
        printf("\n");
    }
}

static int run_api(void) {
    char buf[SIAGA_FRAME_BUFFER], small[20];
    siaga_encoder_t enc;
    siaga_frame_t f;
    long v = 0;
    double d = 0;
    int i, ok_long, ok_double;
    size_t n;
    printf("crc %04X\n", (unsigned)siaga_crc16((const uint8_t *)"123456789", 9));

    siaga_encode_begin(&enc, buf, sizeof buf, 'D', "slope-07", 1);
    siaga_encode_fixed(&enc, "vwc", 315, 1);
    siaga_encode_uint(&enc, "rain", 4294967295ul);
    siaga_encode_float(&enc, "batt", 3.92, 2);
    siaga_encode_fixed(&enc, "temp", -5, 2);
    siaga_encode_int(&enc, "rssi", -97);
    siaga_encode_float(&enc, "tilt", -0.004, 2);
    siaga_encode_uint(&enc, "up", 60211ul);
    show("data", &enc, siaga_encode_end(&enc));

    siaga_encode_begin(&enc, buf, sizeof buf, 'H', "slope-07", 0);
    siaga_encode_text(&enc, "fw", "1.4.2");
    siaga_encode_text(&enc, "ch", "vwc|rain|batt");
    siaga_encode_int(&enc, "int", 60);
    show("hello", &enc, siaga_encode_end(&enc));

    siaga_encode_begin(&enc, buf, sizeof buf, 'D', "bad.node", 1);
    show("bad_node", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'X', "n", 1);
    show("bad_type", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'D', "n", 1);
    siaga_encode_int(&enc, "Vwc", 1);
    show("bad_key", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'D', "n", 1);
    siaga_encode_float(&enc, "vwc", NAN, 1);
    show("nan", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'E', "n", 1);
    siaga_encode_text(&enc, "code", "a,b");
    show("bad_token", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'D', "n", 1);
    siaga_encode_int(&enc, "vwc", 1);
    siaga_encode_int(&enc, "vwc", 2);
    show("duplicate", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'H', "n", 1);
    siaga_encode_text(&enc, "fw", "1.0");
    show("missing", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, buf, sizeof buf, 'D', "n", 1);
    for (i = 0; i < 40; i++) siaga_encode_uint(&enc, "abcdefghijklmnop", 1234567ul);
    show("too_long", &enc, siaga_encode_end(&enc));
    siaga_encode_begin(&enc, small, sizeof small, 'D', "slope-07", 1);
    siaga_encode_int(&enc, "vwc", 1);
    show("small_buffer", &enc, siaga_encode_end(&enc));

    siaga_encode_begin(&enc, buf, sizeof buf, 'C', "slope-07", 12);
    siaga_encode_text(&enc, "cmd", "interval");
    siaga_encode_int(&enc, "v", 30);
    n = siaga_encode_end(&enc);
    printf("parse %s\n", siaga_error_name(siaga_parse_frame(buf, n, &f)));
    i = siaga_find_field(&f, "cmd");
    printf("cmd %d %d %d\n", i, siaga_field_equals(&f, i, "interval"),
           siaga_field_equals(&f, i, "ping"));
    i = siaga_find_field(&f, "v");
    ok_long = siaga_field_long(&f, i, &v);
    ok_double = siaga_field_double(&f, i, &d);
    printf("v %d %d %ld %d %.1f\n", i, ok_long, v, ok_double, d);
    printf("missing %d %d\n", siaga_find_field(&f, "nope"), siaga_field_long(&f, -1, &v));
    printf("token_as_long %d\n", siaga_field_long(&f, siaga_find_field(&f, "cmd"), &v));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "parse") == 0) return run_parse();
    if (argc == 2 && strcmp(argv[1], "stream") == 0) return run_stream();
    if (argc == 2 && strcmp(argv[1], "api") == 0) return run_api();
    fprintf(stderr, "usage: vector_check parse|stream|api\n");
    return 2;
}
