// Package validate checks and normalises the fields people type into
// Countersign's forms and API (requirement C11).
//
// Each rule appends one FieldError per violation instead of stopping at the
// first, so a form can show every problem next to its field at once. Codes
// are stable for clients: required, too_long, invalid_chars, invalid_format,
// invalid_length, invalid_date, not_in_past and too_old. Messages tell the
// person what to do and never repeat the value, so a mistyped SSN or code
// does not end up in logs or responses.
package validate
