/*
 * Siaga serial frame protocol v1: reference codec for node firmware (C99).
 *
 * No malloc, no printf, no global state: every buffer is the caller's. Builds on
 * Arduino (AVR, ESP32), STM32 and desktop gcc alike. The protocol is in
 * firmware_bridge/PROTOCOL.md; docs/protocol.md shows a whole node sketch.
 *
 * Sending (node -> gateway):
 *
 *     char line[SIAGA_FRAME_BUFFER];
 *     siaga_encoder_t enc;
 *     siaga_encode_begin(&enc, line, sizeof line, 'D', "slope-07", seq++);
 *     siaga_encode_fixed(&enc, "vwc", 315, 1);          -> vwc=31.5
 *     siaga_encode_uint(&enc, "rain", tips);            -> rain=1042
 *     siaga_encode_float(&enc, "batt", 3.92, 2);        -> batt=3.92
 *     size_t n = siaga_encode_end(&enc);                0 on error: enc.error
 *     if (n) Serial.write((const uint8_t *)line, n);
 *
 * siaga_encode_end checks the finished line with the same parser the gateway's
 * rules follow, so a node never sends a frame the gateway would refuse.
 *
 * Receiving (gateway -> node: C frames), one byte at a time from the UART:
 *
 *     static siaga_decoder_t dec;                       siaga_decoder_init(&dec) once
 *     if (siaga_decoder_push(&dec, Serial.read()) == SIAGA_FRAME) {
 *         const siaga_frame_t *f = &dec.frame;          valid until the next push
 *         int i = siaga_find_field(f, "cmd");
 *         ...
 *     }
 *
 * Error codes are an enum; siaga_error_name() gives the same snake_case names the
 * Python codec uses (firmware_bridge.codec.FRAME_ERROR_REASONS), plus two of its
 * own: too_many_fields (a frame with more than SIAGA_MAX_FIELDS fields) and
 * buffer_too_small (encoder). Numbers between DBL_MAX and 1e309 are accepted
 * here and refused by the Python codec; nothing else differs.
 */
#ifndef SIAGA_FRAME_H
#define SIAGA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIAGA_MAX_FRAME 250     /* '$' to LF inclusive */
#define SIAGA_FRAME_BUFFER 251  /* a frame and a NUL */
#ifndef SIAGA_MAX_FIELDS
#define SIAGA_MAX_FIELDS 16     /* fields kept per parsed frame; 5 bytes of RAM each */
#endif

typedef enum {
    SIAGA_OK = 0,
    SIAGA_ERR_TOO_LONG,
    SIAGA_ERR_NON_ASCII,
    SIAGA_ERR_CONTROL_CHAR,
    SIAGA_ERR_BAD_CRC,
    SIAGA_ERR_CRC_MISMATCH,
    SIAGA_ERR_BAD_PREFIX,
    SIAGA_ERR_BAD_TYPE,
    SIAGA_ERR_BAD_NODE,
    SIAGA_ERR_BAD_SEQ,
    SIAGA_ERR_BAD_FIELD,
    SIAGA_ERR_BAD_KEY,
    SIAGA_ERR_DUPLICATE_KEY,
    SIAGA_ERR_BAD_VALUE,
    SIAGA_ERR_MISSING_FIELD,
    SIAGA_ERR_NO_TERMINATOR,
    SIAGA_ERR_GARBAGE,
    SIAGA_ERR_TOO_MANY_FIELDS,
    SIAGA_ERR_BUFFER_TOO_SMALL
} siaga_error_t;

/* "ok", "too_long", "crc_mismatch", ... ; "unknown" for a value outside the enum. */
const char *siaga_error_name(siaga_error_t err);

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor. */
uint16_t siaga_crc16(const uint8_t *data, size_t len);
uint16_t siaga_crc16_update(uint16_t crc, uint8_t byte);

/* ------------------------------------------------------------------ parsed frame */

typedef enum {
    SIAGA_VALUE_INT = 'i',    /* -?DIGITS                      */
    SIAGA_VALUE_FLOAT = 'f',  /* a number with '.' or exponent */
    SIAGA_VALUE_TOKEN = 't'   /* anything else the grammar allows */
} siaga_value_kind_t;

/* Offsets into siaga_frame_t.line: no copies. */
typedef struct {
    uint8_t key_off, key_len;
    uint8_t value_off, value_len;
    uint8_t kind; /* siaga_value_kind_t */
} siaga_field_t;

typedef struct {
    const char *line; /* the frame's bytes, as given to siaga_parse_frame */
    char type;        /* 'D', 'H', 'E', 'C' or 'A' */
    uint8_t node_off, node_len;
    uint16_t seq;
    uint8_t field_count;
    siaga_field_t fields[SIAGA_MAX_FIELDS];
} siaga_frame_t;

/* Parses one line ('$' .. '*CRC', then CR LF, LF, CR or nothing). */
siaga_error_t siaga_parse_frame(const char *line, size_t len, siaga_frame_t *out);

/* Index of the field with this key, or -1. */
int siaga_find_field(const siaga_frame_t *frame, const char *key);
/* 1 and *out set when the field is an integer that fits a long, else 0. */
int siaga_field_long(const siaga_frame_t *frame, int index, long *out);
/* 1 and *out set when the field is a number (int or float), else 0. */
int siaga_field_double(const siaga_frame_t *frame, int index, double *out);
/* 1 when the field's value is exactly this text (e.g. cmd == "reboot"). */
int siaga_field_equals(const siaga_frame_t *frame, int index, const char *text);
/* Copies node, a key or a value (off, len from the frame) as a C string; 0 if cap is short. */
int siaga_copy_text(const siaga_frame_t *frame, uint8_t off, uint8_t len, char *dst, size_t cap);

/* ------------------------------------------------------------------ streaming decoder */

typedef enum { SIAGA_NONE = 0, SIAGA_FRAME, SIAGA_ERROR } siaga_event_t;

/*
 * Feed every received byte. Returns SIAGA_FRAME (dec.frame is valid until the next
 * push), SIAGA_ERROR (dec.error says why) or SIAGA_NONE. Never stalls: a '$' inside
 * a frame ends it (no_terminator) and starts a new one; a frame over 250 bytes is
 * dropped (too_long, once) and the rest of its line skipped; each line of bytes
 * between frames that holds more than blanks is reported once as garbage.
 */
typedef struct {
    char buf[SIAGA_MAX_FRAME];
    uint8_t len;
    uint8_t state;
    uint8_t garbage_visible;
    siaga_error_t error;
    siaga_frame_t frame;
} siaga_decoder_t;

void siaga_decoder_init(siaga_decoder_t *dec);
siaga_event_t siaga_decoder_push(siaga_decoder_t *dec, uint8_t byte);
/* End of stream: reports a half-read frame (no_terminator) or garbage, then resets. */
siaga_event_t siaga_decoder_flush(siaga_decoder_t *dec);

/* ------------------------------------------------------------------ encoder */

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    siaga_error_t error; /* first error; later calls do nothing */
} siaga_encoder_t;

/* buf should hold SIAGA_FRAME_BUFFER bytes; the finished line is NUL-terminated. */
void siaga_encode_begin(siaga_encoder_t *enc, char *buf, size_t cap, char type,
                        const char *node, uint16_t seq);
void siaga_encode_int(siaga_encoder_t *enc, const char *key, long value);
void siaga_encode_uint(siaga_encoder_t *enc, const char *key, unsigned long value);
/* scaled / 10^decimals, e.g. (315, 1) -> 31.5, (-5, 2) -> -0.05; decimals <= 9. */
void siaga_encode_fixed(siaga_encoder_t *enc, const char *key, long scaled, uint8_t decimals);
/* value rounded to decimals places (no printf needed); NaN, inf or overflow -> bad_value. */
void siaga_encode_float(siaga_encoder_t *enc, const char *key, double value, uint8_t decimals);
/* A token (fw=1.4.2, ch=vwc|rain) or a number already written as text. */
void siaga_encode_text(siaga_encoder_t *enc, const char *key, const char *text);
/* Appends *CRC CR LF and checks the line; returns its length, or 0 (see enc->error). */
size_t siaga_encode_end(siaga_encoder_t *enc);

#ifdef __cplusplus
}
#endif

#endif /* SIAGA_FRAME_H */
