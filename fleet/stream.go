package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed is wrapped by the errors for LAPI answers that do not
// parse; the last good decision set is kept.
var ErrMalformed = errors.New("malformed LAPI answer")

// wireDecision is one decision as the LAPI sends and takes it
// (models.Decision); a machine sends no ID.
type wireDecision struct {
	ID       int64  `json:"id,omitempty"`
	Duration string `json:"duration"`
	Origin   string `json:"origin"`
	Scenario string `json:"scenario"`
	Scope    string `json:"scope"`
	Type     string `json:"type"`
	Value    string `json:"value"`
}

// decodeStream reads a /v1/decisions/stream answer,
// {"new":[...]|null,"deleted":[...]|null}, one decision at a time so a
// startup answer of a million decisions is never held whole. fn sees a
// reused value: it copies what it keeps.
func decodeStream(r io.Reader, fn func(deleted bool, d *wireDecision)) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var w wireDecision
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		key, _ := tok.(string)
		if key != "new" && key != "deleted" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("%w: field %q: %v", ErrMalformed, key, err)
			}
			continue
		}
		tok, err = dec.Token()
		if err != nil {
			return fmt.Errorf("%w: field %q: %v", ErrMalformed, key, err)
		}
		if tok == nil {
			continue
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("%w: field %q is not a list", ErrMalformed, key)
		}
		for dec.More() {
			w = wireDecision{}
			if err := dec.Decode(&w); err != nil {
				return fmt.Errorf("%w: a decision in %q: %v", ErrMalformed, key, err)
			}
			fn(key == "deleted", &w)
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%w: end of %q: %v", ErrMalformed, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: end of answer: %v", ErrMalformed, err)
	}
	// Trailing bytes mean a truncated or doubled answer: refuse it whole.
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the answer", ErrMalformed)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: expected %q, got %v", ErrMalformed, want, tok)
	}
	return nil
}
