package conf

import (
	"bytes"
	"encoding"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"unicode/utf8"
)

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// WriteTOML writes the effective config as TOML: every section and every key
// in the order of the defaults, so `config show` output can be diffed
// against `config defaults` and loads back to the same Config.
func (c *Config) WriteTOML(w io.Writer) error {
	var b bytes.Buffer
	rv := reflect.ValueOf(c).Elem()
	for i, sec := range schema {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", sec.name)
		srv := rv.Field(sec.index)
		for _, f := range sec.keys {
			b.WriteString(f.name + " = ")
			if err := writeValue(&b, srv.Field(f.index)); err != nil {
				return fmt.Errorf("write config: %s.%s: %w", sec.name, f.name, err)
			}
			b.WriteByte('\n')
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func writeValue(b *bytes.Buffer, v reflect.Value) error {
	if v.Type().Implements(textMarshaler) {
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return err
		}
		writeString(b, string(text))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		writeString(b, v.String())
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Slice:
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeValue(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// writeString writes s as a TOML basic string. TOML has no \x escape, so
// control characters use \u; invalid UTF-8 cannot come from a TOML file.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				fmt.Fprintf(b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
